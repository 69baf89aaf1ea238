"""Pixel modes: colour spaces to RGB, ICC to sRGB, palettes, 16-bit data, alpha kept or dropped."""

from __future__ import annotations

import array
import itertools

import pytest
from PIL import Image, ImageDraw

from shared.imaging import modes as modes_module
from shared.imaging import normalize
from shared.imaging import resize as resize_module
from shared.imaging.modes import drop_opaque_alpha, resizable_converter, straighten, to_output_mode
from tests.imaging.factories import (
    BLUE,
    RED,
    encode,
    gradient16,
    nearly,
    png16_rgb_gradient,
    reopen,
    srgb_profile,
    swapped_primaries_profile,
)


def pixel(data: bytes, point: tuple[int, int] = (5, 5)) -> tuple[int, ...]:
    value = reopen(data).convert("RGBA").getpixel(point)
    assert isinstance(value, tuple)
    return value


# -- colour spaces --------------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb_through_the_draft_path(limits):
    # Pillow writes CMYK JPEGs Adobe-style (inverted); the decoder undoes that.
    data = encode(Image.new("CMYK", (3000, 2000), (0, 255, 255, 0)), "JPEG", quality=95)
    thumb = normalize(data, limits)
    assert thumb.source.mode == "CMYK"
    assert thumb.mode == "RGB"
    assert (thumb.width, thumb.height) == (750, 500)
    assert "draft 1/2" in thumb.steps
    assert nearly(pixel(thumb.data)[:3], RED)


def test_lab_tiff_becomes_rgb(tiff_limits):
    colour = (200, 60, 40)
    data = encode(Image.new("RGB", (120, 80), colour).convert("LAB"), "TIFF")
    thumb = normalize(data, tiff_limits)
    assert (thumb.source.mode, thumb.mode) == ("LAB", "RGB")
    assert nearly(pixel(thumb.data)[:3], colour, tolerance=4)


def test_ycbcr_lab_and_cmyk_resize_as_they_are_and_end_as_rgb():
    for mode in ("YCbCr", "LAB", "CMYK"):
        image = Image.new("RGB", (4, 4), (30, 160, 90)).convert(mode)
        assert resizable_converter(image) is None
        out = to_output_mode(straighten(image))
        assert out.mode == "RGB"
        value = out.getpixel((0, 0))
        assert isinstance(value, tuple)
        assert nearly(value, (30, 160, 90), tolerance=8)  # 8-bit LAB round trips lose a little


# -- ICC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_embedded_profile_is_converted_to_srgb(limits, fmt):
    red_pixels = Image.new("RGB", (1200, 800), RED)
    tagged = normalize(encode(red_pixels, fmt, icc_profile=swapped_primaries_profile(), quality=95), limits)
    untagged = normalize(encode(red_pixels, fmt, quality=95), limits)
    # The profile says these "red" values are blue primaries: the colour must actually change.
    assert nearly(pixel(untagged.data)[:3], RED)
    assert nearly(pixel(tagged.data)[:3], BLUE, tolerance=30)
    assert "icc->sRGB" in tagged.steps
    assert "icc->sRGB" not in untagged.steps


def test_profile_conversion_keeps_alpha(limits):
    image = Image.new("RGBA", (400, 300), (*RED, 255))
    ImageDraw.Draw(image).rectangle((200, 0, 399, 299), fill=(*RED, 64))
    thumb = normalize(encode(image, "PNG", icc_profile=swapped_primaries_profile()), limits)
    assert thumb.mode == "RGBA"
    out = reopen(thumb.data)
    assert nearly(pixel(thumb.data), (*BLUE, 255), tolerance=30)
    right = out.getpixel((350, 150))
    assert isinstance(right, tuple)
    assert right[3] == 64


def test_srgb_profile_leaves_colours_alone(limits):
    colour = (180, 90, 30)
    thumb = normalize(encode(Image.new("RGB", (50, 50), colour), "PNG", icc_profile=srgb_profile()), limits)
    assert nearly(pixel(thumb.data)[:3], colour, tolerance=2)


def test_unusable_profiles_are_ignored_not_fatal(limits):
    gray_with_rgb_profile = encode(Image.new("L", (40, 40), 100), "PNG", icc_profile=srgb_profile())
    thumb = normalize(gray_with_rgb_profile, limits)
    assert thumb.mode == "L"
    assert any(step.startswith("icc ignored") for step in thumb.steps)
    garbage = encode(Image.new("RGB", (40, 40), RED), "JPEG", icc_profile=b"not a profile at all" * 10)
    thumb = normalize(garbage, limits)
    assert nearly(pixel(thumb.data)[:3], RED)
    assert any(step.startswith("icc ignored") for step in thumb.steps)


