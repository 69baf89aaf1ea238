"""The 5,242,880-byte limit holds for every input, including the worst case (RGBA noise)."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import ImageInfo, normalize
from shared.imaging import encode as encode_module
from shared.settings import API_MAX_THUMBNAIL_BYTES, default_limits
from tests.imaging.factories import encode, noise, png_ihdr, reopen


def test_worst_case_rgba_noise_in_the_largest_box_stays_under_the_api_limit():
    # 4096x4096 is the largest box the settings allow; RGBA noise does not compress at all
    # (67 MB raw), so the thumbnail has to shrink until it fits.
    limits = default_limits(max_width=4096, max_height=4096)
    data = encode(noise("RGBA", (4096, 4096)), "PNG", compress_level=0)
    thumb = normalize(data, limits)
    assert len(thumb.data) <= API_MAX_THUMBNAIL_BYTES
    assert thumb.mode == "RGBA"
    assert thumb.width == thumb.height
    assert 1000 <= thumb.width < 4096
    assert any(step.startswith("shrunk to") for step in thumb.steps)
    output = reopen(thumb.data)
    assert output.size == (thumb.width, thumb.height)
    assert png_ihdr(thumb.data)[2] == 8


def test_default_box_with_noise_fits_without_shrinking(limits):
    thumb = normalize(encode(noise("RGBA", (1600, 1000)), "PNG", compress_level=0), limits)
    assert (thumb.width, thumb.height) == (800, 500)
    assert len(thumb.data) <= limits.max_output_bytes
    assert not any(step.startswith("shrunk") for step in thumb.steps)


def test_a_tighter_configured_limit_is_met_by_shrinking():
    limits = default_limits(max_output_bytes=300_000)
    thumb = normalize(encode(noise("RGB", (800, 500)), "PNG", compress_level=0), limits)
    assert len(thumb.data) <= 300_000
    assert thumb.width < 800
    assert abs(thumb.width / thumb.height - 800 / 500) < 0.02


def test_flat_image_under_a_small_limit_is_not_shrunk():
    # 800x500 RGB is 1.2 MB raw but a few KB as PNG: the raw size is no reason to shrink.
    limits = default_limits(max_output_bytes=1_000_000)
    thumb = normalize(encode(Image.new("RGB", (1600, 1000), (40, 90, 160)), "PNG"), limits)
    assert (thumb.width, thumb.height) == (800, 500)
    assert len(thumb.data) < 100_000
    assert not any(step.startswith("shrunk") for step in thumb.steps)


def test_shrink_after_a_failed_best_level_scales_from_the_fast_result(monkeypatch):
    # The next try is at the fast level again, so the ratio must come from the fast level's size.
    sizes = {encode_module.FAST_LEVEL: 1300, encode_module.BEST_LEVEL: 1100}

    def fake_save(image: Image.Image, level: int) -> bytes:
        return b"x" * (sizes[level] if image.size == (800, 500) else 500)

    monkeypatch.setattr(encode_module, "write_png", fake_save)  # the fast level's writer
    monkeypatch.setattr(encode_module, "save_png", fake_save)  # Pillow's, for the best level
    info = ImageInfo(format="PNG", width=800, height=500, mode="RGB")
    _data, final, notes = encode_module.encode_png(Image.new("RGB", (800, 500)), 1000, info)
    ratio = math.sqrt(1000 / 1300) * 0.9
    assert final.size == (math.floor(800 * ratio), math.floor(500 * ratio))
    assert notes == [f"shrunk to {final.width}x{final.height} for the byte limit"]


def test_impossible_limit_is_thumbnail_too_large():
    limits = default_limits(max_output_bytes=60)
    data = encode(noise("RGB", (64, 64)), "PNG")
    with pytest.raises(ThumbnailError) as caught:
        normalize(data, limits)
    error = caught.value
    assert error.code is ErrorCode.THUMBNAIL_TOO_LARGE
    assert not error.transient
    assert (error.details["format"], error.details["width"], error.details["height"]) == ("PNG", 64, 64)
    assert error.details["max_output_bytes"] == 60


def test_output_is_8bit_png_with_the_declared_content_type(limits):
    thumb = normalize(encode(Image.new("RGB", (10, 10)), "JPEG"), limits)
    assert thumb.content_type == "image/png"
    assert reopen(thumb.data).format == "PNG"
    assert png_ihdr(thumb.data)[2] == 8
