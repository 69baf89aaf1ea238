"""Header-only checks: sizes, the pixel cap, bombs, and Pillow's own bomb check never leaking out."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
import warnings

import pytest
from PIL import Image, ImageFile

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import normalize, probe
from shared.settings import default_limits
from tests.imaging.factories import (
    BLUE,
    RED,
    encode,
    gif_frame_bomb,
    png_bomb,
    reopen,
    webp_canvas_bomb,
)


def test_empty_blob(limits):
    for call in (probe, normalize):
        with pytest.raises(ThumbnailError) as caught:
            call(b"", limits)
        assert caught.value.code is ErrorCode.EMPTY_BLOB
        assert caught.value.details["bytes"] == 0


def test_blob_over_max_input_bytes_is_refused_before_parsing():
    data = encode(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(ThumbnailError) as caught:
        normalize(data, default_limits(max_input_bytes=len(data) - 1))
    assert caught.value.code is ErrorCode.BLOB_TOO_LARGE
    details = caught.value.details
    assert (details["bytes"], details["format"]) == (len(data), "PNG")
    assert (details["width"], details["height"], details["mode"]) == (64, 64, "RGB")  # from the header
    assert probe(data, default_limits(max_input_bytes=len(data))).format == "PNG"


def test_png_bomb_is_refused_from_the_header_without_allocating(limits):
    bomb = png_bomb(30000, 30000)
    assert len(bomb) < 200
    tracemalloc.start()
    try:
        with pytest.raises(ThumbnailError) as caught:
            normalize(bomb, limits)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    error = caught.value
    assert error.code is ErrorCode.IMAGE_TOO_MANY_PIXELS
    assert (error.details["format"], error.details["width"], error.details["height"]) == ("PNG", 30000, 30000)
    assert error.details["mode"] == "RGB"
    # The bitmap would be 3.6 GB; nothing near even a megabyte was allocated.
    assert peak < 1_000_000


@pytest.mark.parametrize(("make", "fmt"), [(gif_frame_bomb, "GIF"), (webp_canvas_bomb, "WEBP")])
def test_gif_and_webp_bombs_are_refused_before_pillow_sees_them(limits, make, fmt):
    tracemalloc.start()
    try:
        with pytest.raises(ThumbnailError) as caught:
            probe(make(), limits)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS
    assert caught.value.details["format"] == fmt
    assert peak < 1_000_000


def test_pixel_cap_is_configurable_and_inclusive():
    data = encode(Image.new("RGB", (100, 50)), "PNG")
    assert probe(data, default_limits(max_pixels=5000)).width == 100
    with pytest.raises(ThumbnailError) as caught:
        normalize(data, default_limits(max_pixels=4999))
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS
    assert caught.value.details["max_pixels"] == 4999


def test_default_cap_admits_a_16k_frame_header(limits):
    # 15360x8640 = 132.7 MP is above Pillow's own default (89.5 MP), below ours (140 MP).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = probe(png_bomb(15360, 8640), limits)
    assert (info.width, info.height) == (15360, 8640)
    with pytest.raises(ThumbnailError) as caught:
        probe(png_bomb(15360, 9200), limits)
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS


def test_pillows_process_wide_limit_is_neither_used_nor_changed_for_png(limits, monkeypatch):
    # With Pillow's own threshold far below the image, Image.open would warn (or raise); our decoders
    # apply our cap only, and warnings never escape.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = encode(Image.new("RGB", (200, 100), RED), "PNG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thumb = normalize(data, limits)
    assert (thumb.width, thumb.height) == (200, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_pillows_global_bomb_limit_does_not_refuse_a_tiff_our_cap_allows(limits, monkeypatch):
    # Pillow's TIFF decoder checks Pillow's process-wide limit while decoding (a warning between
    # 1x and 2x of it, DecompressionBombError above).  Our MAX_IMAGE_PIXELS is the one that holds:
    # with Pillow's limit at 10,000 pixels, 15,000- and 30,000-pixel TIFFs are still thumbnails,
    # nothing warns, and Pillow's global is left as it was.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for size in ((150, 100), (300, 100)):
            thumb = normalize(encode(Image.new("RGB", size, BLUE), "TIFF"), limits)
            assert (thumb.width, thumb.height) == size
    assert Image.MAX_IMAGE_PIXELS == 10_000


def test_our_cap_still_refuses_a_tiff(limits):
    data = encode(Image.new("L", (200, 100)), "TIFF")
    with pytest.raises(ThumbnailError) as caught:
        probe(data, default_limits(max_pixels=19_999))
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS
    assert caught.value.details["format"] == "TIFF"


def test_decompression_bomb_warning_becomes_the_error_for_an_outgrown_gif(limits, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    data = gif_frame_bomb(1200, 1000)  # 1.2 MP frame on a 1x1 screen: Pillow would warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ThumbnailError) as caught:
            probe(data, limits)
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS


def test_pillows_own_refusal_inside_a_decoder_is_the_same_error(limits, monkeypatch):
    # Pillow's WebP decoder refuses canvases over twice Pillow's global limit while opening; that
    # DecompressionBombError is reported as ours, with what was detected.
    data = encode(Image.new("RGB", (20, 20), RED), "WEBP", lossless=True)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # 400 px > 2 x 150
    with pytest.raises(ThumbnailError) as caught:
        normalize(data, limits)
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS
    assert caught.value.details["format"] == "WEBP"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 400 px: Image.open would only warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert normalize(data, limits).width == 20


def test_probe_does_not_decode_pixels(limits):
    # The pixel data is cut off: probe is happy (it reads the header), normalize is not.
    data = encode(Image.effect_noise((300, 200), 60).convert("RGB"), "PNG")
    truncated = data[: len(data) // 2]
    info = probe(truncated, limits)
    assert (info.format, info.width, info.height, info.mode) == ("PNG", 300, 200, "RGB")
    with pytest.raises(ThumbnailError) as caught:
        normalize(truncated, limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_probe_reports_frames_orientation_and_bytes(limits):
    frames = [Image.new("RGB", (30, 20), colour) for colour in (RED, BLUE, RED)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    info = probe(gif, limits)
    assert (info.format, info.frames, info.byte_size) == ("GIF", 3, len(gif))
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = encode(Image.new("RGB", (30, 20)), "JPEG", exif=exif.tobytes())
    assert probe(jpeg, limits).orientation == 6


def test_image_info_as_dict_is_json_for_the_dead_letter_payload(limits):
    info = probe(encode(Image.new("LA", (9, 7)), "PNG"), limits)
    payload = json.loads(json.dumps(info.as_dict()))
    assert payload == {
        "format": "PNG",
        "width": 9,
        "height": 7,
        "mode": "LA",
        "frames": 1,
        "bytes": info.byte_size,
        "orientation": 1,
        "bitDepth": 8,
        "hdr": False,
    }
    assert info.byte_size > 0


def test_no_pillow_global_state_is_changed(limits):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    for data in (encode(Image.new("RGB", (64, 48)), "PNG"), png_bomb(), encode(Image.new("P", (8, 8)), "GIF")):
        with contextlib.suppress(ThumbnailError):
            reopen(normalize(data, limits).data)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)) == before
