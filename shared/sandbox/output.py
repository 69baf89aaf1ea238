"""What a worker's libraries print, bounded per job.

libtiff, libjpeg and friends write warnings straight to fd 2 (a damaged TIFF wrote 130,000 lines,
13 MB, for one file), and a library may print to fd 1 (pointed at fd 2 by ``worker.main``).  The
worker's stderr is the host's, i.e. the Functions log stream: during a job both fds go to a spill
file instead, and afterwards at most ``MAX_OUTPUT_BYTES`` of it are passed on, with a line saying
how much was dropped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

#: Output of one job passed on to the worker's stderr.
MAX_OUTPUT_BYTES = 64 * 1024


@contextmanager
def bounded_output(spill: IO[bytes], keep: int = MAX_OUTPUT_BYTES) -> Iterator[None]:
    """fds 1 and 2 go to ``spill`` for the block; then its first ``keep`` bytes go to fd 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    spill.seek(0)
    spill.truncate()
    os.dup2(spill.fileno(), 2)
    os.dup2(spill.fileno(), 1)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.dup2(saved, 1)
        os.close(saved)
        size = spill.seek(0, os.SEEK_END)
        spill.seek(0)
        _write_all(spill.read(keep))
        if size > keep:
            _write_all(f"\n[worker: {size - keep:,} more bytes of decoder output dropped]\n".encode())
        spill.seek(0)
        spill.truncate()


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(2, view) :]
