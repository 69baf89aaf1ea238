"""EXIF orientation: reading it without decoding, and applying it to the finished thumbnail.

Cameras (and some renderers' post-processing) store pixels as the sensor saw them and record the
rotation in EXIF tag 0x0112.  We apply it to the small image at the very end, which is far cheaper
than rotating the full frame; the box was already swapped for orientations 5-8 (see
``geometry.stored_box``) so the result still fits.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from typing import Any

from PIL import Image, ImageFile, PngImagePlugin

_ORIENTATION_TAG = 0x0112
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(?:="|>)([1-8])')

_TRANSPOSES: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

#: What a damaged EXIF block can make Pillow's parser raise; orientation then counts as absent
#: (a broken EXIF block is common and must not sink an otherwise fine image).
_EXIF_ERRORS = (SyntaxError, ValueError, TypeError, KeyError, IndexError, OSError, struct.error)


def read_orientation(image: ImageFile.ImageFile) -> int:
    """The EXIF (or XMP) orientation, 1 to 8; 1 when absent or invalid.

    Never triggers a decode: Pillow's PNG ``getexif`` loads the whole image to look for an ``eXIf``
    chunk after the pixel data, so a PNG without EXIF in ``info`` is only searched for XMP.  (Once
    the PNG is loaded, a trailing ``eXIf`` chunk is in ``info`` too, so call this again after
    decoding.)
    """
    if isinstance(image, PngImagePlugin.PngImageFile) and "exif" not in image.info:
        return _xmp_orientation(image.info)
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except _EXIF_ERRORS:
        return _xmp_orientation(image.info)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _xmp_orientation(info: Mapping[Any, Any]) -> int:
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    if isinstance(xmp, bytes) and (match := _XMP_ORIENTATION.search(xmp)):
        return int(match[1])
    return 1


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """The image as it should be displayed (unchanged for orientation 1 or unknown values)."""
    method = _TRANSPOSES.get(orientation)
    return image if method is None else image.transpose(method)
