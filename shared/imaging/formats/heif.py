"""HEIC/HEIF site photos through pillow-heif, told by their ISO-BMFF ``ftyp`` brand.

pillow-heif is the maintained Pillow plugin for libheif (HEVC through libde265).  Its class is used
directly, like every other decoder here: ``register_heif_opener`` is never called, so no other
code path's ``Image.open`` starts parsing HEIF, and the library is imported only when a HEIF file
is decoded.  libheif applies the file's rotation and mirror boxes (``irot``/``imir``) while
decoding and pillow-heif resets the EXIF orientation to 1, so the photo comes out upright and is
not rotated twice.  10- and 12-bit photos are decoded to 8 bits per channel (what the thumbnail
stores).  An AV1 file with a generic HEIF brand is AVIF (``avif``), tried first.
"""

from __future__ import annotations

from typing import Any

from PIL import ImageFile

from shared.imaging.formats.spec import ImageFormat

#: Major brands of HEVC HEIF files (``mif1``/``msf1`` are generic: AVIF checks them first).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"})

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


def iso_brand(data: bytes) -> bytes | None:
    """The major brand of an ISO-BMFF file (AVIF, HEIF), which has no fixed leading magic."""
    return data[8:12] if data[4:8] == b"ftyp" else None


def _sample_facts(image: ImageFile.ImageFile) -> dict[str, Any]:
    return {"bit_depth": int(image.info.get("bit_depth", 8)), "hdr": False}


def _decoder_memory(image: ImageFile.ImageFile, data: bytes, _layout: Any, _budget: int) -> int:
    """libheif's planes and buffers, and the copies of the file's boxes (an ICC profile of many
    MB) pillow-heif makes while opening it."""
    planes = image.width * image.height * heif_extra_bytes_per_pixel(image.mode, int(image.info.get("bit_depth", 8)))
    return planes + HEIF_OPENING_COPIES * len(data)


FORMAT = ImageFormat(
    "HEIF",
    matches=lambda data: iso_brand(data) in HEIF_BRANDS,
    decoder=heif_decoder,
    decoder_bytes=_decoder_memory,
    sample_facts=_sample_facts,
)
