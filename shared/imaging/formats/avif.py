"""AVIF through Pillow's own plugin (libavif), told by its ISO-BMFF ``ftyp`` brands.

The plugin is present in Pillow's wheels; a build without it is told by
``PIL.features.check("avif")``, and such a build refuses AVIF as UnsupportedImageFormat.
"""

from __future__ import annotations

from typing import Any

from PIL import ImageFile, features

from shared.imaging.formats.heif import HEIF_BRANDS, iso_brand
from shared.imaging.formats.spec import ImageFormat

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})

#: Bytes a pixel Pillow's AVIF plugin holds beside Pillow's frame: libavif's YUV planes (up to 3 B
#: at 4:4:4, 8-bit) and its RGBA conversion buffer (4 B).  bench/formats_bench.py measures it.
AVIF_EXTRA_BYTES_PER_PIXEL = 7


def is_avif(data: bytes) -> bool:
    """AVIF by its major brand, or a generic HEIF brand (``mif1``/``msf1``, which some encoders
    write first) with ``avif``/``avis`` among the compatible brands and no HEVC brand: such a
    file holds AV1, which only the AVIF decoder reads."""
    major = iso_brand(data)
    if major in _AVIF_BRANDS:
        return True
    if major not in _GENERIC_BRANDS:
        return False
    size = int.from_bytes(data[0:4], "big")
    compatible = {data[at : at + 4] for at in range(16, min(size, len(data), 256) - 3, 4)}
    return bool(compatible & _AVIF_BRANDS) and not compatible & (HEIF_BRANDS - _GENERIC_BRANDS)


def avif_available() -> bool:
    """Whether this Pillow build reads AVIF."""
    return bool(features.check("avif"))


def avif_decoder() -> type[ImageFile.ImageFile]:
    from PIL import AvifImagePlugin

    return AvifImagePlugin.AvifImageFile


def _decoder_memory(image: ImageFile.ImageFile, _data: bytes, _layout: Any, _budget: int) -> int:
    return image.width * image.height * AVIF_EXTRA_BYTES_PER_PIXEL


FORMAT = ImageFormat(
    "AVIF",
    matches=is_avif,
    decoder=avif_decoder,
    available=avif_available,
    unavailable_message="AVIF is not readable by this build (Pillow without libavif); drop PNG or JPEG instead",
    decoder_bytes=_decoder_memory,
)
