"""Starting a worker process: the command, its environment, and the ``Popen`` itself.

Standard library only, and importable without the rest of the sandbox (``shared.sandbox`` loads
its pool lazily): a command that knows it will decode starts its worker here before it imports
Pillow and the pipeline, so the worker's own start-up (an interpreter and the image stage's
imports, about 0.1 s) runs while the host is still importing instead of after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Sequence

WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "shared.sandbox.worker")

#: The worker's environment: the host's, with glibc's malloc held to two arenas.  Each arena
#: reserves 64 MiB of address space, which counts against ``RLIMIT_AS`` even untouched; a decoder
#: that starts threads (AVIF, HEIF) would otherwise spend the grant on reservations.  numpy's
#: OpenBLAS starts one thread per core with a 32 MiB+ buffer each when numpy is imported (the first
#: JPEG, EXR or float TIFF a worker decodes), inside the grant; one thread is all it needs here.
WORKER_ENV = {**os.environ, "MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1"}

#: Capacity asked for each pipe (Linux's default is 64 KiB; 1 MiB is the default ceiling for an
#: unprivileged process, ``/proc/sys/fs/pipe-max-size``).  A 40 MB PNG crosses in 40 writes
#: instead of 640, each a wake-up of the other side: its probe took 40-43 ms instead of 55-81 ms
#: (median of 15, four runs, load 2.0-2.3).
PIPE_BYTES = 1024 * 1024


def start_worker(command: Sequence[str] = WORKER_COMMAND) -> subprocess.Popen[bytes]:
    """A worker process with pipes on its stdin and stdout; it says it is ready once it has imported
    everything (``shared.sandbox.pool.Worker.wait_ready``).

    A process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group) is for the
    parent, which closes its workers; the workers end when their stdin closes.
    """
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
        env=WORKER_ENV,
        process_group=0,
    )
    for pipe in (process.stdin, process.stdout):
        assert pipe is not None
        with contextlib.suppress(OSError):  # a lower ceiling here: the default capacity still works
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return process
