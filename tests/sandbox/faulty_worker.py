"""A worker with extra operations that misbehave on purpose, for the sandbox's own tests:
``sleep`` (hangs), ``crash`` (dies by SIGSEGV), ``allocate`` (asks for ``n`` bytes), ``exit``,
``print`` (writes to stdout), ``noisy`` (writes ``lines`` warning lines to fd 2), ``echo`` (sends
the input back), ``escape`` (an exception that ``serve`` does not catch ends the process with a
traceback and status 1, as a bug in the worker's own loop would).
Everything else is the production job table."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from shared.sandbox import worker


class Escape(BaseException):
    """Not an ``Exception``: ``serve`` lets it through, and the interpreter exits with status 1."""


def run(header: dict[str, Any], data: bytes) -> tuple[dict[str, Any], bytes | None]:
    op = header["op"]
    if op == "sleep":
        time.sleep(float(header["seconds"]))
        return {"slept": True}, None
    if op == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if op == "exit":
        os._exit(7)
    if op == "escape":
        raise Escape("an exception out of the worker's loop")
    if op == "noisy":  # what libtiff did for one damaged TIFF: 130,000 warning lines, 13 MB
        line = b"TIFFReadDirectory: Warning, a library warning of about one hundred bytes, as libtiff writes them.\n"
        for _ in range(int(header["lines"])):
            os.write(2, line)
        return {"lines": int(header["lines"]), "line_bytes": len(line)}, None
    if op == "allocate":
        block = bytearray(int(header["n"]))
        return {"allocated": len(block)}, None
    if op == "print":
        print("a library writing to stdout must not corrupt the channel")
        os.write(1, b"nor at the fd level\n")
        return {"printed": True}, None
    if op == "echo":
        return {"echo": len(data)}, data
    return worker.run_job(header, data)


if __name__ == "__main__":
    sys.exit(worker.main(run))
