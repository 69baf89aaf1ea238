"""GIF: its signature, the one walk of its blocks (frame count and bound), and its raw canvas.

Pillow's GIF decoder grows the canvas to the first frame's extent while opening and runs Pillow's
process-wide bomb check on it, so the canvas is read here from the raw bytes, before Pillow sees
them: a GIF can declare a 1x1 screen and a 65535x65535 first frame.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from PIL import GifImagePlugin, ImageFile

from shared.imaging.formats.bounds import MAX_FRAMES, too_complex
from shared.imaging.formats.spec import ImageFormat
from shared.imaging.geometry import Size


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


def count_gif_frames(data: bytes) -> int:
    """Image descriptors in a GIF; ImageTooComplex past ``MAX_FRAMES``."""
    frames = 0
    for _position in gif_image_descriptors(data):
        frames += 1
        if frames > MAX_FRAMES:
            raise too_complex("frames", "GIF", f"more than {MAX_FRAMES:,} frames", data, MAX_FRAMES)
    return max(1, frames)


def _grows_canvas(data: bytes, canvas: Size) -> bool:
    """Whether the first frame outgrows the declared screen (Pillow then enlarges the image)."""
    return canvas != gif_screen(data)


def _decoder() -> type[ImageFile.ImageFile]:
    return GifImagePlugin.GifImageFile


FORMAT = ImageFormat(
    "GIF",
    matches=lambda data: data.startswith((b"GIF87a", b"GIF89a")),
    decoder=_decoder,
    check_structure=count_gif_frames,
    raw_canvas=gif_canvas,
    grows_canvas=_grows_canvas,
)
