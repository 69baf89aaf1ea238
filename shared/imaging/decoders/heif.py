"""HEIC/HEIF site photos (pillow-heif) and AVIF (Pillow's own plugin), both ISO-BMFF files told
apart by their ``ftyp`` brand (``formats.sniff``).

pillow-heif is the maintained Pillow plugin for libheif (HEVC through libde265).  Its class is used
directly, like every other decoder here: ``register_heif_opener`` is never called, so no other
code path's ``Image.open`` starts parsing HEIF, and the library is imported only when a HEIF file
is decoded.  libheif applies the file's rotation and mirror boxes (``irot``/``imir``) while
decoding and pillow-heif resets the EXIF orientation to 1, so the photo comes out upright and is
not rotated twice.  10- and 12-bit photos are decoded to 8 bits per channel (what the thumbnail
stores).

AVIF uses Pillow's plugin (libavif), present in Pillow's wheels; a build without it is told by
``PIL.features.check("avif")``, and such a build refuses AVIF as UnsupportedImageFormat.
"""

from __future__ import annotations

from PIL import ImageFile, features

#: Bytes a pixel Pillow's AVIF plugin holds beside Pillow's frame: libavif's YUV planes (up to 3 B
#: at 4:4:4, 8-bit) and its RGBA conversion buffer (4 B).  bench/formats_bench.py measures it.
AVIF_EXTRA_BYTES_PER_PIXEL = 7

#: Copies of the file pillow-heif and libheif hold while opening it: measured, a HEIC with a
#: 24 MiB ICC profile added 96 MiB of RSS to a probe (8 MiB: 32 MiB), whatever the picture's size.
HEIF_OPENING_COPIES = 4


def heif_extra_bytes_per_pixel(mode: str, bit_depth: int) -> int:
    """Bytes a pixel pillow-heif holds beside Pillow's frame: libheif's YUV planes (3 B at 4:4:4,
    6 B above 8 bits) and its interleaved RGB(A) output (twice as wide above 8 bits, then converted
    to 8 bits: another copy)."""
    channels = 4 if mode == "RGBA" else 3
    deep = bit_depth > 8
    yuv = 6 if deep else 3
    interleaved = channels * (2 + 1) if deep else channels
    return yuv + interleaved


def heif_decoder() -> type[ImageFile.ImageFile]:
    """pillow-heif's decoder class, imported on first use."""
    from pillow_heif.as_plugin import HeifImageFile

    return HeifImageFile


def avif_available() -> bool:
    """Whether this Pillow build reads AVIF."""
    return bool(features.check("avif"))


def avif_decoder() -> type[ImageFile.ImageFile]:
    from PIL import AvifImagePlugin

    return AvifImagePlugin.AvifImageFile
