"""Sizes: fitting into the box, and how much can be thrown away cheaply before the real resample.

Downscaling happens in two steps, the way Pillow's ``reducing_gap`` does it: first a cheap integer
reduction (JPEG's DCT scaling via ``draft``, or a box-filter ``reduce``) down to no less than
``REDUCING_GAP`` times the target, then a LANCZOS resample to the exact size.  With a gap of 2 the
result is very close to a single full LANCZOS pass at a fraction of the time and memory.
"""

from __future__ import annotations

import math

Size = tuple[int, int]

#: The cheap first step stops at this multiple of the final size (Pillow's own default for
#: ``Image.thumbnail``; 3 or more is indistinguishable from one full resample, 2 is very close).
REDUCING_GAP = 2.0

#: EXIF orientations that mirror across the diagonal, so stored width is displayed as height.
_TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})


def swaps_axes(orientation: int) -> bool:
    """Whether an EXIF orientation shows the stored width as the height (5 to 8)."""
    return orientation in _TRANSPOSED_ORIENTATIONS


def stored_box(box: Size, orientation: int) -> Size:
    """The box in stored (pre-rotation) coordinates: the decoder works on stored pixels."""
    return (box[1], box[0]) if swaps_axes(orientation) else box


def fit_within(size: Size, box: Size) -> Size:
    """The largest size with the same aspect ratio inside ``box``; never larger than ``size``."""
    width, height = size
    box_w, box_h = box
    if width <= box_w and height <= box_h:
        return size
    if box_w * height <= box_h * width:  # the width is the tighter constraint
        return box_w, max(1, min(box_h, round(height * box_w / width)))
    return max(1, min(box_w, round(width * box_h / height))), box_h


def draft_request(fit: Size) -> Size:
    """The smallest size to ask the JPEG decoder for: ``REDUCING_GAP`` times the final size."""
    return math.ceil(fit[0] * REDUCING_GAP), math.ceil(fit[1] * REDUCING_GAP)


def jpeg_draft_scale(size: Size, request: Size) -> int:
    """The DCT scale denominator (1, 2, 4 or 8) Pillow's JPEG ``draft`` picks for a request.

    Mirrors ``JpegImageFile.draft`` so the memory estimate agrees with what decoding will do.
    """
    scale = min(size[0] // request[0], size[1] // request[1])
    return next((s for s in (8, 4, 2, 1) if scale >= s), 1)


def scaled_size(size: Size, scale: int) -> Size:
    """A size divided by an integer scale, rounding up (as both JPEG draft and ``reduce`` do)."""
    return -(-size[0] // scale), -(-size[1] // scale)


def reduce_factor(size: Size, fit: Size) -> int:
    """The integer box reduction to apply before LANCZOS on both axes alike (1: none)."""
    return max(1, int(min(size[0] / fit[0], size[1] / fit[1]) / REDUCING_GAP))


def reduce_factors(size: Size, fit: Size) -> Size:
    """The integer box reduction of each axis, (x, y): each down to no less than ``REDUCING_GAP``
    times its target.

    For ordinary images both are the same (the fit keeps the aspect ratio).  They differ when the
    fit's short side is clamped to one pixel: a 40,000,000x1 row fits as 800x1, and reducing only
    by the short side's factor (1) would leave LANCZOS a 40 M-pixel source, whose weight tables
    took 1.9 GB.  Reduced per axis, LANCZOS never sees more than ``REDUCING_GAP`` x 2 times the
    target on either axis, so its tables stay a few KB.
    """
    return (
        max(1, int(size[0] / fit[0] / REDUCING_GAP)),
        max(1, int(size[1] / fit[1] / REDUCING_GAP)),
    )
