"""``ImageFormat``: what the image stage needs to know about one format, as data and hooks.

Each format module (``png``, ``jpeg``, ...) declares one ``ImageFormat`` and fills in only what
differs from the defaults here; ``probe``, ``normalize``, ``admission`` and the sandbox worker call
the hooks of the entry ``info.format`` names and never branch on format names.  A format without
a ``decoder`` is recognised only to be refused by name (``refused``).

The hooks run on hostile bytes.  Those that run before decoding are cheap (header fields, a walk
of block headers) and raise ``ThumbnailError`` for a refusal; ``decode`` raises what its decoder
raises for damage (``ValueError``, ``OSError``, ...), which ``normalize`` reports as ``CorruptImage``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile

from shared.imaging.geometry import Size
from shared.imaging.limits import ImageLimits
from shared.imaging.models import ImageInfo
from shared.imaging.modes import SIXTEEN_BIT_MODES
from shared.imaging.resize import Box

#: Modes whose pixels are scene-linear floats, rendered by ``shared.imaging.hdr``.
HDR_MODES = frozenset({"F"})

#: The decoder's own working memory for an opened image: (image, file bytes, what
#: ``check_structure`` returned, the memory budget) -> bytes; may refuse the image.
DecoderBytes = Callable[[ImageFile.ImageFile, bytes, Any, int], int]


def mode_sample_facts(image: ImageFile.ImageFile) -> dict[str, Any]:
    """``bit_depth`` and ``hdr`` for ``ImageInfo`` from the opened image's mode: what a Pillow
    decoder's mode says about the samples it stores."""
    if image.mode in HDR_MODES:
        return {"bit_depth": 32, "hdr": True}
    if image.mode in SIXTEEN_BIT_MODES:
        return {"bit_depth": 16, "hdr": False}
    if image.mode == "I":
        return {"bit_depth": 32, "hdr": False}
    return {"bit_depth": 8, "hdr": False}


def load(image: ImageFile.ImageFile, _data: bytes) -> Image.Image:
    """Pillow's own decode: the pixels are ``image`` itself."""
    image.load()
    return image


def _always(_limits: ImageLimits) -> bool:
    return True


def _available() -> bool:
    return True


def _nothing(_data: bytes) -> None:
    return None


def _no_bytes(_image: ImageFile.ImageFile, _data: bytes, _layout: Any, _budget: int) -> int:
    return 0


def _no_canvas(_data: bytes) -> Size | None:
    return None


def _no_opening_bytes(_data: bytes) -> int:
    return 0


def _keeps_canvas(_data: bytes, _canvas: Size) -> bool:
    return False


def _full_scale(_size: Size, _fit: Size) -> int:
    return 1


def _no_draft(_image: ImageFile.ImageFile, _request: Size) -> Box | None:
    return None


def _pillow_frame_bytes(info: ImageInfo) -> int:
    """A float image Pillow decodes: its ``F`` frame, 4 bytes a pixel."""
    return info.width * info.height * 4


def _no_preload() -> None:
    return None


@dataclass(frozen=True)
class ImageFormat:
    """One format: how its bytes are told, what bounds its structure, what its decoder costs, and
    how it is decoded.  ``name`` is Pillow's spelling of ``Image.format`` (``ImageInfo.format``)."""

    name: str
    #: Whether the leading (or, for TGA, trailing) bytes are this format's signature.
    matches: Callable[[bytes], bool]
    #: The one decoder class (imported when called: heavy plugins load on first use); ``None`` for
    #: a format recognised only to be refused by name.
    decoder: Callable[[], type[ImageFile.ImageFile]] | None = None
    #: Whether this configuration decodes it, and the refusal's message when it does not.
    enabled: Callable[[ImageLimits], bool] = _always
    disabled_message: str = ""
    #: Whether this build's libraries can decode it, and the refusal's message when they cannot.
    available: Callable[[], bool] = _available
    unavailable_message: str = ""
    #: Walk the block headers and refuse a structure over its bounds (nothing is decoded); what it
    #: returns is passed to ``decoder_bytes`` (the JPEG walk's sampling and scan count).
    check_structure: Callable[[bytes], Any] = _nothing
    #: The canvas read from raw header bytes, for decoders that allocate or grow it while opening.
    raw_canvas: Callable[[bytes], Size | None] = _no_canvas
    #: Bytes the decoder allocates merely by opening the file (before ``probe`` can see its size).
    opening_bytes: Callable[[bytes], int] = _no_opening_bytes
    #: Whether opening grows the declared canvas to ``raw_canvas`` and runs Pillow's own bomb check
    #: on it (GIF); ``probe`` then refuses what that check would object to.
    grows_canvas: Callable[[bytes, Size], bool] = _keeps_canvas
    #: The decoder's working memory beyond Pillow's frame (``ImageInfo.decoder_bytes``).
    decoder_bytes: DecoderBytes = _no_bytes
    #: ``bit_depth`` and ``hdr`` for ``ImageInfo``, from the opened header.
    sample_facts: Callable[[ImageFile.ImageFile], dict[str, Any]] = mode_sample_facts
    #: The planned decode scale for (image size, fitted size): 1, or a DCT scale's denominator.
    decode_scale: Callable[[Size, Size], int] = _full_scale
    #: Ask the opened decoder for a reduced decode of at least the requested size; the picture's
    #: region in decoded pixels, or ``None`` when it decodes at full size.
    draft: Callable[[ImageFile.ImageFile, Size], Box | None] = _no_draft
    #: The pixels, with the damage checks the format allows (strict libjpeg, PNG CRCs).
    decode: Callable[[ImageFile.ImageFile, bytes], Image.Image] = load
    #: Decoded modes the resize works on as they are (no converted full-size copy).
    resized_as_decoded: frozenset[str] = frozenset()
    #: An HDR decode's memory beyond ``ImageInfo.decoder_bytes`` (Pillow's float frame by default).
    hdr_decode_bytes: Callable[[ImageInfo], int] = _pillow_frame_bytes
    #: Import what decoding it needs, before a worker sets a job's address-space limit.
    preload: Callable[[], None] = _no_preload

    @property
    def decoded(self) -> bool:
        """Whether the image stage decodes this format at all (else it is only named in refusals)."""
        return self.decoder is not None
