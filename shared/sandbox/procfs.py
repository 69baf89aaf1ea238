"""Memory figures of this process from ``/proc/self``: what a job used, measured by the kernel.

The sandbox worker reports each job's peak with these; the benchmarks measure theirs the same way,
so their figures and the worker's are comparable.  Standard library only: the worker imports it
before anything else.
"""

from __future__ import annotations


def status_bytes(field: str) -> int:
    """A ``/proc/self/status`` figure in bytes (``VmRSS``, ``VmHWM`` peak RSS, ``VmPeak``); 0 if absent."""
    prefix = field.encode() + b":"
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(prefix):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> bool:
    """Start ``VmHWM`` again from the current RSS (Linux 4.0+), so the next peak is the next job's own.

    False where the kernel does not allow it; the caller then knows ``VmHWM`` is the process's peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True
