"""Two pieces of work side by side, or one after the other when no second thread can be had.

Pillow and zlib release the GIL while they work, so a second thread halves what can be split.  In
a sandbox worker the address space is capped for each job (``RLIMIT_AS``), and a thread's stack
(8 MiB by default) counts against it: starting one can fail with ``RuntimeError`` ("can't start
new thread") where the same work on the calling thread still fits.  That is no fault of the image,
so the work then runs here, in order, with the same result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def beside(background: Callable[[], None], foreground: Callable[[], T]) -> T:
    """``foreground()``'s result, with ``background()`` run on a second thread meanwhile and
    finished before this returns.

    ``background`` must not raise: it reports through what it closes over (an exception on a
    thread would only be printed), and the caller decides what its outcome means.
    """
    thread = threading.Thread(target=background, name="image-beside")
    try:
        thread.start()
    except RuntimeError:  # no room for a thread's stack: the same work, one after the other
        background()
        return foreground()
    try:
        return foreground()
    finally:
        thread.join()
