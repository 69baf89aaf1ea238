"""EXIF orientation: all 8 values, through the JPEG draft path (boxes swapped for 5-8)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageOps

from shared.imaging import normalize, probe
from shared.imaging.orientation import apply_orientation
from tests.imaging.factories import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    corner_colours,
    encode,
    exif_bytes,
    nearly,
    png_chunk,
    png_chunk_types,
    quadrants,
    reopen,
)

STORED = (3000, 2000)  # landscape as stored; big enough that the JPEG decoder drafts at 1/2

#: Where the stored quadrants end up on screen (top-left, top-right, bottom-left, bottom-right),
#: from the EXIF specification, for the stored layout red/green over blue/white.
EXPECTED_CORNERS = {
    1: (RED, GREEN, BLUE, WHITE),
    2: (GREEN, RED, WHITE, BLUE),  # mirrored horizontally
    3: (WHITE, BLUE, GREEN, RED),  # rotated 180
    4: (BLUE, WHITE, RED, GREEN),  # mirrored vertically
    5: (RED, BLUE, GREEN, WHITE),  # transposed (mirror across the main diagonal)
    6: (BLUE, RED, WHITE, GREEN),  # rotated 90 clockwise
    7: (WHITE, GREEN, BLUE, RED),  # transversed
    8: (GREEN, WHITE, RED, BLUE),  # rotated 90 counter-clockwise
}


def oriented_jpeg(orientation: int) -> bytes:
    return encode(quadrants(*STORED), "JPEG", quality=92, exif=exif_bytes(orientation=orientation))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_applied_after_a_draft_decode(limits, orientation):
    data = oriented_jpeg(orientation)
    thumb = normalize(data, limits)
    transposed = orientation >= 5
    # Displayed 3000x2000 fits 750x500; displayed 2000x3000 fits 333x500.
    assert (thumb.width, thumb.height) == ((333, 500) if transposed else (750, 500))
    output = reopen(thumb.data)
    assert output.size == (thumb.width, thumb.height)
    corners = corner_colours(output)
    for actual, expected in zip(corners, EXPECTED_CORNERS[orientation], strict=True):
        assert nearly(actual, expected), (orientation, corners)
    # Agrees with Pillow's own implementation applied to the full-size source.
    oracle = ImageOps.exif_transpose(reopen(data))
    assert all(nearly(a, b) for a, b in zip(corners, corner_colours(oracle), strict=True))
    assert "draft 1/2" in thumb.steps
    assert (f"orientation {orientation}" in thumb.steps) == (orientation != 1)


def test_draft_target_accounts_for_swapped_axes(limits):
    # Stored 4000x3000 with orientation 6 shows as 3000x4000 and fits 375x500.  In stored pixels
    # that is 500x375, so the decoder may go to 1/4 (1000x750 >= 2x the target); using the
    # unswapped box (667x500 -> 1334x1000 needed) would only allow 1/2.
    data = encode(quadrants(4000, 3000), "JPEG", exif=exif_bytes(orientation=6))
    info = probe(data, limits)
    assert (info.orientation, info.decode_scale) == (6, 4)
    thumb = normalize(data, limits)
    assert (thumb.width, thumb.height) == (375, 500)
    assert "draft 1/4" in thumb.steps


def test_png_orientation_from_exif_chunk(limits):
    data = encode(quadrants(600, 400), "PNG", exif=exif_bytes(orientation=8))
    thumb = normalize(data, limits)
    assert (thumb.width, thumb.height) == (333, 500)
    assert corner_colours(reopen(thumb.data))[0] == GREEN


def test_exif_chunk_after_the_pixels_is_applied_and_reported(limits):
    # Pillow writes eXIf before IDAT; other encoders may put it last, where only decoding finds it.
    plain = encode(quadrants(600, 400), "PNG")
    end = plain.rindex(b"IEND") - 4
    data = plain[:end] + png_chunk(b"eXIf", exif_bytes(orientation=8)) + plain[end:]
    assert png_chunk_types(data)[-2:] == [b"eXIf", b"IEND"]
    assert probe(data, limits).orientation == 1  # the header alone cannot know
    thumb = normalize(data, limits)
    assert corner_colours(reopen(thumb.data))[0] == GREEN
    assert thumb.source.orientation == 8
    assert thumb.report()["input"]["orientation"] == 8  # type: ignore[index]
    assert "orientation 8" in thumb.steps


def test_invalid_orientation_values_are_ignored(limits):
    data = encode(quadrants(600, 400), "JPEG", exif=exif_bytes(orientation=9))
    assert probe(data, limits).orientation == 1
    assert normalize(data, limits).width == 600


def test_apply_orientation_leaves_unknown_values_alone():
    image = Image.new("RGB", (3, 2))
    assert apply_orientation(image, 1) is image
    assert apply_orientation(image, 0) is image
    assert apply_orientation(image, 6).size == (2, 3)
