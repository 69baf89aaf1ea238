"""Canvas sizes read straight from raw header bytes, for the decoders that act on size while opening.

Most of Pillow's decoders only parse their header when opened, so the pixel cap can be checked on
the size they report.  Two act on the size first: the WebP decoder allocates its canvas while
opening, and the GIF decoder grows the canvas to the first frame's extent and runs Pillow's
process-wide bomb check on it.  For those the size is read here, before Pillow sees the bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from PIL import Image

from shared.imaging.geometry import Size


def raw_canvas(fmt: str, data: bytes) -> Size | None:
    """The canvas the decoder will use, for formats where it matters before opening; else ``None``."""
    if fmt == "WEBP":
        return webp_canvas(data)
    if fmt == "GIF":
        return gif_canvas(data)
    return None


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


def gif_canvas(data: bytes) -> Size | None:
    """The logical screen, grown to the first frame's extent the way Pillow grows it.

    A GIF can declare a 1x1 screen and a 65535x65535 first frame; Pillow then enlarges the image
    to the frame, so the cap has to be checked against the frame.
    """
    if len(data) < 13:
        return None
    width, height = struct.unpack_from("<HH", data, 6)
    for pos in gif_image_descriptors(data):
        if pos + 9 > len(data):
            break
        left, top, frame_w, frame_h = struct.unpack_from("<4H", data, pos + 1)
        return max(width, left + frame_w), max(height, top + frame_h)
    return width, height


def gif_image_descriptors(data: bytes) -> Iterator[int]:
    """Where each image descriptor (0x2C) of a GIF starts, in order: the one walk of a GIF's
    blocks, skipping extensions and image data by their sub-block lengths (nothing is decoded).
    Ends at the trailer, at a byte that starts no block (the decoder judges that), or at the end."""
    if len(data) < 13:
        return
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < len(data):
        block = data[pos]
        if block == 0x2C:
            yield pos
            if pos + 10 > len(data):
                return
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = _skip_sub_blocks(data, pos + 1)  # past the LZW code size, then the data
        elif block == 0x21:
            pos = _skip_sub_blocks(data, pos + 2)
        else:
            return


def gif_screen(data: bytes) -> Size | None:
    """The GIF logical screen size as declared (before any frame grows it)."""
    if len(data) < 10:
        return None
    width, height = struct.unpack_from("<HH", data, 6)
    return width, height


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """Position after a chain of GIF data sub-blocks (length-prefixed, ended by a zero length)."""
    while pos < len(data) and data[pos] != 0:
        pos += data[pos] + 1
    return pos + 1


def pillow_would_object(pixels: int) -> bool:
    """Whether Pillow's own, process-wide bomb check would warn about (or refuse) this many pixels.

    Some decoders run that check internally while decoding (TIFF always, GIF when a frame outgrows
    the screen).  We read the threshold, never change it: callers refuse such images themselves
    with IMAGE_TOO_MANY_PIXELS, so Pillow's DecompressionBombWarning is never emitted.
    """
    threshold = Image.MAX_IMAGE_PIXELS
    return threshold is not None and pixels > threshold
