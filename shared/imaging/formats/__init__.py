"""Which decoders may read a blob, and how its format is told from its bytes: the format registry.

The format is decided from the leading bytes only, never from the blob's name or content type:
renderers and people mislabel files, and a name is attacker-controlled.  Each decoded format has
exactly one Pillow decoder class, so a blob is only ever parsed by the decoder its own magic bytes
name; Pillow's ``Image.open`` would instead offer it to every registered plugin (PSD, EPS through
Ghostscript, ...) and apply Pillow's process-wide bomb limit, which is not ours.

``FORMATS`` is the one ordered tuple of every format, decoded and refused alike, in the order
``sniff`` tries their signatures.  Each entry is an ``ImageFormat`` (``spec``) declared by its own
module; formats recognised but refused (SVG, PDF, PSD, ...) are in ``refused``, so the error says
what the file was; anything else is ``unknown``.  Every function here takes the registry as a
parameter (``FORMATS`` by default), so a caller or a test can run the stage over another one.
"""

from __future__ import annotations

from PIL import ImageFile

from shared.core.errors import ErrorCode
from shared.imaging.failures import image_error
from shared.imaging.formats import avif, bmp, exr, gif, heif, jpeg, png, refused, tga, tiff, webp
from shared.imaging.formats.spec import ImageFormat
from shared.imaging.limits import ImageLimits

#: Sniffing order.  Leading magic numbers come before TGA's trailing footer (any file can end with
#: that footer: an EXR with a TGA 2.0 footer is an EXR), ICO's 4-byte magic after TGA (a Targa
#: header can produce it), and the text formats last.
FORMATS: tuple[ImageFormat, ...] = (
    png.FORMAT,
    jpeg.FORMAT,
    gif.FORMAT,
    webp.FORMAT,
    bmp.FORMAT,
    tiff.FORMAT,
    refused.PDF,
    refused.EPS,
    refused.PSD,
    refused.SVG,
    avif.FORMAT,
    heif.FORMAT,
    refused.JPEG2000,
    refused.JPEGXL,
    exr.FORMAT,
    refused.HDR,
    refused.QOI,
    refused.DDS,
    refused.ZIP,
    refused.GZIP,
    tga.FORMAT,
    refused.ICO,
    refused.HTML,
    refused.XML,
)


def sniff(data: bytes, formats: tuple[ImageFormat, ...] = FORMATS) -> str | None:
    """The format named by the bytes (decoded or refused), or ``None`` if nothing matches."""
    found = sniffed(data, formats)
    return None if found is None else found.name


def sniffed(data: bytes, formats: tuple[ImageFormat, ...] = FORMATS) -> ImageFormat | None:
    """The first entry whose signature the bytes match, or ``None``."""
    return next((entry for entry in formats if entry.matches(data)), None)


def format_named(name: str | None, formats: tuple[ImageFormat, ...] = FORMATS) -> ImageFormat:
    """The entry for ``ImageInfo.format``; a name the registry does not hold gets the defaults (an
    ``ImageInfo`` built by hand, which no decoder made)."""
    found = _named(name, formats)
    return found if found is not None else ImageFormat(name or "unknown", matches=_never)


def _named(name: str | None, formats: tuple[ImageFormat, ...]) -> ImageFormat | None:
    return next((entry for entry in formats if entry.name == name), None)


def allowed_formats(limits: ImageLimits, formats: tuple[ImageFormat, ...] = FORMATS) -> tuple[str, ...]:
    """The formats this configuration decodes (TIFF only while ``allow_tiff`` is on), in sniffing order."""
    return tuple(entry.name for entry in formats if entry.decoded and entry.enabled(limits))


def decoder_for(
    fmt: str | None, limits: ImageLimits, size: int, formats: tuple[ImageFormat, ...] = FORMATS
) -> type[ImageFile.ImageFile]:
    """The one decoder class for a sniffed format, or UNSUPPORTED_IMAGE_FORMAT naming what it was."""
    entry = _named(fmt, formats)
    if entry is not None and entry.decoder is not None and entry.enabled(limits) and entry.available():
        return entry.decoder()
    accepted = ", ".join(allowed_formats(limits, formats))
    if entry is not None and entry.decoded and not entry.enabled(limits):
        message = entry.disabled_message
    elif entry is not None and entry.decoded:
        message = entry.unavailable_message
    elif fmt is None:
        message = f"the bytes are not an image format this app knows; accepted: {accepted}"
    else:
        message = f"{fmt} is not an accepted image format; accepted: {accepted}"
    raise image_error(ErrorCode.UNSUPPORTED_IMAGE_FORMAT, message, format=fmt or "unknown", bytes=size)


def opening_bytes(data: bytes, formats: tuple[ImageFormat, ...] = FORMATS) -> int:
    """What merely opening the file allocates (``probe`` does that much), from its raw header."""
    found = sniffed(data, formats)
    return 0 if found is None else found.opening_bytes(data)


def preload(fmt: str | None, hdr: bool, formats: tuple[ImageFormat, ...] = FORMATS) -> None:
    """Import the libraries decoding ``fmt`` will need (the format's own ``preload``; numpy for
    HDR), so a worker can load them before it sets a job's address-space limit: their code and
    tables are the worker's own, not the job's, and an import that fails under the limit would
    read as the file's fault."""
    if fmt is not None:
        format_named(fmt, formats).preload()
    if hdr:
        import numpy  # noqa: F401


def _never(_data: bytes) -> bool:
    return False
