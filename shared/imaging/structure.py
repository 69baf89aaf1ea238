"""Bounds on a file's structure, checked by walking its block headers before any decoder sees it.

Pillow parses some structure in Python, once per block: PNG chunks (16 M empty private chunks in
192 MB took 68 s and 2 GB, because Pillow keeps every private chunk), JPEG markers and fill bytes
(64 MB of 0xFF padding: 74 s), TIFF IFDs (Pillow's frame count is quadratic: 100,000 IFDs, 44 s) and
GIF frames.  libjpeg repeats its work once per progressive scan (2,000 scans of an 11800x11800
header: 37 s).  None of these has a use at such counts, so each is refused here with
``ImageTooComplex`` (``details.limit`` names the bound) after skipping from header to header, which
reads a few bytes per block and parses nothing.

The bounds are far above what encoders write: a PNG from Pillow or libpng has a few dozen chunks
plus one IDAT per 8-64 KiB; a JPEG has a handful of segments (a few hundred for a big XMP or ICC
split over APP markers) and at most ~20 progressive scans; a multi-page TIFF or an animated GIF is
rarely beyond a few hundred frames.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging.failures import image_error
from shared.imaging.headers import gif_image_descriptors

#: Chunks before the first IDAT (metadata), and chunks in all.
MAX_PNG_METADATA_CHUNKS = 4_096
MAX_PNG_CHUNKS = 100_000
#: Segments before the first scan, 0xFF fill bytes between them, and scans (SOS markers).
MAX_JPEG_MARKERS = 4_096
MAX_JPEG_FILL_BYTES = 65_536
MAX_JPEG_SCANS = 100
#: TIFF IFDs (pages) and GIF frames.
MAX_FRAMES = 10_000
#: Strips or tiles in one TIFF page: 16x16 tiles over a 140 MP frame are 547,000, one-row strips
#: of an 8K frame 4,320.
MAX_TIFF_CHUNKS = 1_048_576
_TIFF_CHUNK_TAGS = frozenset({273, 279, 324, 325})  # StripOffsets, StripByteCounts, TileOffsets, TileByteCounts

_FILL = re.compile(rb"\xff+")
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


@dataclass(frozen=True)
class JpegLayout:
    """What the JPEG walk learnt: the frame header's marker and components, and the scan count."""

    sof_marker: int | None
    components: tuple[tuple[int, int], ...]  # (horizontal, vertical) sampling of each component
    scans: int

    @property
    def buffered(self) -> bool:
        """Whether libjpeg keeps the whole image's coefficients: progressive, or more than one scan."""
        return self.sof_marker in (0xC2, 0xC6, 0xCA, 0xCE) or self.scans > 1


def check_structure(fmt: str, data: bytes) -> JpegLayout | None:
    """Refuse a blob whose block structure is over a bound (nothing is decoded); for a JPEG, what
    the walk learnt (the memory estimate needs its sampling and scan count)."""
    if fmt == "JPEG":
        return jpeg_layout(data)
    if fmt == "PNG":
        check_png(data)
    elif fmt == "TIFF":
        count_tiff_ifds(data)
    elif fmt == "GIF":
        count_gif_frames(data)
    return None


def check_png(data: bytes) -> int:
    """The number of chunks; ImageTooComplex past ``MAX_PNG_METADATA_CHUNKS`` before IDAT or
    ``MAX_PNG_CHUNKS`` in all.  A damaged chunk length just ends the walk: the decoder judges it."""
    pos, chunks, before_pixels = 8, 0, True
    while pos + 8 <= len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        kind = data[pos + 4 : pos + 8]
        chunks += 1
        if kind == b"IDAT":
            before_pixels = False
        elif before_pixels and chunks > MAX_PNG_METADATA_CHUNKS:
            raise _too_complex(
                "png-metadata-chunks",
                "PNG",
                f"more than {MAX_PNG_METADATA_CHUNKS:,} chunks before the pixel data",
                data,
                MAX_PNG_METADATA_CHUNKS,
            )
        if chunks > MAX_PNG_CHUNKS:
            raise _too_complex("png-chunks", "PNG", f"more than {MAX_PNG_CHUNKS:,} chunks", data, MAX_PNG_CHUNKS)
        if kind == b"IEND":
            break
        pos += 12 + length
    return chunks


