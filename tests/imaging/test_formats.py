"""The format is decided from the bytes, and only allowlisted decoders ever see them."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import normalize, probe
from shared.imaging.formats import allowed_formats, sniff
from shared.settings import default_limits
from tests.imaging.factories import encode, psd_rgb

SMALL = Image.new("RGB", (40, 30), (10, 120, 200))


@pytest.mark.parametrize(
    ("fmt", "params", "expected"),
    [
        ("PNG", {}, "PNG"),
        ("JPEG", {"quality": 90}, "JPEG"),
        ("WEBP", {"lossless": True}, "WEBP"),
        ("GIF", {}, "GIF"),
        ("BMP", {}, "BMP"),
    ],
)
def test_default_allowlist_formats_are_detected_and_normalized(limits, fmt, params, expected):
    data = encode(SMALL, fmt, **params)
    info = probe(data, limits)
    assert (info.format, info.width, info.height) == (expected, 40, 30)
    thumb = normalize(data, limits)
    assert thumb.content_type == "image/png"
    assert thumb.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert (thumb.width, thumb.height) == (40, 30)


def test_format_comes_from_the_bytes_not_a_label(limits):
    # A PNG whose bytes were produced by a "name.jpg" writer is still a PNG: the API takes no name,
    # and the detected format is the one the magic bytes give.
    path_like_jpeg = io.BytesIO()
    path_like_jpeg.name = "render.jpg"
    SMALL.save(path_like_jpeg, "PNG")
    assert probe(path_like_jpeg.getvalue(), limits).format == "PNG"


def refused_files() -> list[tuple[str, bytes]]:
    tiny = Image.new("RGB", (16, 16), (200, 0, 0))
    return [
        ("SVG", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
        ("SVG", b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'><rect/></svg>"),
        ("EPS", encode(tiny, "EPS")),
        ("PDF", encode(tiny, "PDF")),
        ("PSD", psd_rgb()),
        ("JPEG2000", encode(tiny, "JPEG2000")),
        ("ICO", encode(tiny, "ICO")),
        ("QOI", encode(tiny, "QOI")),
        ("DDS", encode(tiny, "DDS")),
        ("HTML", b"<!DOCTYPE html><html><body>403 Forbidden</body></html>"),
    ]


@pytest.mark.parametrize(("name", "data"), refused_files(), ids=lambda v: v if isinstance(v, str) else "")
def test_recognised_but_refused_formats_are_unsupported_with_their_name(limits, name, data):
    for call in (probe, normalize):
        with pytest.raises(ThumbnailError) as caught:
            call(data, limits)
        assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT
        assert caught.value.details["format"] == name
        assert not caught.value.transient


def test_psd_is_refused_although_pillow_could_open_it(limits):
    data = psd_rgb()
    assert Image.open(io.BytesIO(data)).format == "PSD"  # Image.open would have decoded it
    with pytest.raises(ThumbnailError) as caught:
        normalize(data, limits)
    assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT


@pytest.mark.parametrize(
    "data",
    [
        random.Random(1).randbytes(5000),
        b"BM this is text that starts like a bitmap",
        b"hello, world",
        b"\x00" * 64,
        # Targa has no magic bytes: without the TGA 2.0 footer (the last 26 bytes: two offsets and
        # TRUEVISION-XFILE) Pillow's Image.open would accept this, we do not.
        encode(Image.new("RGB", (8, 8)), "TGA")[:-26],
    ],
    ids=["random", "bm-text", "text", "zeros", "tga"],
)
def test_unknown_bytes_are_unsupported(limits, data):
    with pytest.raises(ThumbnailError) as caught:
        probe(data, limits)
    assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT
    assert caught.value.details["format"] == "unknown"


def test_tiff_is_on_by_default_and_allow_tiff_false_turns_it_off(limits):
    data = encode(Image.new("RGB", (20, 10), (0, 128, 0)), "TIFF")
    assert probe(data, limits).format == "TIFF"
    assert normalize(data, limits).width == 20
    with pytest.raises(ThumbnailError) as caught:
        probe(data, default_limits(allow_tiff=False))
    assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT
    assert "ALLOW_TIFF" in caught.value.message


def test_allowlist_is_exactly_the_issue_list():
    assert allowed_formats(default_limits()) == (
        "PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "HEIF", "OPENEXR", "TGA"
    )  # fmt: skip
    assert "TIFF" not in allowed_formats(default_limits(allow_tiff=False))


def test_sniff_does_not_mistake_text_for_bmp():
    assert sniff(b"BMW owners club") is None
    assert sniff(encode(SMALL, "BMP")) == "BMP"
