"""Targa (TGA), which 3ds Max and other renderers still write.

TGA has no leading magic number: its first bytes are small integers that many files share (an ICO
header can look like one).  Only a TGA 2.0 file can be told from its bytes, by the footer
``TRUEVISION-XFILE.\\0`` in its last 18 bytes; a TGA without it is ``unknown``.  The pixels are
decoded by Pillow's TGA plugin (uncompressed and RLE, 8/16/24/32 bits).

A colour map means something only for a colour-mapped image (types 1 and 9): for grey and
true-colour images (types 2, 3, 10, 11) the pixels are "a direct representation" of the colour
(Truevision TGA 2.0 specification, image types), and a writer may include a map for other
applications' use.  Pillow attaches the map to such an image anyway, and realising it turns a grey
and alpha image into palette data while loading; ``Tga`` drops it, so the pixels are read as the
image type says.
"""

from __future__ import annotations

from PIL import ImageFile, TgaImagePlugin

from shared.imaging.formats.spec import ImageFormat

FOOTER = b"TRUEVISION-XFILE.\x00"


def is_tga2(data: bytes) -> bool:
    """Whether the bytes end with the TGA 2.0 footer (and are long enough to hold a header)."""
    return len(data) >= 18 + 26 and data.endswith(FOOTER)


#: Image types whose pixels are indices into the colour map (uncompressed and RLE).
_COLOUR_MAPPED_TYPES = frozenset({1, 9})


class Tga(TgaImagePlugin.TgaImageFile):
    """Pillow's TGA decoder, ignoring a colour map on an image that is not colour-mapped."""

    def _open(self) -> None:
        super()._open()
        source = self.fp
        assert source is not None  # Pillow opens from the file it was given
        position = source.tell()
        source.seek(2)
        if source.read(1)[0] not in _COLOUR_MAPPED_TYPES:
            self.palette = None
        source.seek(position)


def tga_decoder() -> type[ImageFile.ImageFile]:
    return Tga


FORMAT = ImageFormat("TGA", matches=is_tga2, decoder=tga_decoder)
