"""Decoders beyond Pillow's built-in ones, each in its own module, and what the rest of the image
stage needs to know about them: the decoder class for a sniffed format, the sample facts a probe
reports (bit depth, HDR), and the bytes a decode needs per pixel.

``tiff`` (Pillow's decoder under our pixel cap only), ``heif`` (HEIC/HEIF through pillow-heif and
AVIF through Pillow, both imported only when such a file arrives), ``tga`` (TGA 2.0 by its footer),
``exr`` (OpenEXR header in Python, pixels by the official bindings).
"""

from __future__ import annotations

from typing import Any

from PIL import ImageFile

from shared.imaging.modes import SIXTEEN_BIT_MODES

#: Formats whose pixels are scene-linear floats, rendered by ``shared.imaging.hdr``.
HDR_MODES = frozenset({"F"})


def sample_facts(image: ImageFile.ImageFile, fmt: str) -> dict[str, Any]:
    """``bit_depth``, ``hdr`` and ``sample_bytes`` for ``ImageInfo`` from an opened header.

    ``sample_bytes`` is what the decoder holds per pixel while decoding, when that is not simply
    Pillow's storage for the mode (0: use the mode's); see ``admission.estimate_decode_bytes``.
    """
    from shared.imaging.decoders.exr import ExrImageFile

    if isinstance(image, ExrImageFile):
        pixels = max(1, image.width * image.height)
        return {"bit_depth": image.exr.bit_depth, "hdr": True, "sample_bytes": -(-image.exr.decoded_bytes // pixels)}
    if fmt == "HEIF":
        from shared.imaging.decoders.heif import heif_sample_bytes

        depth = int(image.info.get("bit_depth", 8))
        return {"bit_depth": depth, "hdr": False, "sample_bytes": heif_sample_bytes(image.mode, depth)}
    if fmt == "AVIF":
        from shared.imaging.decoders.heif import AVIF_SAMPLE_BYTES

        return {"bit_depth": 8, "hdr": False, "sample_bytes": AVIF_SAMPLE_BYTES}
    if image.mode in HDR_MODES:
        return {"bit_depth": 32, "hdr": True, "sample_bytes": 0}
    if image.mode in SIXTEEN_BIT_MODES:
        return {"bit_depth": 16, "hdr": False, "sample_bytes": 0}
    if image.mode == "I":
        return {"bit_depth": 32, "hdr": False, "sample_bytes": 0}
    return {"bit_depth": 8, "hdr": False, "sample_bytes": 0}
