"""BMP: its signature (with a DIB header size check) and the RLE decoder's memory and size bound.

Pillow decodes RLE in Python into a growing ``bytearray``, copied once more into ``bytes`` before
the image gets it (418 MB against a bitmap of 151 MB); and it does so one pixel at a time, about
0.1 us a pixel, so RLE bitmaps are also bounded in size (``MAX_RLE_BMP_PIXELS``).
"""

from __future__ import annotations

import math
import struct
from typing import Any

from PIL import BmpImagePlugin, ImageFile

from shared.core.errors import ErrorCode
from shared.imaging.failures import image_error
from shared.imaging.formats.spec import ImageFormat

#: The RLE decoder's bytearray (with its growth slack) and the bytes copy, per pixel byte.
RLE_BUFFER_FACTOR = 2.25
#: RLE BMPs above this many pixels are refused: Pillow's pure-Python RLE decoder pads each row one
#: byte at a time, about 0.1 us a pixel, so 11800x11800 took 14 s.
MAX_RLE_BMP_PIXELS = 40_000_000
#: DIB header sizes Pillow's BMP decoder understands; checking them keeps text that happens to
#: start with "BM" out of the BMP decoder (it is ``unknown``, not a corrupt bitmap).
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def _is_bmp(data: bytes) -> bool:
    return data.startswith(b"BM") and len(data) >= 18 and struct.unpack_from("<I", data, 14)[0] in _BMP_HEADER_SIZES


def _rle_memory(image: ImageFile.ImageFile, _data: bytes, _layout: Any, _budget: int) -> int:
    """The RLE decoder's buffers; an RLE BMP over ``MAX_RLE_BMP_PIXELS`` is refused."""
    width, height = image.size
    if not (image.tile and image.tile[0][0] == "bmp_rle"):
        return 0
    if width * height > MAX_RLE_BMP_PIXELS:
        raise image_error(
            ErrorCode.IMAGE_TOO_COMPLEX,
            f"an RLE-compressed BMP of {width}x{height} = {width * height:,} pixels: more than "
            f"{MAX_RLE_BMP_PIXELS:,}, which the RLE decoder (pure Python) cannot decode in time; "
            "save it uncompressed or as PNG",
            format="BMP",
            width=width,
            height=height,
            mode=image.mode,
            limit="rle-bmp-pixels",
            max_pixels=MAX_RLE_BMP_PIXELS,
        )
    return math.ceil(RLE_BUFFER_FACTOR * width * height)


def _decoder() -> type[ImageFile.ImageFile]:
    return BmpImagePlugin.BmpImageFile


FORMAT = ImageFormat("BMP", matches=_is_bmp, decoder=_decoder, decoder_bytes=_rle_memory)
