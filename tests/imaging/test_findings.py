"""The second fuzz campaign's findings (issue 17), each from a small generator: every image error is
permanent and named (never ``InternalError``), and valid files render right.

Each test failed on e50b257.  The in-process stage and the sandboxed one must agree: the worker
tests run the real worker (``python -m shared.sandbox.worker``) under its real address-space limit.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, TiffImagePlugin

from bench.formats_corpus import avif_bytes, exr_bytes, float_tiff, tga_bytes, uniform_exr
from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import InProcessImages, normalize, probe
from shared.imaging.formats import sniff
from shared.sandbox import SandboxedImages
from shared.settings import default_limits, default_sandbox
from tests.imaging.factories import reopen

LIMITS = default_limits(allow_tiff=True)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxedImages]:
    """One fresh worker: the first file it decodes is the first that imports numpy in it."""
    with SandboxedImages(LIMITS, default_sandbox(workers=1)) as stage:
        yield stage


def refusal(data: bytes, stage: InProcessImages | SandboxedImages | None = None) -> ThumbnailError:
    stage = stage or InProcessImages(LIMITS)
    with pytest.raises(ThumbnailError) as caught:
        stage.normalize(data, stage.probe(data))
    return caught.value


def centre(data: bytes) -> tuple[int, ...]:
    image = reopen(data)
    value = image.getpixel((image.width // 2, image.height // 2))
    return value if isinstance(value, tuple) else (int(value),)  # type: ignore[arg-type]


# -- escapes as InternalError ---------------------------------------------------------------------


def damaged_avif() -> bytes:
    """An AVIF whose AV1 payload (the mdat box) is zeroed from its middle: libavif fails the decode
    and Pillow's plugin raises RuntimeError."""
    data = bytearray(avif_bytes(Image.radial_gradient("L").convert("RGB").resize((128, 96)), quality=60))
    mdat = data.index(b"mdat") + 4
    middle = (mdat + len(data)) // 2
    data[middle:] = bytes(len(data) - middle)
    return bytes(data)


def test_a_damaged_avif_is_corrupt_not_internal() -> None:
    error = refusal(damaged_avif())
    assert error.code is ErrorCode.CORRUPT_IMAGE
    assert error.details["format"] == "AVIF"


def avif_with_major_brand(brand: bytes) -> bytes:
    data = bytearray(avif_bytes(Image.new("RGB", (64, 48), (200, 30, 30))))
    assert data[4:12] == b"ftypavif"
    data[8:12] = brand
    return bytes(data)


def test_an_avif_with_major_brand_mif1_is_read_as_avif() -> None:
    """libavif writes ``avif`` as the major brand, other encoders ``mif1`` with ``avif`` among the
    compatible brands; such a file is AV1, which pillow-heif's libde265 cannot decode."""
    data = avif_with_major_brand(b"mif1")
    assert sniff(data) == "AVIF"
    red, green, blue = centre(normalize(data, LIMITS).data)[:3]
    assert red > 150
    assert max(green, blue) < 80


def test_an_exr_pixel_of_3e38_at_half_alpha_is_tone_mapped() -> None:
    """Un-premultiplied, 3e38 / 0.5 overflows float32: auto exposure took log2 of zero."""
    colour = np.full((8, 8), 0.18, np.float32)
    colour[0, 0] = 3e38
    alpha = np.ones((8, 8), np.float32)
    alpha[0, 0] = 0.5
    data = exr_bytes({"R": colour, "G": colour, "B": colour, "A": alpha})
    thumb = normalize(data, LIMITS)
    assert thumb.width == 8


