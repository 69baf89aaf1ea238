"""Decoders beyond Pillow's built-in ones, each in its own module, and what the rest of the image
stage needs to know about them: the decoder class for a sniffed format, the sample facts a probe
reports (bit depth, HDR), and the bytes a decode needs per pixel.

``tiff`` (Pillow's decoder under our pixel cap only), ``heif`` (HEIC/HEIF through pillow-heif and
AVIF through Pillow, both imported only when such a file arrives), ``tga`` (TGA 2.0 by its footer),
``exr`` (OpenEXR header in Python, pixels by the official bindings).  Their memory beyond Pillow's
frame is ``extra_decoder_bytes``, which ``probe`` adds to ``ImageInfo.decoder_bytes``.
"""

from __future__ import annotations

from typing import Any

from PIL import ImageFile

from shared.imaging.modes import SIXTEEN_BIT_MODES

#: Formats whose pixels are scene-linear floats, rendered by ``shared.imaging.hdr``.
HDR_MODES = frozenset({"F"})


def sample_facts(image: ImageFile.ImageFile, fmt: str) -> dict[str, Any]:
    """``bit_depth`` and ``hdr`` for ``ImageInfo``, from an opened header."""
    from shared.imaging.decoders.exr import ExrImageFile

    if isinstance(image, ExrImageFile):
        return {"bit_depth": image.exr.bit_depth, "hdr": True}
    if fmt == "HEIF":
        return {"bit_depth": int(image.info.get("bit_depth", 8)), "hdr": False}
    if image.mode in HDR_MODES:
        return {"bit_depth": 32, "hdr": True}
    if image.mode in SIXTEEN_BIT_MODES:
        return {"bit_depth": 16, "hdr": False}
    if image.mode == "I":
        return {"bit_depth": 32, "hdr": False}
    if fmt == "TIFF":  # Pillow reads 16-bit colour TIFFs as 8-bit RGB(A); the header says what was stored
        stored = getattr(image, "tag_v2", {}).get(258)  # BitsPerSample, one value per sample
        if isinstance(stored, tuple) and stored and all(isinstance(bits, int) for bits in stored):
            return {"bit_depth": max(stored), "hdr": False}
    return {"bit_depth": 8, "hdr": False}


def extra_decoder_bytes(image: ImageFile.ImageFile, fmt: str, size: int = 0) -> int:
    """What these decoders hold while decoding beyond Pillow's frame (``ImageInfo.decoder_bytes``,
    added to ``decoder_memory.decoder_bytes``): libheif's and libavif's planes and buffers; for an
    EXR, the beauty channels as stored (only they are decoded; the HDR estimate counts no Pillow
    frame for it).  ``size`` is the file's length: pillow-heif copies a HEIF's boxes (an ICC
    profile of many MB) while opening it."""
    from shared.imaging.decoders.exr import ExrImageFile

    pixels = image.width * image.height
    if isinstance(image, ExrImageFile):
        return image.exr.decoded_bytes
    if fmt == "HEIF":
        from shared.imaging.decoders.heif import HEIF_OPENING_COPIES, heif_extra_bytes_per_pixel

        planes = pixels * heif_extra_bytes_per_pixel(image.mode, int(image.info.get("bit_depth", 8)))
        return planes + HEIF_OPENING_COPIES * size
    if fmt == "AVIF":
        from shared.imaging.decoders.heif import AVIF_EXTRA_BYTES_PER_PIXEL

        return pixels * AVIF_EXTRA_BYTES_PER_PIXEL
    return 0


def preload(fmt: str | None, hdr: bool) -> None:
    """Import the libraries decoding ``fmt`` will need (numpy with simplejpeg for JPEG; numpy for
    HDR), so a worker can load them before it sets a job's address-space limit: their code and
    tables are the worker's own, not the job's, and an import that fails under the limit would
    read as the file's fault."""
    if fmt == "JPEG":
        import simplejpeg  # noqa: F401
    if hdr:
        import numpy  # noqa: F401
