"""JPEG: its signature, the marker and scan bounds, libjpeg's coefficient memory, the DCT-scaled
decode plan, and the pixels through a strict libjpeg-turbo decode (simplejpeg, ``strict=True``).

Pillow's JPEG decoder drops libjpeg's warnings: a scan whose data was overwritten, cut and given a
new EOI, or zeroed over a few KiB decodes "successfully" into stripes or flat grey, and that picture
would become the iModel's thumbnail.  libjpeg reports such damage only as warnings ("Corrupt JPEG
data: bad Huffman code", "premature end of data segment"); simplejpeg's ``strict=True`` turns every
warning into ``ValueError``, which is ``CorruptImage`` here.

Pillow still parses the header (markers, EXIF orientation, ICC profile, Adobe CMYK inversion) and
plans the DCT scale with ``draft``; simplejpeg decodes at exactly that scale (libjpeg-turbo picks
the smallest scale whose output is at least the requested size, and the request is Pillow's
scaled size), into a buffer Pillow then uses in place for ``L``, ``RGBX`` and plain ``CMYK``.

Structure bounds: Pillow parses markers and 0xFF fill bytes in Python (64 MB of padding: 74 s), and
libjpeg repeats its work once per progressive scan (2,000 scans of an 11800x11800 header: 37 s).
A JPEG has a handful of segments (a few hundred for a big XMP or ICC split over APP markers) and at
most ~20 progressive scans.

Memory: a progressive (or multi-scan) JPEG makes libjpeg keep every DCT coefficient of the
full-size image, whatever the draft scale: 2 bytes per coefficient, 64 per 8x8 block of each
component (an 11800x11800 CMYK header: 1.1 GB).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile, JpegImagePlugin

from shared.core.errors import ErrorCode
from shared.imaging.failures import image_error
from shared.imaging.formats.bounds import too_complex
from shared.imaging.formats.spec import ImageFormat
from shared.imaging.geometry import Size, draft_request, jpeg_draft_scale
from shared.imaging.resize import Box

#: Segments before the first scan, 0xFF fill bytes between them, and scans (SOS markers).
MAX_JPEG_MARKERS = 4_096
MAX_JPEG_FILL_BYTES = 65_536
MAX_JPEG_SCANS = 100
#: Bytes a DCT coefficient takes in libjpeg's buffer (JCOEF is a 16-bit short), per 8x8 block.
COEFFICIENT_BLOCK_BYTES = 64 * 2

_FILL = re.compile(rb"\xff+")
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field

#: Pillow's raw mode for the decoded JPEG -> (simplejpeg colour space, Pillow image mode).
_COLOURSPACES = {
    "L": ("GRAY", "L"),
    "RGB": ("RGBX", "RGBX"),
    "CMYK": ("CMYK", "CMYK"),
    "CMYK;I": ("CMYK", "CMYK"),  # Adobe's inverted CMYK (and YCCK, which libjpeg converts)
}


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
            raise too_complex(
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
            raise too_complex(
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
                raise too_complex(
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


def coefficient_bytes(width: int, height: int, sampling: tuple[tuple[int, int], ...]) -> int:
    """libjpeg's whole-image coefficient buffer: per component, its 8x8 blocks (padded to whole
    MCUs) x 128 bytes."""
    h_max = max(h for h, _v in sampling)
    v_max = max(v for _h, v in sampling)
    mcus_x = math.ceil(width / (8 * h_max))
    mcus_y = math.ceil(height / (8 * v_max))
    return sum(mcus_x * h * mcus_y * v for h, v in sampling) * COEFFICIENT_BLOCK_BYTES


def _coefficient_memory(image: ImageFile.ImageFile, _data: bytes, layout: Any, memory_budget: int) -> int:
    """libjpeg's whole-image coefficient buffer, kept for a progressive or multi-scan JPEG; a JPEG
    whose buffer alone is over ``memory_budget`` is refused with ``ImageTooComplex`` (it could only
    run alone, and would still not fit)."""
    width, height = image.size
    if not isinstance(layout, JpegLayout) or not layout.buffered:
        return 0
    needed = coefficient_bytes(width, height, layout.components or ((1, 1),) * len(image.getbands()))
    if needed > memory_budget:
        raise image_error(
            ErrorCode.IMAGE_TOO_COMPLEX,
            f"a progressive or multi-scan JPEG of this size keeps {needed / 2**20:,.0f} MiB of DCT "
            f"coefficients while decoding, more than the {memory_budget / 2**20:,.0f} MiB memory budget "
            "(IMAGE_MEMORY_BUDGET_MB); save it as baseline (non-progressive) JPEG or PNG",
            format="JPEG",
            width=width,
            height=height,
            mode=image.mode,
            limit="jpeg-coefficients",
            coefficient_bytes=needed,
            memory_budget_bytes=memory_budget,
        )
    return needed


def _draft(image: ImageFile.ImageFile, request: Size) -> Box | None:
    """A DCT-scaled decode (1/2, 1/4, 1/8) of at least ``request``; the picture's region in
    decoded pixels, or ``None`` when the decoder declines."""
    drafted = image.draft(None, request)
    return None if drafted is None else drafted[1]


def _decode_scale(size: Size, fit: Size) -> int:
    """The DCT scale ``_draft`` will get for this fit (1, 2, 4 or 8)."""
    return jpeg_draft_scale(size, draft_request(fit))


def decode_strict(image: ImageFile.ImageFile, data: bytes) -> Image.Image:
    """The pixels of an opened (and possibly drafted) JPEG, at ``image.size``.

    Raises ValueError for any damage libjpeg notices, MemoryError when the buffer cannot be had.
    """
    import simplejpeg  # brings numpy; imported on the first JPEG only

    args = image.tile[0].args if image.tile else None
    rawmode = args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else image.mode
    colourspace, mode = _COLOURSPACES.get(rawmode, ("RGBX", "RGBX"))
    width, height = image.size
    pixels = simplejpeg.decode_jpeg(data, colorspace=colourspace, min_width=width, min_height=height, strict=True)
    if pixels.shape[:2] != (height, width):
        raise ValueError(f"the strict decode gave {pixels.shape[1]}x{pixels.shape[0]}, not {width}x{height}")
    if rawmode not in _COLOURSPACES:
        return Image.frombuffer(mode, image.size, pixels, "raw", mode, 0, 1).convert(image.mode)
    return Image.frombuffer(mode, image.size, pixels, "raw", rawmode if mode == "CMYK" else mode, 0, 1)


def _preload() -> None:
    import simplejpeg  # noqa: F401


def _decoder() -> type[ImageFile.ImageFile]:
    return JpegImagePlugin.JpegImageFile


FORMAT = ImageFormat(
    "JPEG",
    matches=lambda data: data.startswith(b"\xff\xd8\xff"),
    decoder=_decoder,
    check_structure=jpeg_layout,
    decoder_bytes=_coefficient_memory,
    decode_scale=_decode_scale,
    draft=_draft,
    decode=decode_strict,
    resized_as_decoded=frozenset({"RGB", "L"}),
    preload=_preload,
)