def with_colour_map(tga: bytes, entries: int, entry_bits: int) -> bytes:
    """A TGA as Pillow wrote it, with a colour map of ``entries`` x ``entry_bits`` inserted: the
    colour map type byte set, the map's specification filled in and its bytes placed after the
    image ID, where the TGA 2.0 specification puts them (Pillow's footer offsets are 0, so nothing
    after them moves out of place)."""
    head = bytearray(tga[:18])
    head[1] = 1
    head[3:8] = struct.pack("<HHB", 0, entries, entry_bits)
    start = 18 + tga[0]
    colour_map = bytes(index % 251 for index in range(entries * entry_bits // 8))
    return bytes(head) + tga[18:start] + colour_map + tga[start:]


def test_a_grey_and_alpha_tga_with_a_colour_map_is_read_as_grey_and_alpha() -> None:
    """Pillow's TgaImagePlugin attaches a colour map to any image type; realising it while loading
    turned this grey+alpha image into palette data, and the conversion for the resize raised
    ``ValueError: conversion from L to La`` outside the decode's error handling (InternalError)."""
    grey = Image.merge("LA", [Image.linear_gradient("L").resize((40, 30)), Image.new("L", (40, 30), 200)])
    plain = tga_bytes(grey)
    mapped = with_colour_map(plain, 2, 24)
    assert sniff(mapped) == "TGA"
    assert reopen(normalize(mapped, LIMITS).data).tobytes() == reopen(normalize(plain, LIMITS).data).tobytes()


@settings(max_examples=25, derandomize=True, deadline=None)
@given(
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA"]),
    rle=st.booleans(),
    entries=st.integers(1, 300),
    entry_bits=st.sampled_from([16, 24, 32]),
    seed=st.integers(0, 2**16),
)
def test_a_colour_map_on_a_grey_or_true_colour_tga_changes_nothing(
    mode: str, rle: bool, entries: int, entry_bits: int, seed: int
) -> None:
    """Grey and true-colour TGAs (types 2, 3, 10, 11) are "a direct representation" of the pixels
    (Truevision TGA 2.0 specification, image types): a colour map included for other applications
    must not change the thumbnail."""
    pixels = np.random.default_rng(seed).integers(0, 256, (9, 13, len(mode)), np.uint8)
    image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
    plain = tga_bytes(image, rle=rle)
    mapped = with_colour_map(plain, entries, entry_bits)
    assert reopen(normalize(mapped, LIMITS).data).tobytes() == reopen(normalize(plain, LIMITS).data).tobytes()


# -- valid files refused or wrong -----------------------------------------------------------------


def test_a_small_float_tiff_renders_in_a_fresh_worker(sandbox: SandboxedImages) -> None:
    """numpy's OpenBLAS started a thread per core inside the job's address-space limit and failed."""
    data = float_tiff((16, 16), 0.18)
    thumb = sandbox.normalize(data, sandbox.probe(data))
    assert centre(thumb.data)[0] == 141  # linear 0.18, auto exposure: the documented 141


def test_a_float_tiff_with_an_orientation_tag_is_rotated_once() -> None:
    """Pillow 13 applies a float TIFF's Orientation on load; the HDR path applied it again."""
    image = Image.new("F", (40, 20), 0.02)
    image.paste(2.0, (0, 0, 20, 20))  # bright left half
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[274] = 3  # rotate 180: the bright half ends on the right
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", tiffinfo=ifd)
    thumb = reopen(normalize(buffer.getvalue(), LIMITS).data).convert("L")
    assert thumb.size == (40, 20)
    assert thumb.getpixel((35, 10)) > thumb.getpixel((5, 10))  # type: ignore[operator]


def test_an_exr_layer_name_in_utf8_is_read() -> None:
    plane = np.full((8, 8), 0.18, np.float16)
    data = exr_bytes({f"ViewLayer.Combiné.{c}": plane for c in "RGB"})
    assert centre(normalize(data, LIMITS).data)[:3] == (141, 141, 141)


def test_an_exr_ending_like_a_tga_is_still_an_exr() -> None:
    data = uniform_exr((8, 8), (0.18, 0.18, 0.18)) + b"\x00" * 8 + b"TRUEVISION-XFILE.\x00"
    assert sniff(data) == "OPENEXR"
    assert probe(data, LIMITS).format == "OPENEXR"


def test_a_luminance_chroma_exr_is_unsupported_as_documented() -> None:
    """Y with RY and BY sampled every second pixel: the README says such files are refused.  (The
    bindings take the chroma planes at full size and write every second sample.)"""
    luma = np.full((8, 8), 0.18, np.float16)
    chroma = np.zeros((8, 8), np.float16)
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    channels = {
        "Y": OpenEXR.Channel(luma),
        "RY": OpenEXR.Channel(chroma, 2, 2),
        "BY": OpenEXR.Channel(chroma, 2, 2),
    }
    buffer = io.BytesIO()
    with OpenEXR.File(header, channels) as exr:
        exr.write(buffer)
    error = refusal(buffer.getvalue())
    assert error.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT


def test_finite_3e38_renders_white_not_black() -> None:
    plane = np.full((8, 8), 3e38, np.float32)
    data = exr_bytes({c: plane for c in "RGB"})
    assert min(centre(normalize(data, LIMITS).data)[:3]) > 200


def test_a_very_wide_exr_row_renders_in_the_worker_as_in_process(sandbox: SandboxedImages) -> None:
    """A 12,000,000x1 half RGB row is one 72 MB chunk that the OpenEXR library unpacks next to the
    decoded channels; the estimate counted 32 MB for its buffers, so the worker's grant ran out
    (EXR_ERR_OUT_OF_MEMORY) and the error read as CorruptImage.  (The issue's 40,000,000x1 row and
    a HEIC with a 24 MB ICC profile, measured by hand: both now render in the worker too.)"""
    row = np.full((1, 12_000_000), 0.18, np.float16)
    data = exr_bytes({c: row for c in "RGB"})
    thumb = sandbox.normalize(data, sandbox.probe(data))
    assert (thumb.width, thumb.height) == (800, 1)
    assert centre(thumb.data)[:3] == (141, 141, 141)
