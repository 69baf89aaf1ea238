"""Formats recognised by their signatures only to be refused by name: the error then says what
the file was (``details.format``: ``PDF``, ``SVG``, ...) instead of ``unknown``.

None has a decoder; where each is tried in the sniffing order (``formats.FORMATS``) matters: ICO's
4-byte magic can also begin a Targa file, so ICO comes after the TGA footer check, and the text
formats (SVG, HTML, XML) are told by a lower-cased look at the first KiB.
"""

from __future__ import annotations

import struct

from shared.imaging.formats.spec import ImageFormat


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


def _is_ico(data: bytes) -> bool:
    """ICO/CUR: a 4-byte magic that Targa headers can also produce, so the entry count must be
    plausible and the first entry's reserved byte zero."""
    return (
        data.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"))
        and len(data) >= 22
        and struct.unpack_from("<H", data, 4)[0] > 0
        and data[9] == 0
    )


PDF = ImageFormat("PDF", matches=lambda d: b"%PDF-" in d[:1024])
EPS = ImageFormat("EPS", matches=lambda d: d.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")))
PSD = ImageFormat("PSD", matches=lambda d: d.startswith(b"8BPS"))
SVG = ImageFormat("SVG", matches=_is_svg)
JPEG2000 = ImageFormat(
    "JPEG2000", matches=lambda d: d.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"))
)
JPEGXL = ImageFormat("JPEGXL", matches=lambda d: d.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")))
HDR = ImageFormat("HDR", matches=lambda d: d.startswith((b"#?RADIANCE", b"#?RGBE")))
QOI = ImageFormat("QOI", matches=lambda d: d.startswith(b"qoif"))
DDS = ImageFormat("DDS", matches=lambda d: d.startswith(b"DDS "))
ZIP = ImageFormat("ZIP", matches=lambda d: d.startswith(b"PK\x03\x04"))
GZIP = ImageFormat("GZIP", matches=lambda d: d.startswith(b"\x1f\x8b"))
ICO = ImageFormat("ICO", matches=_is_ico)
HTML = ImageFormat("HTML", matches=_is_html)
XML = ImageFormat("XML", matches=lambda d: _text_head(d).startswith("<?xml"))
