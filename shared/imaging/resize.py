"""Downscaling a decoded frame to the thumbnail size, with as little extra memory as possible.

The decoded bitmap is the big allocation (133 MB for an 8K RGB frame); everything here is meant to
stay small next to it.  The cheap integer reduction runs over horizontal strips when the image
first has to be converted (palette to RGB, premultiplying alpha, 16-bit to 8-bit), so the converted
copy only ever exists one strip at a time; the LANCZOS resample then works on the reduced image.
"""

from __future__ import annotations

from PIL import Image

from shared.imaging.geometry import Size, reduce_factor, scaled_size
from shared.imaging.modes import Converter

#: A strip of the source converted at a time is about this many bytes (at 4 bytes per pixel).
STRIP_BYTES = 2 * 1024 * 1024

Box = tuple[float, float, float, float]


def downscale(
    image: Image.Image, fit: Size, convert: Converter | None, box: Box | None = None
) -> tuple[Image.Image, int]:
    """``image`` reduced and resampled to exactly ``fit``, in a resizable mode; and the integer
    reduction factor used (1: none).

    ``box`` is the region of ``image`` that holds the picture, in its own pixels: after a JPEG
    draft the decoded size is rounded up, and the box keeps the resample exact.  ``convert``
    brings the pixels into a resizable mode (see ``modes.resizable_converter``).
    """
    region: Box = box or (0.0, 0.0, float(image.width), float(image.height))
    factor = reduce_factor((round(region[2] - region[0]), round(region[3] - region[1])), fit)
    if factor > 1:
        image = _reduce(image, factor, convert)
        region = (region[0] / factor, region[1] / factor, region[2] / factor, region[3] / factor)
    elif convert is not None:
        image = convert(image)
    if image.size == fit and region == (0.0, 0.0, float(fit[0]), float(fit[1])):
        return image, factor
    return image.resize(fit, Image.Resampling.LANCZOS, box=region), factor


def strip_rows(width: int, factor: int) -> int:
    """Rows per converted strip: a multiple of ``factor`` (each strip reduces to whole rows), as many
    as fit ``STRIP_BYTES`` at 4 bytes a pixel, but at least ``factor`` rows however wide the image."""
    return factor * max(1, STRIP_BYTES // (width * 4 * factor))


def strip_bytes(width: int, factor: int) -> int:
    """Bytes of one converted strip at 4 bytes a pixel.  At most ``STRIP_BYTES``, except for very
    wide images, where ``factor`` rows alone are more (140000 wide at 1/83: 46 MB a strip); the
    memory estimate needs the real figure, not the target."""
    return strip_rows(width, factor) * width * 4


def _reduce(image: Image.Image, factor: int, convert: Converter | None) -> Image.Image:
    """Box-filter reduction by an integer factor; converted strip by strip when needed."""
    if convert is None:
        return image.reduce(factor)
    width, height = image.size
    rows = strip_rows(width, factor)
    reduced: Image.Image | None = None
    for top in range(0, height, rows):
        strip = convert(image.crop((0, top, width, min(height, top + rows)))).reduce(factor)
        if reduced is None:
            reduced = Image.new(strip.mode, scaled_size(image.size, factor))
        reduced.paste(strip, (0, top // factor))
    assert reduced is not None  # a loaded image has at least one row
    return reduced
