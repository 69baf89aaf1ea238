"""Property: whatever image comes in, the stage ends in a thumbnail that meets the contract or in a
``ThumbnailError`` with a stable code, never another exception (and never ``InternalError``, which
means a surprise).

Generated: format (PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF, TGA; HEIC and OpenEXR, which Pillow does
not write, have their own property tests in test_render_formats.py), mode (1, L, P, LA, RGB, RGBA, I;16, CMYK),
size (including 1xN and Nx1 rows), alpha or a transparent colour, an ICC profile that is garbage or
one corrupted byte away from sRGB, an EXIF orientation anywhere in 0..65535, and truncation.
Seeded (``derandomize``), so a failure in CI is the same failure locally.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import InProcessImages, Thumbnail
from shared.sandbox import SandboxedImages
from shared.settings import default_limits, default_sandbox
from tests.imaging.contract import assert_meets_the_contract
from tests.imaging.factories import srgb_profile

LIMITS = default_limits(allow_tiff=True)
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "TGA")
MODES = ("1", "L", "P", "LA", "RGB", "RGBA", "I;16", "CMYK")
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 2, "CMYK": 4}
_TAKES_EXIF = frozenset({"PNG", "JPEG", "WEBP", "TIFF"})
_TAKES_ICC = frozenset({"PNG", "JPEG", "WEBP", "TIFF"})


@dataclass(frozen=True)
class Generated:
    fmt: str
    mode: str
    size: tuple[int, int]
    data: bytes
    note: str


def _pixels(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    rng = random.Random(seed)
    count = size[0] * size[1] * _BYTES_PER_PIXEL[mode]
    flat = rng.random() < 0.5  # flat images compress, noise does not: both matter for encoding
    raw = bytes([rng.randrange(256)]) * count if flat else rng.randbytes(count)
    if mode == "1":
        return Image.frombytes("L", size, raw).convert("1")
    image = Image.frombytes(mode, size, raw)
    if mode == "P":
        image.putpalette(rng.randbytes(768))
    return image


@st.composite
def generated(draw: st.DrawFn) -> Generated:
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(MODES))
    shape = draw(st.sampled_from(("box", "row", "column")))
    long_side = draw(st.integers(1, 6000 if shape != "box" else 1500))
    if shape == "box":
        size = (long_side, draw(st.integers(1, 1500)))
    else:
        size = (long_side, draw(st.integers(1, 3))) if shape == "row" else (draw(st.integers(1, 3)), long_side)
    assume(size[0] * size[1] <= 1_500_000)
    image = _pixels(mode, size, draw(st.integers(0, 2**32)))
    params: dict[str, Any] = {}
    notes = [f"{fmt} {mode} {size[0]}x{size[1]}"]
    if fmt in _TAKES_EXIF and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 65535))
        params["exif"] = exif.tobytes()
        notes.append(f"orientation {exif[0x0112]}")
    icc = draw(st.sampled_from(("none", "garbage", "header", "anywhere"))) if fmt in _TAKES_ICC else "none"
    if icc != "none":
        profile = bytearray(srgb_profile())
        if icc == "garbage":
            profile = bytearray(draw(st.binary(min_size=1, max_size=200)))
        else:
            # "header": the first 40 bytes (size, class, colour space, PCS, 'acsp'), which parsers
            # trust most; values over 0x7F break text signatures.
            where = draw(st.integers(0, 39) if icc == "header" else st.integers(0, len(profile) - 1))
            profile[where] = draw(st.one_of(st.integers(0x80, 0xFF), st.integers(0, 255)))
        params["icc_profile"] = bytes(profile)
        notes.append("icc garbage")
    if mode in ("P", "L", "RGB") and fmt in ("PNG", "GIF") and draw(st.booleans()):
        params["transparency"] = 0 if mode != "RGB" else (0, 0, 0)
        notes.append("transparent colour")
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt, **params)
    except (OSError, ValueError, KeyError, TypeError):
        assume(False)  # Pillow cannot write this combination: not an input anyone can drop
    data = buffer.getvalue()
    if draw(st.integers(0, 3)) == 0:
        cut = draw(st.integers(1, max(1, len(data) - 1)))
        data = data[:cut]
        notes.append(f"truncated to {cut} of {len(buffer.getvalue())} bytes")
    return Generated(fmt, mode, size, data, ", ".join(notes))


def outcome(stage: InProcessImages | SandboxedImages, data: bytes) -> Thumbnail | ThumbnailError:
    try:
        return stage.normalize(data, stage.probe(data))
    except ThumbnailError as error:
        return error


def assert_stable(result: Thumbnail | ThumbnailError, case: Generated) -> None:
    if isinstance(result, ThumbnailError):
        assert result.code is not ErrorCode.INTERNAL_ERROR, (case.note, result)
        assert result.code in ErrorCode, case.note
        assert "format" in result.details, (case.note, result.details)
    else:
        assert_meets_the_contract(result, LIMITS)


@settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated())
def test_every_generated_image_is_a_valid_thumbnail_or_a_stable_error(case: Generated) -> None:
    assert_stable(outcome(InProcessImages(LIMITS), case.data), case)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxedImages]:
    with SandboxedImages(LIMITS, default_sandbox(workers=1)) as stage:
        yield stage


@settings(
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=generated())
def test_the_sandbox_gives_the_same_outcome_as_decoding_in_process(case: Generated, sandbox: SandboxedImages) -> None:
    here, there = outcome(InProcessImages(LIMITS), case.data), outcome(sandbox, case.data)
    assert_stable(there, case)
    if isinstance(here, ThumbnailError):
        assert isinstance(there, ThumbnailError), case.note
        assert (there.code, there.message, there.details) == (here.code, here.message, here.details)
    else:
        assert isinstance(there, Thumbnail), (case.note, there)
        assert there.data == here.data
