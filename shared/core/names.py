"""User-supplied text in HTTP headers and blob metadata: percent-encoded on the way in, decoded on
the way out.

A blob name may hold any Unicode character (``Ansicht Süd \u2013 東京.png``, ``emoji 🚀 render.png``,
``a # b % c.png``), but a metadata value travels as an HTTP header, which carries ASCII only.  So no
user string ever goes into a header raw: :func:`to_header` turns it into plain ASCII that
:func:`from_header` turns back into exactly the same string (NFD stays NFD).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

#: ASCII a header value may hold as it is; everything else (``%`` included) is percent-encoded.
_SAFE = "-._~!$'()*,;:@=+&[]{} "


def to_header(text: str) -> str:
    """``text`` as an ASCII header value (UTF-8, percent-encoded): reversible by :func:`from_header`."""
    return quote(text, safe=_SAFE, encoding="utf-8", errors="strict").replace(" ", "%20")


def from_header(value: str) -> str:
    """The string :func:`to_header` encoded."""
    return unquote(value, encoding="utf-8", errors="strict")


def utf16_length(text: str) -> int:
    """Length as Azure Storage counts a blob name's characters (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
