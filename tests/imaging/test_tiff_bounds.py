"""TIFF structure bounds that held for classic TIFF only, or not at all (issue 17).

The real part is Pillow's TIFF reader (``PIL.TiffImagePlugin``, which reads BigTIFF since Pillow 8):
it walks the IFD chain in Python to count pages (quadratic in the count) and reads every strip
offset of the page into a tuple; the files here are ones it opens.
"""

from __future__ import annotations

import io
import struct
import time

import pytest
from PIL import Image

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import ImageLimits, normalize, probe
from shared.imaging.structure import MAX_FRAMES, MAX_TIFF_CHUNKS

LIMITS = ImageLimits(allow_tiff=True)
_SHORT, _LONG, _LONG8 = 3, 4, 16


def bigtiff(pages: int) -> bytes:
    """A little-endian BigTIFF of ``pages`` 1x1 grey pages, all sharing one pixel byte."""
    pixel_at = 16
    tags = [(256, _SHORT, 1), (257, _SHORT, 1), (258, _SHORT, 8), (259, _SHORT, 1), (262, _SHORT, 1),
            (273, _LONG8, pixel_at), (278, _SHORT, 1), (279, _LONG8, 1)]  # fmt: skip
    ifd_size = 8 + 20 * len(tags) + 8
    first = 24
    out = bytearray(b"II" + struct.pack("<HHHQ", 43, 8, 0, first))
    out[pixel_at:pixel_at] = b"\x80" + bytes(7)
    for page in range(pages):
        at = first + page * ifd_size
        following = at + ifd_size if page + 1 < pages else 0
        entries = b"".join(struct.pack("<HHQQ", tag, kind, 1, value) for tag, kind, value in tags)
        out += struct.pack("<Q", len(tags)) + entries + struct.pack("<Q", following)
    return bytes(out)


def many_strips(strips: int) -> bytes:
    """A classic TIFF, 1 x ``strips`` grey, one row per strip: two offset arrays of ``strips`` LONGs."""
    header = 8
    tags_count = 8
    ifd_size = 2 + 12 * tags_count + 4
    offsets_at = header + ifd_size
    counts_at = offsets_at + 4 * strips
    pixels_at = counts_at + 4 * strips
    entries = [
        (256, _SHORT, 1, 1),
        (257, _LONG, 1, strips),
        (258, _SHORT, 1, 8),
        (259, _SHORT, 1, 1),
        (262, _SHORT, 1, 1),
        (273, _LONG, strips, offsets_at),
        (278, _SHORT, 1, 1),
        (279, _LONG, strips, counts_at),
    ]
    ifd = struct.pack("<H", tags_count) + b"".join(struct.pack("<HHII", *entry) for entry in entries) + bytes(4)
    offsets = struct.pack(f"<{strips}I", *range(pixels_at, pixels_at + strips))
    counts = struct.pack(f"<{strips}I", *([1] * strips))
    return b"II*\x00" + struct.pack("<I", header) + ifd + offsets + counts + bytes(range(256)) * (strips // 256 + 1)


def test_a_small_bigtiff_is_read() -> None:
    """The bound reads BigTIFF's layout, and a BigTIFF with a few pages is an ordinary image."""
    data = bigtiff(3)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", None) == 3  # Pillow itself reads this file
    info = probe(data, LIMITS)
    assert (info.format, info.width, info.height, info.frames) == ("TIFF", 1, 1, 3)
    assert normalize(data, LIMITS).width == 1


def test_a_bigtiff_over_the_page_bound_is_refused_at_once() -> None:
    data = bigtiff(MAX_FRAMES * 2)
    started = time.perf_counter()
    with pytest.raises(ThumbnailError) as caught:
        probe(data, LIMITS)
    assert caught.value.code is ErrorCode.IMAGE_TOO_COMPLEX
    assert caught.value.details["limit"] == "frames"
    assert time.perf_counter() - started < 2.0  # the walk reads a few bytes per IFD


def test_a_page_with_more_strips_than_the_bound_is_refused() -> None:
    data = many_strips(MAX_TIFF_CHUNKS + 1)
    with pytest.raises(ThumbnailError) as caught:
        probe(data, LIMITS)
    assert caught.value.code is ErrorCode.IMAGE_TOO_COMPLEX
    assert (caught.value.details["limit"], caught.value.details["chunks"]) == ("tiff-chunks", MAX_TIFF_CHUNKS + 1)


def test_a_page_of_many_strips_within_the_bound_is_read() -> None:
    data = many_strips(1000)
    info = probe(data, LIMITS)
    assert (info.width, info.height) == (1, 1000)
    assert normalize(data, LIMITS).height == 500
