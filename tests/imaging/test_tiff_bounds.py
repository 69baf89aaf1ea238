"""TIFF structure bounds that held for classic TIFF only, or not at all (issue 17).

The real part is Pillow's TIFF reader (``PIL.TiffImagePlugin``, which reads BigTIFF since Pillow 8):
it walks the IFD chain in Python to count pages (quadratic in the count) and reads every strip
offset of the page into a tuple; the files here are ones it opens.
"""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from bench.hostile import bigtiff, many_strips
from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import normalize, probe
from shared.imaging.formats.bounds import MAX_FRAMES
from shared.imaging.formats.tiff import MAX_TIFF_CHUNKS
from shared.settings import default_limits

LIMITS = default_limits(allow_tiff=True)


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