# -- palettes, bilevel, transparency ---------------------------------------------------------------


def test_palette_without_transparency_becomes_rgb(limits):
    image = Image.new("RGB", (1600, 1000), BLUE).convert("P", palette=Image.Palette.ADAPTIVE)
    thumb = normalize(encode(image, "PNG"), limits)
    assert (thumb.source.mode, thumb.mode) == ("P", "RGB")
    assert nearly(pixel(thumb.data)[:3], BLUE, tolerance=2)


def test_palette_transparency_becomes_rgba_and_is_kept(limits):
    image = Image.new("P", (1000, 600), 1)
    image.putpalette([0, 0, 0, *RED] + [0] * 762)
    ImageDraw.Draw(image).rectangle((0, 0, 499, 599), fill=0)
    data = encode(image, "GIF", transparency=0)
    thumb = normalize(data, limits)
    assert thumb.mode == "RGBA"
    out = reopen(thumb.data)
    left, right = out.getpixel((50, 100)), out.getpixel((700, 100))
    assert isinstance(left, tuple)
    assert isinstance(right, tuple)
    assert left[3] == 0
    assert nearly(right, (*RED, 255), tolerance=2)


def test_bilevel_becomes_rgb_before_resizing(limits):
    stripes = Image.new("1", (1600, 1000), 0)
    draw = ImageDraw.Draw(stripes)
    for x in range(0, 1600, 2):
        draw.line((x, 0, x, 999), fill=1)
    thumb = normalize(encode(stripes, "PNG"), limits)
    assert thumb.mode == "RGB"
    # Resampled as continuous tone the stripes average to mid-gray; resized as "1" they would
    # stay pure black and white.
    assert 100 <= pixel(thumb.data)[0] <= 155


def test_palette_tiff_with_alpha_keeps_its_transparency(tiff_limits):
    # Pillow's TIFF decoder gives "PA" for a palette image with an alpha sample.
    image = Image.new("PA", (1000, 600), (1, 255))
    image.putpalette([0, 0, 0, *RED])
    ImageDraw.Draw(image).rectangle((0, 0, 499, 599), fill=(1, 0))
    data = encode(image, "TIFF")
    assert reopen(data).mode == "PA"
    thumb = normalize(data, tiff_limits)
    assert thumb.mode == "RGBA"
    assert pixel(thumb.data, (50, 100))[3] == 0
    assert nearly(pixel(thumb.data, (700, 100)), (*RED, 255), tolerance=2)


def test_rgb_with_transparent_colour_gets_alpha(limits):
    image = Image.new("RGB", (300, 200), (0, 255, 0))
    ImageDraw.Draw(image).rectangle((0, 0, 149, 199), fill=(1, 2, 3))
    thumb = normalize(encode(image, "PNG", transparency=(1, 2, 3)), limits)
    assert thumb.mode == "RGBA"
    assert pixel(thumb.data, (10, 10))[3] == 0
    assert pixel(thumb.data, (250, 10)) == (0, 255, 0, 255)


def test_fully_opaque_alpha_is_dropped_and_used_alpha_kept(limits):
    opaque = normalize(encode(Image.new("RGBA", (1200, 900), (1, 2, 3, 255)), "PNG"), limits)
    assert opaque.mode == "RGB"
    used = normalize(encode(Image.new("LA", (1200, 900), (80, 200)), "PNG"), limits)
    assert used.mode == "LA"
    opaque_gray = normalize(encode(Image.new("LA", (120, 90), (80, 255)), "PNG"), limits)
    assert opaque_gray.mode == "L"
    assert drop_opaque_alpha(Image.new("RGBA", (2, 2), (0, 0, 0, 254))).mode == "RGBA"


def test_hidden_colour_of_transparent_pixels_does_not_bleed(limits):
    # Left: opaque blue.  Right: fully transparent, but the hidden colour is red.  Resampling
    # without premultiplied alpha smears red into the edge.
    image = Image.new("RGBA", (1601, 1000), (*RED, 0))
    image.paste((*BLUE, 255), (0, 0, 800, 1000))
    thumb = normalize(encode(image, "PNG"), limits)
    out = reopen(thumb.data).convert("RGBA")
    for x in range(out.width):
        value = out.getpixel((x, 250))
        assert isinstance(value, tuple)
        if value[3] > 0:
            assert value[0] <= 2, (x, value)


