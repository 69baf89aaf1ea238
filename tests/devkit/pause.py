"""Freeze a process the way a GC pause, a stopped VM or a debugger does: SIGSTOP, then SIGCONT.

A stopped process keeps its sockets and leases but answers nothing and runs no timers, so it is the
honest stand-in for "the worker holding the lease stalled" (a stale lease holder).  The
kernel does the stopping (``signal(7)``: SIGSTOP cannot be caught or ignored), so nothing in the
stopped process can notice or cut the pause short.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: How long ``paused`` waits for the kernel to report the process stopped.
STOP_TIMEOUT = 5.0


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """Keep process ``pid`` stopped for the ``with`` block; it always continues afterwards.

    Signal delivery is asynchronous, so the block starts only once ``/proc`` shows the process stopped.
    """
    os.kill(pid, signal.SIGSTOP)
    try:
        end = time.monotonic() + STOP_TIMEOUT
        while not is_stopped(pid):
            if time.monotonic() > end:
                raise TimeoutError(f"process {pid} did not stop within {STOP_TIMEOUT} s")
            time.sleep(0.005)
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def is_stopped(pid: int) -> bool:
    """True while the kernel reports ``pid`` stopped (state ``T`` in ``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Field 3 follows the command name, which is in parentheses and may itself contain spaces.
        return stat.read().rpartition(")")[2].split()[0] == "T"