def jpeg_layout(data: bytes) -> JpegLayout:
    """Walk the segments up to the first scan, then count the scans; ImageTooComplex past a bound."""
    pos, markers, fill = 2, 0, 0
    sof: int | None = None
    components: tuple[tuple[int, int], ...] = ()
    while pos < len(data):
        run = _FILL.match(data, pos)
        if run is None:
            break  # not at a marker: damaged, and the decoder will say so
        fill += run.end() - pos - 1
        if fill > MAX_JPEG_FILL_BYTES:
            raise _too_complex(
                "jpeg-fill",
                "JPEG",
                f"more than {MAX_JPEG_FILL_BYTES:,} 0xFF fill bytes between markers",
                data,
                MAX_JPEG_FILL_BYTES,
            )
        pos = run.end()
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        markers += 1
        if markers > MAX_JPEG_MARKERS:
            raise _too_complex(
                "jpeg-markers",
                "JPEG",
                f"more than {MAX_JPEG_MARKERS:,} markers before the first scan",
                data,
                MAX_JPEG_MARKERS,
            )
        if marker in _STANDALONE_MARKERS:
            continue
        if pos + 2 > len(data):
            break
        length = struct.unpack_from(">H", data, pos)[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and sof is None:
            sof, components = marker, _sampling(data, pos, length)
        if marker == 0xDA:
            scans = data.count(b"\xff\xda", pos - 2)
            if scans > MAX_JPEG_SCANS:
                raise _too_complex(
                    "jpeg-scans",
                    "JPEG",
                    f"{scans:,} scans, more than {MAX_JPEG_SCANS}",
                    data,
                    MAX_JPEG_SCANS,
                    scans=scans,
                )
            return JpegLayout(sof, components, scans)
        pos += length
    return JpegLayout(sof, components, 0)


def _sampling(data: bytes, pos: int, length: int) -> tuple[tuple[int, int], ...]:
    """Each component's (h, v) sampling factors from a frame header (SOF) at ``pos`` (its length)."""
    if length < 8 or pos + length > len(data):
        return ()
    count = data[pos + 7]
    factors = []
    for index in range(count):
        at = pos + 8 + 3 * index
        if at + 2 > pos + length:
            break
        factors.append((max(1, data[at + 1] >> 4), max(1, data[at + 1] & 0x0F)))
    return tuple(factors)


def count_tiff_ifds(data: bytes) -> int:
    """IFDs in the chain (a cycle ends the count), classic TIFF and BigTIFF alike; ImageTooComplex
    past ``MAX_FRAMES`` IFDs, or past ``MAX_TIFF_CHUNKS`` strips or tiles in one IFD (Pillow reads
    every offset of the first page into Python, and libtiff walks them)."""
    layout = _tiff_layout(data)
    if layout is None:
        return 1  # a damaged header: Pillow's own parser judges it
    order, offset_size, offset = layout
    count_format, entry_size = ("Q", 20) if offset_size == 8 else ("H", 12)
    seen: set[int] = set()
    while offset and offset not in seen and offset + offset_size <= len(data):
        seen.add(offset)
        if len(seen) > MAX_FRAMES:
            raise _too_complex("frames", "TIFF", f"more than {MAX_FRAMES:,} pages (IFDs)", data, MAX_FRAMES)
        entries = struct.unpack_from(order + count_format, data, offset)[0]
        first = offset + struct.calcsize(count_format)
        next_at = first + entry_size * entries
        if next_at + offset_size > len(data):
            break
        _check_tiff_chunks(data, order, offset_size, first, entries, entry_size)
        offset = struct.unpack_from(order + ("Q" if offset_size == 8 else "I"), data, next_at)[0]
    return max(1, len(seen))


def _tiff_layout(data: bytes) -> tuple[str, int, int] | None:
    """(byte order, offset size, first IFD offset) for classic TIFF (4-byte offsets) or BigTIFF
    (version 43, 8-byte offsets); ``None`` for a header that is neither."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return None
    order = "<" if data[:2] == b"II" else ">"
    version = struct.unpack_from(order + "H", data, 2)[0]
    if version == 42:
        return order, 4, struct.unpack_from(order + "I", data, 4)[0]
    if version == 43 and len(data) >= 16 and struct.unpack_from(order + "HH", data, 4) == (8, 0):
        return order, 8, struct.unpack_from(order + "Q", data, 8)[0]
    return None


def _check_tiff_chunks(data: bytes, order: str, offset_size: int, first: int, entries: int, size: int) -> None:
    """ImageTooComplex if an IFD's StripOffsets/StripByteCounts/TileOffsets/TileByteCounts count is
    over ``MAX_TIFF_CHUNKS``.  Reads each entry's tag and count only (entries past the end of the
    data end the walk: the decoder judges them)."""
    count_format = order + ("Q" if offset_size == 8 else "I")
    for index in range(min(entries, (len(data) - first) // size)):
        at = first + index * size
        tag = struct.unpack_from(order + "H", data, at)[0]
        if tag in _TIFF_CHUNK_TAGS:
            count = struct.unpack_from(count_format, data, at + 4)[0]
            if count > MAX_TIFF_CHUNKS:
                raise _too_complex(
                    "tiff-chunks",
                    "TIFF",
                    f"{count:,} strips or tiles in one page, more than {MAX_TIFF_CHUNKS:,}",
                    data,
                    MAX_TIFF_CHUNKS,
                    chunks=count,
                )


def count_gif_frames(data: bytes) -> int:
    """Image descriptors in a GIF; ImageTooComplex past ``MAX_FRAMES``."""
    frames = 0
    for _position in gif_image_descriptors(data):
        frames += 1
        if frames > MAX_FRAMES:
            raise _too_complex("frames", "GIF", f"more than {MAX_FRAMES:,} frames", data, MAX_FRAMES)
    return max(1, frames)


def _too_complex(limit: str, fmt: str, what: str, data: bytes, bound: int, **known: int) -> ThumbnailError:
    return image_error(
        ErrorCode.IMAGE_TOO_COMPLEX,
        f"the {fmt} file has {what}; no real image needs that many, and parsing them costs seconds",
        None,
        format=fmt,
        bytes=len(data),
        limit=limit,
        max_count=bound,
        **known,
    )