def test_transparency_found_only_in_the_last_rows_is_still_premultiplied(limits, monkeypatch):
    # The opaque-alpha shortcut scans strips; transparency far down must still be noticed.
    monkeypatch.setattr(modes_module, "_SCAN_BYTES", 4096)
    image = Image.new("RGBA", (1600, 1000), (*BLUE, 255))
    image.paste((*RED, 0), (0, 900, 1600, 1000))
    assert not modes_module.alpha_is_opaque(image)
    thumb = normalize(encode(image, "PNG"), limits)
    assert thumb.mode == "RGBA"
    out = reopen(thumb.data).convert("RGBA")
    for y in range(440, 460):
        value = out.getpixel((400, y))
        assert isinstance(value, tuple)
        if value[3] > 0:
            assert value[0] <= 2, (y, value)


def test_opaque_alpha_skips_premultiplication_and_gives_the_same_picture(limits):
    opaque = Image.linear_gradient("L").resize((1600, 1000)).convert("RGB")
    with_alpha = opaque.copy()
    with_alpha.putalpha(255)
    assert modes_module.alpha_is_opaque(with_alpha)
    assert resizable_converter(with_alpha) is None
    plain = normalize(encode(opaque, "PNG"), limits)
    rgba = normalize(encode(with_alpha, "PNG"), limits)
    assert rgba.mode == "RGB"
    assert list(reopen(rgba.data).get_flattened_data()) == list(reopen(plain.data).get_flattened_data())


# -- high bit depth --------------------------------------------------------------------------------


def assert_gradient(values: list[int]) -> None:
    assert all(b >= a for a, b in itertools.pairwise(values)), "not monotonic"
    assert values[0] <= 3
    assert values[-1] >= 252
    middle = values[len(values) // 2]
    assert 110 <= middle <= 145
    assert sum(1 for v in values if v == 255) < len(values) // 20, "clipped to white"


def row(image: Image.Image, y: int = 0) -> list[int]:
    gray = image.convert("L")
    values: list[int] = []
    for x in range(gray.width):
        value = gray.getpixel((x, y))
        assert isinstance(value, int | float)
        values.append(int(value))
    return values


def test_16bit_grayscale_png_is_scaled_not_clipped(limits):
    data = encode(gradient16(1024, 64), "PNG")
    assert reopen(data).mode == "I;16"
    thumb = normalize(data, limits)
    assert (thumb.mode, thumb.width, thumb.height) == ("L", 800, 50)
    assert_gradient(row(reopen(thumb.data), 25))


def test_16bit_grayscale_reduced_in_strips_matches_a_single_pass(limits, monkeypatch):
    data = encode(gradient16(4000, 600), "PNG")
    single = normalize(data, limits)
    monkeypatch.setattr(resize_module, "STRIP_BYTES", 64 * 1024)
    strips = normalize(data, limits)
    assert "reduce 1/2" in strips.steps
    assert strips.data == single.data
    assert_gradient(row(reopen(strips.data), 50))


def test_16bit_rgb_png_is_a_gradient(limits):
    thumb = normalize(png16_rgb_gradient(512, 8), limits)
    out = reopen(thumb.data)
    reds = [value[0] for value in (out.getpixel((x, 4)) for x in range(out.width)) if isinstance(value, tuple)]
    assert_gradient(reds)
    assert nearly(pixel(thumb.data, (0, 0))[1:3], (255, 155), tolerance=1)


@pytest.mark.parametrize(
    ("mode", "top"),
    [("I;16", 65535), ("I;16B", 65535), ("I", 65535)],
)
def test_high_bit_depth_tiffs_become_8bit_gradients(tiff_limits, mode, top):
    ramp = Image.linear_gradient("L").rotate(90).resize((512, 16)).convert("F")
    scaled = ramp.point(lambda v: v * top / 255)
    source = scaled.convert("I")  # float TIFFs are HDR, tone-mapped: see test_hdr.py
    if mode == "I;16":
        source = source.convert("I;16")
    elif mode == "I;16B":  # Pillow's own I;16 -> I;16B conversion clips, so swap the bytes here
        samples = array.array("H", source.convert("I;16").tobytes())
        samples.byteswap()
        source = Image.frombytes("I;16B", source.size, samples.tobytes())
    data = encode(source, "TIFF")
    assert reopen(data).mode == mode
    thumb = normalize(data, tiff_limits)
    assert thumb.mode == "L"
    assert_gradient(row(reopen(thumb.data), 8))


def test_strip_conversion_equals_whole_image_conversion_for_palettes(limits, monkeypatch):
    image = Image.linear_gradient("L").resize((2400, 1500)).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    data = encode(image, "PNG")
    whole = normalize(data, limits)
    monkeypatch.setattr(resize_module, "STRIP_BYTES", 32 * 1024)
    strips = normalize(data, limits)
    assert strips.data == whole.data
