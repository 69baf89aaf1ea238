"""PNG: its signature, the chunk-count bounds, the decoder's scanline memory, and the chunk CRCs,
which Pillow does not check for the pixel data.

Pillow verifies the CRC of the chunks it parses in Python (IHDR, PLTE, text, ...), but hands IDAT
(and APNG's fdAT) to zlib without looking at their CRC.  Damage that zlib's own Adler-32 and
structure do not catch (a flipped bit inside a stored or literal run, for example) would then
become a wrong thumbnail.  Every chunk's CRC-32 is checked here before the pixels are decoded:
zlib's CRC-32 ran at about 0.8 GB/s here (78 ms for 60 MiB), a small part of decoding that much PNG.

Pillow keeps every private chunk it parses: 16 M empty private chunks in 192 MB took 68 s and 2 GB,
so the chunks are counted first (``check_png``).  The decoder buffers its previous and current
scanline, large only for very wide images (a 139,000,000x1 row is 278 MB of scanlines).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from PIL import Image, ImageFile, PngImagePlugin

from shared.imaging.formats.bounds import too_complex
from shared.imaging.formats.spec import ImageFormat
from shared.imaging.threads import beside

SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Chunks before the first IDAT (metadata), and chunks in all.  A PNG from Pillow or libpng has a
#: few dozen chunks plus one IDAT per 8-64 KiB.
MAX_PNG_METADATA_CHUNKS = 4_096
MAX_PNG_CHUNKS = 100_000
#: Samples per pixel of each PNG colour type (IHDR), for the scanline size.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def check_png(data: bytes) -> int:
    """The number of chunks; ImageTooComplex past ``MAX_PNG_METADATA_CHUNKS`` before IDAT or
    ``MAX_PNG_CHUNKS`` in all.  A damaged chunk length just ends the walk: the decoder judges it."""
    pos, chunks, before_pixels = 8, 0, True
    while pos + 8 <= len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        kind = data[pos + 4 : pos + 8]
        chunks += 1
        if kind == b"IDAT":
            before_pixels = False
        elif before_pixels and chunks > MAX_PNG_METADATA_CHUNKS:
            raise too_complex(
                "png-metadata-chunks",
                "PNG",
                f"more than {MAX_PNG_METADATA_CHUNKS:,} chunks before the pixel data",
                data,
                MAX_PNG_METADATA_CHUNKS,
            )
        if chunks > MAX_PNG_CHUNKS:
            raise too_complex("png-chunks", "PNG", f"more than {MAX_PNG_CHUNKS:,} chunks", data, MAX_PNG_CHUNKS)
        if kind == b"IEND":
            break
        pos += 12 + length
    return chunks


def png_scanline_bytes(width: int, data: bytes) -> int:
    """One scanline as the PNG decoder buffers it: filter byte + ``width`` x bit depth x samples."""
    depth, colour = (data[24], data[25]) if len(data) >= 26 else (16, 6)
    bits = width * depth * _PNG_CHANNELS.get(colour, 4)
    return -(-bits // 8) + 1


def check_crcs(data: bytes) -> None:
    """Raise ValueError naming the first chunk whose CRC-32 does not match, or that is cut short.

    The walk stops at IEND; bytes after it are ignored (as every decoder does).
    """
    view = memoryview(data)
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            raise ValueError(f"the {_name(kind)} chunk at byte {pos:,} is cut short")
        (stored,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(view[pos + 4 : end]) != stored:
            raise ValueError(f"the {_name(kind)} chunk at byte {pos:,} fails its CRC check")
        if kind == b"IEND":
            return
        pos = end + 4
    raise ValueError("the PNG ends without an IEND chunk")


def _name(kind: bytes) -> str:
    return kind.decode("latin-1") if kind.isalpha() else repr(kind)


def _scanline_memory(image: ImageFile.ImageFile, data: bytes, _layout: Any, _budget: int) -> int:
    """The decoder's previous and current scanline."""
    return 2 * png_scanline_bytes(image.width, data)


def load_checked(image: ImageFile.ImageFile, data: bytes) -> Image.Image:
    """Pillow's decode (the pixels are ``image`` itself), with ``check_crcs(data)`` running on a
    second thread meanwhile.

    Both release the GIL (zlib's CRC-32 on large buffers; Pillow's decoder call), so the check
    (27 ms on its own for the 40.7 MB 8K RGB PNG) runs beside the decode instead of before it.
    A CRC failure wins over whatever the decode raised or returned: the pixels of a damaged file
    are not used.
    """
    failed: list[ValueError] = []

    def check() -> None:
        try:
            check_crcs(data)
        except ValueError as exc:
            failed.append(exc)

    try:
        beside(check, image.load)
    finally:
        if failed:
            raise failed[0]
    return image


def _decoder() -> type[ImageFile.ImageFile]:
    return PngImagePlugin.PngImageFile


FORMAT = ImageFormat(
    "PNG",
    matches=lambda data: data.startswith(SIGNATURE),
    decoder=_decoder,
    check_structure=check_png,
    decoder_bytes=_scanline_memory,
    decode=load_checked,
)
