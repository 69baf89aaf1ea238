"""Targa (TGA), which 3ds Max and other renderers still write.

TGA has no leading magic number: its first bytes are small integers that many files share (an ICO
header can look like one).  Only a TGA 2.0 file can be told from its bytes, by the footer
``TRUEVISION-XFILE.\\0`` in its last 18 bytes; a TGA without it is ``unknown``.  The pixels are
decoded by Pillow's TGA plugin (uncompressed and RLE, 8/16/24/32 bits).
"""

from __future__ import annotations

from PIL import ImageFile, TgaImagePlugin

from shared.imaging.formats.spec import ImageFormat

FOOTER = b"TRUEVISION-XFILE.\x00"


def is_tga2(data: bytes) -> bool:
    """Whether the bytes end with the TGA 2.0 footer (and are long enough to hold a header)."""
    return len(data) >= 18 + 26 and data.endswith(FOOTER)


def tga_decoder() -> type[ImageFile.ImageFile]:
    return TgaImagePlugin.TgaImageFile


FORMAT = ImageFormat("TGA", matches=is_tga2, decoder=tga_decoder)
