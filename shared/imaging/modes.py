"""Pixel modes: getting any decoded image into a mode that resamples correctly, then into PNG's.

Two moments matter.  *Before resizing* an image must be in a continuous 8-bit mode: palette and
bilevel images resampled as-is would be resized with NEAREST; 16-bit grayscale cannot be reduced;
and alpha has to be premultiplied (``RGBa``/``La``) or transparent pixels bleed their hidden colour
into the edges.  *After resizing*, on the small image where it is cheap, everything becomes one of
the PNG output modes ``L``, ``LA``, ``RGB``, ``RGBA`` (8 bits per channel).

Conversions are returned as functions so the resize step can apply them strip by strip: a full-size
``RGBA`` copy of an 8K frame is another 133 MB we do not need to hold.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

Converter = Callable[[Image.Image], Image.Image]

#: Modes the resize step accepts without conversion (``reduce`` and LANCZOS both work on them and
#: averaging their channel values is meaningful).  Only modes an allowed decoder produces are
#: listed; anything else is converted to RGB first.
RESIZABLE_MODES = frozenset({"L", "La", "RGB", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB"})

#: Pillow's 16-bit grayscale modes (PNG and TIFF).  Their nominal range is 0..65535.
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})

OUTPUT_MODES = frozenset({"L", "LA", "RGB", "RGBA"})

#: Alpha is scanned in strips of about this many alpha bytes.
_SCAN_BYTES = 512 * 1024

#: Straight-alpha modes and the conversions that premultiply them.  ``PA`` is a palette TIFF with
#: an alpha sample (Pillow's TIFF decoder produces it).
_PREMULTIPLIED = {"RGBA": ("RGBa",), "LA": ("La",), "PA": ("RGBA", "RGBa")}
_STRAIGHT = {"RGBa": "RGBA", "La": "LA"}


def resizable_converter(image: Image.Image) -> Converter | None:
    """How to bring ``image`` (or any strip of it) into a resizable mode; ``None`` if it already is.

    The decision is made once, on the whole image: the range of 32-bit and float data is measured
    here so that every strip is scaled the same way.
    """
    mode = image.mode
    transparent = "transparency" in image.info
    if mode in ("P", "1"):
        has_alpha = transparent or (mode == "P" and image.palette is not None and image.palette.mode == "RGBA")
        return _via("RGBA", "RGBa") if has_alpha else _via("RGB")
    if mode in ("L", "RGB") and transparent:
        return _via("LA", "La") if mode == "L" else _via("RGBA", "RGBa")
    if mode in ("RGBA", "LA") and alpha_is_opaque(image):
        return None  # premultiplying by 255 changes nothing: reduce as is, drop alpha at the end
    if mode in _PREMULTIPLIED:
        return _via(*_PREMULTIPLIED[mode])
    if mode in SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return _to_eight_bit(image)
    if mode in RESIZABLE_MODES:
        return None
    return _via("RGB")


def alpha_is_opaque(image: Image.Image) -> bool:
    """Whether every alpha value is 255, scanned in strips (no full-size copy) and stopping at the
    first strip that is not.

    Renderers often write RGBA with an alpha that is opaque everywhere; knowing it saves the
    premultiplication of the whole frame (about 0.1 s and a pass over 133 MB at 8K).
    """
    width, height = image.size
    rows = max(1, _SCAN_BYTES // max(1, width))
    for top in range(0, height, rows):
        alpha = image.crop((0, top, width, min(height, top + rows))).getchannel("A")
        if alpha.getextrema()[0] != 255:
            return False
    return True


def _via(*modes: str) -> Converter:
    def convert(strip: Image.Image) -> Image.Image:
        for mode in modes:
            strip = strip.convert(mode)
        return strip

    return convert


def _to_eight_bit(image: Image.Image) -> Converter:
    """Scale high-bit-depth grayscale to ``L`` over its nominal range (not clip it to white).

    ``convert("L")`` on 16-bit data clamps every value above 255, which turns a 16-bit render
    into a white sheet.  16-bit modes are scaled by 255/65535.  For 32-bit integer and float data
    (TIFF only) the range is not in the header, so it is inferred: values within 0..255 are taken
    as 8-bit, within 0..65535 as 16-bit, within 0..1 (float) as normalised; anything else is
    stretched from its minimum to its maximum.
    """
    low, high = _range_of(image)
    scale = 255.0 / (high - low) if high > low else 1.0
    offset = -low * scale

    def convert(strip: Image.Image) -> Image.Image:
        # Pillow scales I;16, I and F in place of type; other 16-bit layouts go through I first.
        if strip.mode not in ("I;16", "I", "F"):
            strip = strip.convert("I")
        scaled = strip.point(lambda value: value * scale + offset + 0.5)
        return scaled.convert("L")

    return convert


def _range_of(image: Image.Image) -> tuple[float, float]:
    """The value range that maps to black..white (see ``_to_eight_bit``)."""
    if image.mode in SIXTEEN_BIT_MODES:
        return 0.0, 65535.0
    extrema = image.getextrema()
    low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
    for nominal in (1.0, 255.0, 65535.0):
        if low >= 0 and high <= nominal and not (nominal == 1.0 and image.mode == "I"):
            return 0.0, nominal
    return low, high


def straighten(image: Image.Image) -> Image.Image:
    """Undo the premultiplication done for resizing (``RGBa`` -> ``RGBA``, ``La`` -> ``LA``) and
    drop ``RGBX``'s padding, so ICC conversion sees ordinary colour and alpha."""
    if image.mode in _STRAIGHT:
        return image.convert(_STRAIGHT[image.mode])
    if image.mode == "RGBX":
        return image.convert("RGB")
    return image


def to_output_mode(image: Image.Image) -> Image.Image:
    """One of ``OUTPUT_MODES``: what is still CMYK, YCbCr or LAB becomes RGB.

    Runs after ICC conversion (see ``icc.to_srgb``), so this is the plain conversion for images
    without a usable profile.
    """
    return image if image.mode in OUTPUT_MODES else image.convert("RGB")


def drop_opaque_alpha(image: Image.Image) -> Image.Image:
    """Remove an alpha channel that is 255 everywhere: smaller PNG, and nothing is lost."""
    if image.mode not in ("RGBA", "LA"):
        return image
    alpha_low, _alpha_high = image.getchannel("A").getextrema()
    if alpha_low != 255:
        return image
    return image.convert("RGB" if image.mode == "RGBA" else "L")
