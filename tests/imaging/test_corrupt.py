"""Truncated and damaged files are a permanent CORRUPT_IMAGE, with what was detected in details."""

from __future__ import annotations

import zlib

import pytest
from PIL import Image, ImageFile

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import normalize
from tests.imaging.factories import encode, png_chunk


def noisy(size: tuple[int, int] = (320, 240)) -> Image.Image:
    return Image.merge("RGB", [Image.effect_noise(size, 50 + 10 * band) for band in range(3)])


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("PNG", {}),
        ("JPEG", {"quality": 90}),
        ("GIF", {}),
        ("WEBP", {"quality": 80}),
        ("BMP", {}),
    ],
)
def test_truncated_files_are_corrupt(limits, fmt, params):
    data = encode(noisy(), fmt, **params)
    truncated = data[: int(len(data) * 0.6)]
    with pytest.raises(ThumbnailError) as caught:
        normalize(truncated, limits)
    error = caught.value
    assert error.code is ErrorCode.CORRUPT_IMAGE
    assert not error.transient
    assert error.details["format"] == fmt
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP"])
def test_corrupt_details_carry_the_header(limits, fmt):
    data = encode(noisy((320, 240)), fmt)
    with pytest.raises(ThumbnailError) as caught:
        normalize(data[: len(data) // 2], limits)
    details = caught.value.details
    assert (details["width"], details["height"], details["mode"]) == (320, 240, "RGB")


def test_header_only_files_are_corrupt(limits):
    for data in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"GIF89a\x10\x00"):
        with pytest.raises(ThumbnailError) as caught:
            normalize(data, limits)
        assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_damaged_png_header_checksum_is_corrupt(limits):
    data = bytearray(encode(Image.new("RGB", (32, 32), (1, 2, 3)), "PNG"))
    data[29] ^= 0xFF  # inside IHDR's CRC
    with pytest.raises(ThumbnailError) as caught:
        normalize(bytes(data), limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert caught.value.details["format"] == "PNG"


def test_damaged_png_pixel_data_is_corrupt(limits):
    data = bytearray(encode(noisy(), "PNG"))
    idat = data.index(b"IDAT")
    for offset in range(idat + 40, idat + 400):
        data[offset] ^= 0x5A
    with pytest.raises(ThumbnailError) as caught:
        normalize(bytes(data), limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_png_without_pixel_data_is_corrupt(limits):
    data = encode(Image.new("RGB", (32, 32)), "PNG")
    header_only = data[:33] + png_chunk(b"IEND", b"")
    with pytest.raises(ThumbnailError) as caught:
        normalize(header_only, limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_jpeg_with_garbage_instead_of_a_frame_header_is_corrupt(limits):
    data = bytearray(encode(noisy(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 2 : sof + 12] = b"\xff" * 10
    with pytest.raises(ThumbnailError) as caught:
        normalize(bytes(data), limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def oversized_metadata(kind: bytes, payload_head: bytes) -> bytes:
    """A chunk whose zlib stream inflates to 2 MiB (compressed it is a few KB)."""
    return png_chunk(kind, payload_head + zlib.compress(b"\x00" * (2 * 1024 * 1024)))


@pytest.mark.parametrize(
    ("kind", "head", "after_pixels"),
    [
        (b"iCCP", b"profile\x00\x00", False),
        (b"zTXt", b"Comment\x00\x00", False),
        (b"iTXt", b"Comment\x00\x01\x00\x00\x00", True),
    ],
)
def test_oversized_metadata_chunk_says_what_it_is(limits, kind, head, after_pixels):
    plain = encode(Image.new("RGB", (20, 20), (1, 2, 3)), "PNG")
    at = plain.rindex(b"IEND") - 4 if after_pixels else 33  # before IEND, or right after IHDR
    data = plain[:at] + oversized_metadata(kind, head) + plain[at:]
    with pytest.raises(ThumbnailError) as caught:
        normalize(data, limits)
    error = caught.value
    assert error.code is ErrorCode.CORRUPT_IMAGE
    assert "a metadata chunk (ICC profile or text) is over 1 MiB" in error.message
    assert error.details["format"] == "PNG"
