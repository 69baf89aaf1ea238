"""Memory admission: how many images may be decoded at once in one worker process.

The Functions host runs several invocations per process.  Eight 16K PNGs decoded at the same time
need 4 GB; the budget lets each decode start only when its estimated working set fits, so a burst
of large drops queues instead of taking the worker down.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from shared.core.deadline import SHORTEST_WAIT_SECONDS, Deadline
from shared.core.errors import Stage
from shared.imaging.formats import FORMATS, format_named
from shared.imaging.formats.spec import ImageFormat
from shared.imaging.geometry import scaled_size
from shared.imaging.models import ImageInfo
from shared.imaging.modes import SIXTEEN_BIT_MODES
from shared.imaging.resize import strip_bytes

#: Bytes per pixel of Pillow's in-memory storage.  Every multi-band mode takes 4 bytes a pixel
#: (RGB is stored as RGBX), which is why an 8K RGB frame is 133 MB, not 100 MB.
_ONE_BYTE_MODES = frozenset({"1", "L", "P"})

#: Decoder state, the LANCZOS output and the PNG encoder's buffers: small, but not zero.
FIXED_OVERHEAD_BYTES = 8 * 1024 * 1024

#: Pillow keeps a pointer to every row of an image: nothing for ordinary images, but a
#: 2x30,000,000 image has 240 MB of them.
ROW_POINTER_BYTES = 8

#: Strips alive at once while reducing: the cropped strip, its converted copy, and the second
#: conversion's copy (RGBA then RGBa, or the scaled intermediate of 16-bit data).
STRIPS_ALIVE = 3


def bytes_per_pixel(mode: str) -> int:
    """Bytes per pixel of a decoded image in ``mode`` as Pillow stores it."""
    if mode in _ONE_BYTE_MODES:
        return 1
    if mode in SIXTEEN_BIT_MODES:
        return 2
    return 4


def estimate_decode_bytes(info: ImageInfo, formats: tuple[ImageFormat, ...] = FORMATS) -> int:
    """The peak memory ``normalize`` needs for this image, beyond the input bytes themselves.

    = the decoded bitmap, at the JPEG draft scale ``probe`` planned (an 8K JPEG decodes at 1/4,
      a 16K one at 1/8), in Pillow's storage (see ``bytes_per_pixel``)
    + the working copies after decoding, at 4 bytes a pixel: the reduced image (the decoded pixels
      divided by both axes' factors) and the resample's intermediate (at most as large); or, when
      nothing is reduced, a converted copy of the decoded image (not for a mode the format's
      ``resized_as_decoded`` names, such as a JPEG in RGB or L) and two copies at the thumbnail
      size (resampled output, final output or encoder buffer); the thumbnail size is
      ``info.target``, or the decoded size if unknown
    + the strips converted one at a time while reducing, ``strips_bytes``, whenever there is a
      reduction (the header cannot always tell whether conversion is needed: an RGB PNG may carry
      a transparent colour)
    + ``info.decoder_bytes``: what the decoder itself holds beyond the bitmap (see
      each format's ``decoder_bytes``: a progressive JPEG's coefficient buffer, WebP's canvas
      copies, ...)
    + ``FIXED_OVERHEAD_BYTES`` (decoder state, LANCZOS weight tables: a few KB once both axes are
      reduced to within twice the target).

    With ``decode_scale`` and ``reduce_factor`` at 1 (an ``ImageInfo`` not made by ``probe``) this
    is the full-size, worst-case figure.  The benchmark prints it next to the measured peak.
    """
    entry = format_named(info.format, formats)
    if info.hdr:  # EXR and float TIFF take the linear-light path
        from shared.imaging.hdr import estimate_hdr_bytes

        return estimate_hdr_bytes(info, FIXED_OVERHEAD_BYTES, entry.hdr_decode_bytes(info))
    width, height = scaled_size((info.width, info.height), info.decode_scale)
    decoded = width * height * bytes_per_pixel(info.mode)
    fx, fy = info.reduce_factors or (info.reduce_factor, info.reduce_factor)
    if (fx, fy) != (1, 1):
        reduced = -(-width // fx) * -(-height // fy) * 4
        working = 2 * reduced + strips_bytes(width, fy, fx)
    else:
        converted = 0 if info.mode in entry.resized_as_decoded else width * height * 4
        target = info.target or (width, height)
        working = converted + 2 * min(target[0] * target[1], width * height) * 4
    rows = ROW_POINTER_BYTES * height
    return decoded + rows + working + info.decoder_bytes + FIXED_OVERHEAD_BYTES


def strips_bytes(width: int, factor: int, factor_x: int | None = None) -> int:
    """The strips (tiles, for very wide images) alive at once while reducing an image ``width``
    pixels wide by ``factor`` vertically (and ``factor_x``, default the same, horizontally).

    Each is ``resize.strip_bytes``: about 2 MiB, at most one reduction block more.
    """
    return STRIPS_ALIVE * strip_bytes(width, factor, factor_x)


class MemoryBudget:
    """A thread-safe byte budget shared by the decodes of one process.

    ``admit(n)`` waits until ``n`` bytes fit next to what is running, then holds them for the
    ``with`` block.  Waiters are served strictly first come, first served: a big job at the head
    of the queue is not overtaken by a stream of small ones (no starvation), at the cost of small
    jobs sometimes waiting behind it.  A job bigger than the whole budget is admitted when nothing
    else runs, and runs alone, rather than waiting forever.
    """

    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes <= 0:
            raise ValueError(f"a memory budget must be positive, got {capacity_bytes}")
        self._capacity = capacity_bytes
        self._in_use = 0
        self._running = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def in_use(self) -> int:
        """Bytes held by admitted jobs (may exceed the capacity while one oversized job runs)."""
        with self._changed:
            return self._in_use

    @property
    def running(self) -> int:
        with self._changed:
            return self._running

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._queue)

    @contextmanager
    def admit(self, nbytes: int, timeout: float | None = None) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the block; wait (up to ``timeout``) until they fit.

        Raises TimeoutError if not admitted within ``timeout`` seconds; the job then leaves the
        queue and the jobs behind it move up.
        """
        if nbytes < 0:
            raise ValueError(f"cannot admit a negative size, got {nbytes}")
        self._acquire(nbytes, timeout)
        try:
            yield
        finally:
            self._release(nbytes)

    def _acquire(self, nbytes: int, timeout: float | None) -> None:
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            try:
                while not (self._queue[0] is ticket and self._fits(nbytes)):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"{nbytes:,} bytes of memory budget not free within {timeout} s")
                    self._changed.wait(None if remaining == math.inf else remaining)
            except BaseException:
                self._queue.remove(ticket)
                self._changed.notify_all()
                raise
            self._queue.popleft()
            self._in_use += nbytes
            self._running += 1
            self._changed.notify_all()  # the next in line may fit as well

    def _release(self, nbytes: int) -> None:
        with self._changed:
            self._in_use -= nbytes
            self._running -= 1
            self._changed.notify_all()

    def _fits(self, nbytes: int) -> bool:
        return self._running == 0 or self._in_use + nbytes <= self._capacity


@contextmanager
def admitted_by(budget: MemoryBudget, nbytes: int, deadline: Deadline | None, *, keep: float = 0.0) -> Iterator[None]:
    """``budget.admit(nbytes)`` for the block, waiting no later than the deadline leaves ``keep``
    seconds (the job's own time limit) before it; ``DeadlineReached`` when the wait runs out."""
    what = "wait for memory to decode the image"
    with contextlib.ExitStack() as stack:
        if deadline is None:
            stack.enter_context(budget.admit(nbytes))
        else:
            wait = deadline.left_for(what, stage=Stage.IMAGE, at_least=keep + SHORTEST_WAIT_SECONDS) - keep
            try:
                stack.enter_context(budget.admit(nbytes, timeout=wait))
            except TimeoutError as exc:
                raise deadline.reached(what, stage=Stage.IMAGE) from exc
        yield
