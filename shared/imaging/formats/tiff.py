"""TIFF through Pillow's decoder, with the product's pixel cap as the only size limit.

Pillow's TIFF decoder runs Pillow's process-wide bomb check (``PIL.Image.MAX_IMAGE_PIXELS``,
89.5 MP unless changed) when it allocates the frame, so a 100 MP render that our own
``MAX_IMAGE_PIXELS`` (140 MP) admits would be refused, or warned about, by a limit that is not ours.
Rather than setting that global to ``None`` (a process-wide mutation that races with any other code
in the process that relies on it, and that tests would have to undo), this subclass allocates the
frame the way Pillow's ``ImageFile.load_prepare`` does, without the check.  ``probe`` has already
refused anything over our cap from the header, before this class allocates anything.

Structure bounds: Pillow reads every IFD to count pages (quadratic: 100,000 IFDs, 44 s) and every
strip or tile offset of the first page into Python, so both counts are bounded before it runs,
classic TIFF and BigTIFF alike.
"""

from __future__ import annotations

import struct
from typing import Any

from PIL import Image, ImageFile, TiffImagePlugin

from shared.core.errors import ErrorCode
from shared.imaging.failures import image_error
from shared.imaging.formats.bounds import MAX_FRAMES, too_complex
from shared.imaging.formats.spec import HDR_MODES, ImageFormat, mode_sample_facts
from shared.imaging.limits import ImageLimits
from shared.imaging.modes import SIXTEEN_BIT_MODES

_FLOAT = 3  # SampleFormat: IEEE floating point
_PREFIXES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: Strips or tiles in one TIFF page: 16x16 tiles over a 140 MP frame are 547,000, one-row strips
#: of an 8K frame 4,320.
MAX_TIFF_CHUNKS = 1_048_576
_TIFF_CHUNK_TAGS = frozenset({273, 279, 324, 325})  # StripOffsets, StripByteCounts, TileOffsets, TileByteCounts


class CappedTiffImageFile(TiffImagePlugin.TiffImageFile):
    """Pillow's TIFF decoder; frame allocation skips Pillow's global bomb check (ours ran before).

    Pillow decodes 32-bit float TIFFs with one sample (mode ``F``, the HDR path), not float
    colour ones (three or four float samples): those are refused as UnsupportedImageFormat with
    what to export instead, rather than as a corrupt file.
    """

    def _setup(self) -> None:
        try:
            super()._setup()
        except SyntaxError as exc:
            if "unknown pixel mode" in str(exc) and self.tag_v2.get(TiffImagePlugin.SAMPLEFORMAT, (1,))[0] == _FLOAT:
                raise image_error(
                    ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
                    "floating-point colour TIFFs are not supported (Pillow decodes one float sample only); "
                    "export the render as OpenEXR, a 16-bit TIFF or a single-channel float TIFF",
                    format="TIFF",
                    width=self.tag_v2.get(TiffImagePlugin.IMAGEWIDTH),
                    height=self.tag_v2.get(TiffImagePlugin.IMAGELENGTH),
                ) from exc
            raise

    def load_prepare(self) -> None:
        if self._im is None:
            # _tile_size is the size of the frame being decoded (TIFF may decode a reduced one).
            self.im = Image.core.new(self.mode, self._tile_size)  # type: ignore[attr-defined]
        ImageFile.ImageFile.load_prepare(self)


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
            raise too_complex("frames", "TIFF", f"more than {MAX_FRAMES:,} pages (IFDs)", data, MAX_FRAMES)
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
                raise too_complex(
                    "tiff-chunks",
                    "TIFF",
                    f"{count:,} strips or tiles in one page, more than {MAX_TIFF_CHUNKS:,}",
                    data,
                    MAX_TIFF_CHUNKS,
                    chunks=count,
                )


def _sample_facts(image: ImageFile.ImageFile) -> dict[str, Any]:
    """Pillow reads 16-bit colour TIFFs as 8-bit RGB(A); the header says what was stored."""
    if image.mode in HDR_MODES | SIXTEEN_BIT_MODES | {"I"}:
        return mode_sample_facts(image)
    stored = getattr(image, "tag_v2", {}).get(258)  # BitsPerSample, one value per sample
    if isinstance(stored, tuple) and stored and all(isinstance(bits, int) for bits in stored):
        return {"bit_depth": max(stored), "hdr": False}
    return mode_sample_facts(image)


def _allowed(limits: ImageLimits) -> bool:
    return limits.allow_tiff


def _decoder() -> type[ImageFile.ImageFile]:
    return CappedTiffImageFile


FORMAT = ImageFormat(
    "TIFF",
    matches=lambda data: data.startswith(_PREFIXES),
    decoder=_decoder,
    enabled=_allowed,
    disabled_message="TIFF images are not accepted here (ALLOW_TIFF=false turned them off)",
    check_structure=count_tiff_ifds,
    sample_facts=_sample_facts,
)
