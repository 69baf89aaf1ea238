"""Downscaling a decoded frame to the thumbnail size, with as little extra memory as possible.

The decoded bitmap is the big allocation (133 MB for an 8K RGB frame); everything here is meant to
stay small next to it.  The cheap integer reduction runs over horizontal strips when the image
first has to be converted (palette to RGB, premultiplying alpha, 16-bit to 8-bit), so the converted
copy only ever exists one strip at a time; the LANCZOS resample then works on the reduced image.

The reduction runs on two threads for a big enough source (Pillow releases the GIL while it
reduces: ``ImagingSectionEnter`` in ``Reduce.c``), over row bands whose edges are multiples of the
factor, so each output row comes from its own block of source rows and the pixels are exactly one
call's.  LANCZOS stays one call: split into a horizontal pass over row bands and a vertical pass
over column bands it gave one call's pixels for images at least as wide as tall (Pillow 13 goes
vertical-first when the height shrinks much more), and saved 6 ms of 27 on an 8K JPEG's
1920x1080 -> 800x450, but its band copies took the normalize over ``estimate_decode_bytes`` and it
was slower than one call with both cores busy.
"""

from __future__ import annotations

from PIL import Image

from shared.imaging.geometry import Size, reduce_factors
from shared.imaging.modes import Converter
from shared.imaging.threads import beside

#: A strip of the source converted at a time is about this many bytes (at 4 bytes per pixel).
STRIP_BYTES = 2 * 1024 * 1024

Box = tuple[float, float, float, float]

#: A source of at least this many pixels is reduced on two threads; below it, thread start-up is a
#: visible part of the work.  Measured on the 8K corpus frame (load 1.1, median of 9, three runs):
#: reduce(4) 29.3-29.5 ms -> 17.6-17.7 ms.
TWO_THREADS_FROM_PIXELS = 1_000_000


def downscale(
    image: Image.Image, fit: Size, convert: Converter | None, box: Box | None = None
) -> tuple[Image.Image, Size]:
    """``image`` reduced and resampled to exactly ``fit``, in a resizable mode; and the integer
    reduction factors used, per axis ((1, 1): none; see ``geometry.reduce_factors``).

    ``box`` is the region of ``image`` that holds the picture, in its own pixels: after a JPEG
    draft the decoded size is rounded up, and the box keeps the resample exact.  ``convert``
    brings the pixels into a resizable mode (see ``modes.resizable_converter``).
    """
    region: Box = box or (0.0, 0.0, float(image.width), float(image.height))
    factors = reduce_factors((round(region[2] - region[0]), round(region[3] - region[1])), fit)
    fx, fy = factors
    if factors != (1, 1):
        image = _reduce(image, factors, convert)
        region = (region[0] / fx, region[1] / fy, region[2] / fx, region[3] / fy)
    elif convert is not None:
        image = convert(image)
    if image.size == fit and region == (0.0, 0.0, float(fit[0]), float(fit[1])):
        return image, factors
    return image.resize(fit, Image.Resampling.LANCZOS, box=region), factors


def strip_rows(width: int, factor: int) -> int:
    """Rows per converted strip: a multiple of ``factor`` (each strip reduces to whole rows), as many
    as fit ``STRIP_BYTES`` at 4 bytes a pixel, but at least ``factor`` rows however wide the image."""
    return factor * max(1, STRIP_BYTES // (width * 4 * factor))


def tile_columns(width: int, rows: int, factor_x: int) -> int:
    """Columns per converted tile: the whole width when ``rows`` full rows fit ``STRIP_BYTES``;
    otherwise a multiple of ``factor_x`` that does (at least ``factor_x``), so a very wide image
    (140000 wide at 1/83, or a 40,000,000x1 row) is converted a tile at a time, not 46 MB or 160 MB
    of strip at once."""
    if rows * width * 4 <= STRIP_BYTES:
        return width
    return min(width, factor_x * max(1, STRIP_BYTES // (rows * 4 * factor_x)))


def strip_bytes(width: int, factor: int, factor_x: int | None = None) -> int:
    """Bytes of one converted tile at 4 bytes a pixel: about ``STRIP_BYTES``, and at most
    ``factor`` x ``factor_x`` pixels more (one reduction block) however wide the image."""
    rows = strip_rows(width, factor)
    return rows * tile_columns(width, rows, factor if factor_x is None else factor_x) * 4


def _reduce(image: Image.Image, factor: int | Size, convert: Converter | None) -> Image.Image:
    """Box-filter reduction by integer factors (one for both axes, or (x, y)); converted strip by
    strip when needed."""
    fx, fy = (factor, factor) if isinstance(factor, int) else factor
    width, height = image.size
    if convert is None:
        return _reduced_as_is(image, fx, fy)
    rows = strip_rows(width, fy)
    columns = tile_columns(width, rows, fx)
    reduced: Image.Image | None = None
    for top in range(0, height, rows):
        for left in range(0, width, columns):
            box = (left, top, min(width, left + columns), min(height, top + rows))
            tile = convert(image.crop(box)).reduce((fx, fy))
            if reduced is None:
                reduced = Image.new(tile.mode, (-(-width // fx), -(-height // fy)))
            reduced.paste(tile, (left // fx, top // fy))
    assert reduced is not None  # a loaded image has at least one row
    return reduced


def _reduced_as_is(image: Image.Image, fx: int, fy: int) -> Image.Image:
    """``image.reduce((fx, fy))``: on two threads, over bands of whole blocks of rows, when the
    image is big enough and in a mode the split was checked for.  Every other band is reduced on a
    second thread; the bands do not overlap, so neither thread writes where the other does."""
    width, height = image.size
    if width * height < TWO_THREADS_FROM_PIXELS or image.mode not in _EIGHT_BIT_MODES:
        return image.reduce((fx, fy))
    reduced = Image.new(image.mode, (-(-width // fx), -(-height // fy)))
    rows = strip_rows(width, fy)
    bands = [(top, min(height, top + rows)) for top in range(0, height, rows)]
    failed: list[BaseException] = []

    def paste(share: list[tuple[int, int]]) -> None:
        for top, bottom in share:
            reduced.paste(image.reduce((fx, fy), box=(0, top, width, bottom)), (0, top // fy))

    def odd_bands() -> None:
        try:
            paste(bands[1::2])
        except BaseException as exc:  # handed to the calling thread, raised there
            failed.append(exc)

    beside(odd_bands, lambda: paste(bands[0::2]))
    if failed:
        raise failed[0]
    return reduced


#: Modes Pillow reduces in its 8-bit code as they are, the code the band split was checked against
#: (``modes.RESIZABLE_MODES``; not ``RGBA``/``LA``, which ``Image.reduce`` premultiplies per call).
_EIGHT_BIT_MODES = frozenset({"L", "La", "RGB", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB"})
