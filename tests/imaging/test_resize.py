"""Fitting: inside the box, aspect kept, never upscaled, properly filtered; first frame only."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageStat

from shared.imaging import normalize
from shared.imaging.geometry import fit_within, jpeg_draft_scale, reduce_factor, stored_box
from shared.settings import default_limits
from tests.imaging.factories import BLUE, RED, encode, png_ihdr, reopen


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((7680, 4320), (800, 500), (800, 450)),
        ((15360, 8640), (800, 500), (800, 450)),
        ((4000, 3000), (800, 500), (667, 500)),
        ((1000, 100), (800, 500), (800, 80)),
        ((100, 1000), (800, 500), (50, 500)),
        ((100000, 10), (800, 500), (800, 1)),
        ((800, 500), (800, 500), (800, 500)),
        ((640, 480), (800, 500), (640, 480)),
        ((7680, 4320), (400, 250), (400, 225)),
    ],
)
def test_fit_within(size, box, expected):
    assert fit_within(size, box) == expected


def test_geometry_helpers():
    assert stored_box((800, 500), 6) == (500, 800)
    assert stored_box((800, 500), 3) == (800, 500)
    assert jpeg_draft_scale((7680, 4320), (1600, 900)) == 4
    assert jpeg_draft_scale((15360, 8640), (1600, 900)) == 8
    assert jpeg_draft_scale((640, 480), (1600, 900)) == 1
    assert reduce_factor((7680, 4320), (800, 450)) == 4
    assert reduce_factor((1920, 1080), (800, 450)) == 1


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF"])
def test_large_frames_fit_the_box_with_aspect_kept(limits, fmt):
    image = Image.new("RGB", (3840, 2160), (40, 80, 120))
    thumb = normalize(encode(image, fmt), limits)
    assert (thumb.width, thumb.height) == (800, 450)
    width, height, depth, _colour = png_ihdr(thumb.data)
    assert (width, height, depth) == (800, 450, 8)


def test_small_images_are_never_upscaled(limits):
    thumb = normalize(encode(Image.new("RGB", (120, 75), RED), "PNG"), limits)
    assert (thumb.width, thumb.height) == (120, 75)


def test_configured_box_is_used():
    small = default_limits(max_width=400, max_height=250)
    thumb = normalize(encode(Image.new("RGB", (1920, 1080)), "JPEG"), small)
    assert (thumb.width, thumb.height) == (400, 225)


def test_downsampling_is_filtered_not_nearest(limits):
    # One-pixel black/white stripes must average to an even gray; a nearest-neighbour or
    # unfiltered reduction would keep (or alias into) black and white bands.
    stripes = Image.new("L", (3200, 2000), 0)
    draw = ImageDraw.Draw(stripes)
    for x in range(1, 3200, 2):
        draw.line((x, 0, x, 1999), fill=255)
    thumb = normalize(encode(stripes, "PNG"), limits)
    stats = ImageStat.Stat(reopen(thumb.data))
    assert 120 <= stats.mean[0] <= 135
    assert stats.stddev[0] < 3


def test_jpeg_draft_still_gives_the_exact_size(limits):
    # 7681 is not divisible by the draft scale: the decoded image is rounded up, the box keeps
    # the result exact.
    thumb = normalize(encode(Image.new("RGB", (7681, 4321), BLUE), "JPEG"), limits)
    assert (thumb.width, thumb.height) == (800, 450)
    assert "draft 1/4" in thumb.steps


# -- animations: the first frame ------------------------------------------------------------------


def two_frames() -> list[Image.Image]:
    return [Image.new("RGB", (300, 200), RED), Image.new("RGB", (300, 200), BLUE)]


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("GIF", {"duration": 100, "loop": 0}),
        ("WEBP", {"lossless": True, "duration": 100}),
        ("PNG", {"duration": 100}),  # APNG
    ],
)
def test_animations_give_their_first_frame(limits, fmt, params):
    first, second = two_frames()
    data = encode(first, fmt, save_all=True, append_images=[second], **params)
    thumb = normalize(data, limits)
    assert thumb.source.frames == 2
    value = reopen(thumb.data).convert("RGB").getpixel((150, 100))
    assert value == RED
