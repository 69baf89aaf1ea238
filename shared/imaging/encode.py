"""PNG encoding under the API's byte limit.

The first try is ``png_write.write_png`` at compression level 1: the Up filter on every row,
deflated on two threads, about half the time of Pillow's encoder at level 1 for an 800x450
thumbnail and 1-3% larger, far below the 5 MiB limit.  Only when a result is over the limit do we
spend more: one try with Pillow's encoder (per-row adaptive filters) at level 9 if that could
plausibly be enough, then shrinking.  That only happens for large
configured boxes with noise-like content (4096x4096 RGBA noise is 67 MB raw; no level fixes that).

When the raw pixels are over 4 MiB (slow enough to encode that guessing first pays), a few sample
strips are compressed to predict the result; if the prediction is over the limit the image is
shrunk before the first full encode, instead of spending seconds compressing 67 MB of noise only to
throw it away.  Smaller images are simply encoded and checked.
"""

from __future__ import annotations

import io
import math

from PIL import Image

from shared.core.errors import ErrorCode
from shared.imaging.failures import image_error
from shared.imaging.models import ImageInfo
from shared.imaging.png_write import write_png

FAST_LEVEL = 1
BEST_LEVEL = 9

#: Level 9 is tried only when the fast result is within this factor of the limit; beyond it, the
#: better level cannot close the gap and only costs time.
_BEST_LEVEL_REACH = 1.4
#: Aim this far under the limit when shrinking, so one shrink is usually enough.
_SHRINK_MARGIN = 0.9
_MAX_ATTEMPTS = 8
#: Below this many raw bytes an encode is cheap (a few tens of ms); no need to predict.
_SAMPLE_ABOVE_BYTES = 4 * 1024 * 1024
_SAMPLE_STRIPS = 8


def encode_png(image: Image.Image, max_bytes: int, info: ImageInfo) -> tuple[bytes, Image.Image, list[str]]:
    """PNG bytes no larger than ``max_bytes``, the image they encode, and notes on what it took.

    The image must already be free of metadata (``normalize`` clears ``info``).  Raises
    THUMBNAIL_TOO_LARGE when even a much smaller image does not fit.
    """
    notes: list[str] = []
    current = _shrunk_for_prediction(image, max_bytes, notes)
    data = b""
    for _attempt in range(_MAX_ATTEMPTS):
        data = write_png(current, FAST_LEVEL)
        if len(data) <= max_bytes:
            return data, current, notes
        fast_length = len(data)
        if fast_length <= max_bytes * _BEST_LEVEL_REACH:
            data = save_png(current, BEST_LEVEL)
            if len(data) <= max_bytes:
                notes.append(f"png level {BEST_LEVEL}")
                return data, current, notes
        # The next try is at FAST_LEVEL again, so its size scales from the fast result.
        size = _shrunk_size(current.size, fast_length, max_bytes)
        if size is None:
            break
        notes.append(f"shrunk to {size[0]}x{size[1]} for the byte limit")
        current = _resized(image, size)
    raise image_error(
        ErrorCode.THUMBNAIL_TOO_LARGE,
        f"no PNG of this image fits in {max_bytes:,} bytes (last try {current.width}x{current.height}: {len(data):,})",
        info,
        max_output_bytes=max_bytes,
    )


def _shrunk_for_prediction(image: Image.Image, max_bytes: int, notes: list[str]) -> Image.Image:
    """The image, shrunk up front when sampling predicts it cannot fit; unchanged otherwise.

    Only a real (sampled) prediction shrinks: an image too small to be worth sampling is cheaper to
    encode and check than to guess about, and its raw size says nothing about its PNG size (a flat
    800x500 frame is 1.2 MB raw and a few KB as PNG).
    """
    predicted = predict_png_bytes(image)
    if predicted is None or predicted <= max_bytes:
        return image
    size = _shrunk_size(image.size, predicted, max_bytes)
    if size is None:
        return image
    notes.append(f"shrunk to {size[0]}x{size[1]} for the byte limit (predicted {predicted:,} bytes)")
    return _resized(image, size)


def save_png(image: Image.Image, level: int) -> bytes:
    """The image as PNG at a zlib level, with nothing but pixels (no text, EXIF, ICC or pHYs), by
    Pillow's encoder: its per-row adaptive filters give the smallest file, for the level-9 retry."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


def predict_png_bytes(image: Image.Image) -> int | None:
    """The expected PNG size at ``FAST_LEVEL``, or ``None`` when the image is not worth sampling.

    Images whose raw pixels are under ``_SAMPLE_ABOVE_BYTES`` encode in tens of milliseconds, and
    images too short for the sample strips cannot be sampled; for both, encoding is the answer.
    Others are sampled with evenly spaced full-width strips, which see the image's mix of flat and
    busy regions.
    """
    raw = image.width * image.height * len(image.getbands())
    strip_rows = 16
    if raw <= _SAMPLE_ABOVE_BYTES or image.height < _SAMPLE_STRIPS * strip_rows * 2:
        return None
    step = image.height // _SAMPLE_STRIPS
    sampled_bytes = 0
    for index in range(_SAMPLE_STRIPS):
        top = index * step + (step - strip_rows) // 2
        sampled_bytes += len(write_png(image.crop((0, top, image.width, top + strip_rows)), FAST_LEVEL))
    return sampled_bytes * image.height // (_SAMPLE_STRIPS * strip_rows)


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A smaller copy, resampled from the original (not from the last try: no cumulative blur)."""
    smaller = image.resize(size, Image.Resampling.LANCZOS)
    smaller.info = {}
    return smaller


def _shrunk_size(size: tuple[int, int], got: int, limit: int) -> tuple[int, int] | None:
    """A smaller size expected to fit (encoded bytes scale with pixel count), or ``None`` if no
    smaller size is left."""
    ratio = math.sqrt(limit / got) * _SHRINK_MARGIN
    width, height = (max(1, math.floor(side * ratio)) for side in size)
    if (width, height) == size:
        return None
    return width, height
