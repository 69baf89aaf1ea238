"""WebP: its signature, its raw canvas, and the canvas copies its decoder makes.

Pillow's WebP decoder allocates its canvases while opening, so the canvas is read from the first
chunk's raw bytes and the pixel cap checked before the decoder runs.  libwebp's animation decoder
keeps two canvases, and the frame is copied into a ``bytes`` object and then into the image (a
lossless 11800x11800: 2.15 GB, against a bitmap of 549 MB).
"""

from __future__ import annotations

import struct
from typing import Any

from PIL import ImageFile, WebPImagePlugin

from shared.imaging.formats.spec import ImageFormat
from shared.imaging.geometry import Size

#: Canvas-sized copies the WebP path makes beyond the image itself (two decoder canvases, bytes).
WEBP_EXTRA_COPIES = 3


def webp_canvas(data: bytes) -> Size | None:
    """Canvas size from the first WebP chunk (VP8X extended, VP8L lossless or VP8 lossy)."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None


def opening_bytes(data: bytes) -> int:
    """What opening allocates: the decoder's canvas copies, from the raw header."""
    canvas = webp_canvas(data)
    return 0 if canvas is None else WEBP_EXTRA_COPIES * canvas[0] * canvas[1] * 4


def _canvas_copies(image: ImageFile.ImageFile, _data: bytes, _layout: Any, _budget: int) -> int:
    return WEBP_EXTRA_COPIES * image.width * image.height * 4


def _decoder() -> type[ImageFile.ImageFile]:
    return WebPImagePlugin.WebPImageFile


FORMAT = ImageFormat(
    "WEBP",
    matches=lambda data: data.startswith(b"RIFF") and data[8:12] == b"WEBP",
    decoder=_decoder,
    raw_canvas=webp_canvas,
    opening_bytes=opening_bytes,
    decoder_bytes=_canvas_copies,
)
