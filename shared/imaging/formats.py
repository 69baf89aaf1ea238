"""Which decoders may read a blob, and how its format is told from its bytes.

The format is decided from the leading bytes only, never from the blob's name or content type:
renderers and people mislabel files, and a name is attacker-controlled.  Each allowed format maps
to exactly one Pillow decoder class, so a blob is only ever parsed by the decoder its own magic
bytes name; Pillow's ``Image.open`` would instead offer it to every registered plugin (PSD, EPS
through Ghostscript, ...) and apply Pillow's process-wide bomb limit, which is not ours.

Formats we recognise but refuse (SVG, PDF, PSD, ...) are named so the error says what the file
was; anything else is ``unknown``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from shared.core.errors import ErrorCode
from shared.imaging.decoders.exr import MAGIC as EXR_MAGIC
from shared.imaging.decoders.exr import ExrImageFile
from shared.imaging.decoders.heif import avif_available, avif_decoder, heif_decoder
from shared.imaging.decoders.tga import is_tga2, tga_decoder
from shared.imaging.decoders.tiff import CappedTiffImageFile
from shared.imaging.failures import image_error
from shared.imaging.limits import ImageLimits

#: Decoders allowed by default, in the spelling Pillow uses for ``Image.format`` (TIFF as well
#: unless ``ALLOW_TIFF=false``).
DEFAULT_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "AVIF", "HEIF", "OPENEXR", "TGA")

_DECODERS: dict[str, type[ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "GIF": GifImagePlugin.GifImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
    "TIFF": CappedTiffImageFile,
    "OPENEXR": ExrImageFile,
}

#: Decoders imported on first use (a plugin library that most drops never need).
_LAZY_DECODERS: dict[str, Callable[[], type[ImageFile.ImageFile]]] = {
    "HEIF": heif_decoder,
    "AVIF": avif_decoder,
    "TGA": tga_decoder,
}

#: DIB header sizes Pillow's BMP decoder understands; checking them keeps text that happens to
#: start with "BM" out of the BMP decoder (it is ``unknown``, not a corrupt bitmap).
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_TIFF_PREFIXES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}


def allowed_formats(limits: ImageLimits) -> tuple[str, ...]:
    """The formats this configuration decodes: the defaults, plus TIFF unless ``allow_tiff`` is off."""
    return (*DEFAULT_FORMATS, "TIFF") if limits.allow_tiff else DEFAULT_FORMATS


def decoder_for(fmt: str | None, limits: ImageLimits, size: int) -> type[ImageFile.ImageFile]:
    """The one decoder class for a sniffed format, or UNSUPPORTED_IMAGE_FORMAT naming what it was."""
    allowed = allowed_formats(limits)
    if fmt is not None and fmt in allowed and (fmt != "AVIF" or avif_available()):
        return _LAZY_DECODERS[fmt]() if fmt in _LAZY_DECODERS else _DECODERS[fmt]
    accepted = ", ".join(allowed)
    if fmt == "AVIF":
        message = "AVIF is not readable by this build (Pillow without libavif); drop PNG or JPEG instead"
    elif fmt == "TIFF":
        message = "TIFF images are not accepted here (ALLOW_TIFF=false turned them off)"
    elif fmt is None:
        message = f"the bytes are not an image format this app knows; accepted: {accepted}"
    else:
        message = f"{fmt} is not an accepted image format; accepted: {accepted}"
    raise image_error(ErrorCode.UNSUPPORTED_IMAGE_FORMAT, message, format=fmt or "unknown", bytes=size)


def sniff(data: bytes) -> str | None:
    """The format named by the leading bytes (allowed or not), or ``None`` if nothing matches."""
    for name, matches in _SIGNATURES:
        if matches(data):
            return name
    return None


def _is_bmp(data: bytes) -> bool:
    return data.startswith(b"BM") and len(data) >= 18 and struct.unpack_from("<I", data, 14)[0] in _BMP_HEADER_SIZES


def _is_webp(data: bytes) -> bool:
    return data.startswith(b"RIFF") and data[8:12] == b"WEBP"


def _is_ico(data: bytes) -> bool:
    """ICO/CUR: a 4-byte magic that Targa headers can also produce, so the entry count must be
    plausible and the first entry's reserved byte zero."""
    return (
        data.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"))
        and len(data) >= 22
        and struct.unpack_from("<H", data, 4)[0] > 0
        and data[9] == 0
    )


def _iso_brand(data: bytes) -> bytes | None:
    """The major brand of an ISO-BMFF file (AVIF, HEIF), which has no fixed leading magic."""
    return data[8:12] if data[4:8] == b"ftyp" else None


def _is_avif(data: bytes) -> bool:
    """AVIF by its major brand, or a generic HEIF brand (``mif1``/``msf1``, which some encoders
    write first) with ``avif``/``avis`` among the compatible brands and no HEVC brand: such a
    file holds AV1, which only the AVIF decoder reads."""
    major = _iso_brand(data)
    if major in _AVIF_BRANDS:
        return True
    if major not in (b"mif1", b"msf1"):
        return False
    size = int.from_bytes(data[0:4], "big")
    compatible = {data[at : at + 4] for at in range(16, min(size, len(data), 256) - 3, 4)}
    return bool(compatible & _AVIF_BRANDS) and not compatible & (_HEIF_BRANDS - {b"mif1", b"msf1"})


def _text_head(data: bytes) -> str:
    """The first KiB as lower-case text with BOM and leading whitespace removed (SVG, HTML, XML)."""
    head = data[:1024]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.decode("latin-1").lstrip().lower()


def _is_svg(data: bytes) -> bool:
    text = _text_head(data)
    return text.startswith("<svg") or (text.startswith(("<?xml", "<!--", "<!doctype svg")) and "<svg" in text)


def _is_html(data: bytes) -> bool:
    return _text_head(data).startswith(("<!doctype html", "<html"))


_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("PNG", lambda d: d.startswith(b"\x89PNG\r\n\x1a\n")),
    ("JPEG", lambda d: d.startswith(b"\xff\xd8\xff")),
    ("GIF", lambda d: d.startswith((b"GIF87a", b"GIF89a"))),
    ("WEBP", _is_webp),
    ("BMP", _is_bmp),
    ("TIFF", lambda d: d.startswith(_TIFF_PREFIXES)),
    ("PDF", lambda d: b"%PDF-" in d[:1024]),
    ("EPS", lambda d: d.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6"))),
    ("PSD", lambda d: d.startswith(b"8BPS")),
    ("SVG", _is_svg),
    ("AVIF", _is_avif),
    ("HEIF", lambda d: _iso_brand(d) in _HEIF_BRANDS),
    ("JPEG2000", lambda d: d.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"))),
    ("JPEGXL", lambda d: d.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n"))),
    # Leading magic numbers before TGA's trailing footer: any file can end with that footer.
    ("OPENEXR", lambda d: d.startswith(EXR_MAGIC)),
    ("HDR", lambda d: d.startswith((b"#?RADIANCE", b"#?RGBE"))),
    ("QOI", lambda d: d.startswith(b"qoif")),
    ("DDS", lambda d: d.startswith(b"DDS ")),
    ("ZIP", lambda d: d.startswith(b"PK\x03\x04")),
    ("GZIP", lambda d: d.startswith(b"\x1f\x8b")),
    ("TGA", is_tga2),
    ("ICO", _is_ico),
    ("HTML", _is_html),
    ("XML", lambda d: _text_head(d).startswith("<?xml")),
)
