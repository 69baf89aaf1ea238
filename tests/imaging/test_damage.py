"""A damaged render never becomes a thumbnail: it is a faithful thumbnail or a stable refusal.

The damage is what a render farm that crashes mid-write, or a copy over a bad link, leaves behind:
a file cut short, a run of bytes overwritten or zeroed, bits flipped.  "Faithful" is judged
against the thumbnail of the undamaged original: same size, and a PSNR of at least
``FAITHFUL_PSNR_DB`` (30 dB: an 8x8 block off by 100 levels somewhere in a 256x192 picture is
about 37 dB; the stripes and flat grey of a desynchronised scan are 8-24 dB).

What a decoder can see depends on the format.  PNG has a CRC-32 on every chunk, so any damage
anywhere is seen (the PNG property runs over cut, flipped, zeroed and overwritten bytes).  JPEG has
no checksum; the strict libjpeg-turbo decode (``formats.jpeg``) sees what a crashed or interrupted
write leaves (the scan cut anywhere, with or without an EOI appended; the rest of the scan
overwritten), which is the JPEG property.  It cannot see everything: a flipped magnitude bit or a
changed quantisation table is another valid JPEG (19 of 150 seeded single-bit flips in a baseline
scan gave a picture under 30 dB with no libjpeg warning), and hypothesis found a run of 64 zero
bytes mid-scan (29.3 dB) and one of 1,024 (15.9 dB) that libjpeg-turbo decodes without a warning,
so flips and zeroed runs are not generated for JPEG.  Truncation is seen in every format.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import normalize
from shared.sandbox import SandboxedImages
from shared.settings import default_limits, default_sandbox

LIMITS = default_limits(allow_tiff=True)
FAITHFUL_PSNR_DB = 30.0
#: Codes a damaged file may end with: what the damage looks like (corrupt), or a header damaged
#: into something we do not read (another or no format, an absurd size or structure), or cut to nothing.
REFUSALS = frozenset(
    {
        ErrorCode.CORRUPT_IMAGE,
        ErrorCode.EMPTY_BLOB,
        ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
        ErrorCode.IMAGE_TOO_MANY_PIXELS,
        ErrorCode.IMAGE_TOO_COMPLEX,
    }
)
DAMAGE_SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def render(size: tuple[int, int] = (256, 192), seed: int = 3) -> Image.Image:
    """A render-like picture: a gradient, two shapes, a little noise (so scans are not trivial)."""
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(picture)
    width, height = size
    draw.ellipse((width // 6, height // 6, width // 2, height * 3 // 4), fill=(200, 40, 40))
    draw.rectangle((width * 5 // 8, height // 10, width * 9 // 10, height * 9 // 10), fill=(20, 90, 200))
    rng = np.random.default_rng(seed)
    noise = rng.integers(-12, 13, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(picture, dtype=np.int16) + noise, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def scan_start(jpeg: bytes) -> int:
    """Where the first scan's entropy-coded data begins (after the SOS segment)."""
    sos = jpeg.index(b"\xff\xda")
    return sos + 2 + int(struct.unpack_from(">H", jpeg, sos + 2)[0])


def thumbnail_of(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(normalize(data, LIMITS).data)).convert("RGB")


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float((diff**2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def assert_faithful_or_refused(damaged: bytes, original: bytes) -> None:
    """The property: a refusal that is permanent, in ``REFUSALS`` and the same on a second try; or a
    thumbnail of the original's size within ``FAITHFUL_PSNR_DB`` of the original's thumbnail."""
    refusal: ThumbnailError | None = None
    try:
        thumb = thumbnail_of(damaged)
    except ThumbnailError as error:
        refusal = error
    if refusal is not None:
        assert refusal.code in REFUSALS, refusal
        assert not refusal.transient
        with pytest.raises(ThumbnailError) as again:
            normalize(damaged, LIMITS)
        assert again.value.code is refusal.code
        return
    reference = thumbnail_of(original)
    assert thumb.size == reference.size
    assert psnr(thumb, reference) >= FAITHFUL_PSNR_DB


# -- the findings of issue 17: each became the iModel's thumbnail on e50b257 ------------------------

BASE_JPEG = encode(render((512, 384)), "JPEG", quality=92)


def jpeg_scan_overwritten() -> bytes:
    """Scan data overwritten by other bytes (no 0xFF, so no marker appears), EOI kept."""
    start, end = scan_start(BASE_JPEG), len(BASE_JPEG) - 2
    junk = np.random.default_rng(1).integers(0, 255, end - start, dtype=np.uint8).tobytes()
    return BASE_JPEG[:start] + junk + BASE_JPEG[end:]


def jpeg_scan_cut_at_40_percent() -> bytes:
    start = scan_start(BASE_JPEG)
    return BASE_JPEG[: start + (len(BASE_JPEG) - start) * 2 // 5] + b"\xff\xd9"


def jpeg_4k_zeroed_mid_scan() -> bytes:
    middle = (scan_start(BASE_JPEG) + len(BASE_JPEG)) // 2
    return BASE_JPEG[:middle] + bytes(4096) + BASE_JPEG[middle + 4096 :]


def png_wrong_idat_crc() -> bytes:
    data = bytearray(encode(render(), "PNG"))
    idat = data.index(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", data, idat)
    crc_at = idat + 8 + length
    data[crc_at : crc_at + 4] = struct.pack(">I", zlib.crc32(data[idat + 4 : idat + 8 + length]) ^ 1)
    return bytes(data)


FINDINGS = {
    "jpeg-scan-overwritten": jpeg_scan_overwritten,
    "jpeg-scan-cut-at-40-percent-eoi-appended": jpeg_scan_cut_at_40_percent,
    "jpeg-4k-zeroed-mid-scan": jpeg_4k_zeroed_mid_scan,
    "png-wrong-idat-crc": png_wrong_idat_crc,
}


@pytest.mark.parametrize("name", FINDINGS)
def test_a_damaged_file_of_the_issue_is_corrupt_in_process(name: str) -> None:
    with pytest.raises(ThumbnailError) as caught:
        normalize(FINDINGS[name](), LIMITS)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert not caught.value.transient
    assert caught.value.details["format"] in ("JPEG", "PNG")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxedImages]:
    with SandboxedImages(LIMITS, default_sandbox(workers=1)) as stage:
        yield stage


@pytest.mark.parametrize("name", FINDINGS)
def test_a_damaged_file_of_the_issue_is_corrupt_in_the_worker(name: str, sandbox: SandboxedImages) -> None:
    data = FINDINGS[name]()
    with pytest.raises(ThumbnailError) as caught:
        sandbox.normalize(data, sandbox.probe(data))
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_the_undamaged_originals_still_make_thumbnails() -> None:
    """The strict decode refuses damage, not JPEGs: the original gives the same pixels as Pillow's
    own decode of it (both are libjpeg-turbo at the same DCT scale)."""
    thumb = thumbnail_of(BASE_JPEG)
    pillow = Image.open(io.BytesIO(BASE_JPEG)).convert("RGB")
    pillow.thumbnail(thumb.size, Image.Resampling.LANCZOS)
    assert thumb.size == pillow.size == (512, 384)
    assert psnr(thumb, pillow) == math.inf
    assert thumbnail_of(encode(render(), "PNG")).size == (256, 192)


# -- the property: seeded damage to valid files ------------------------------------------------------

JPEGS = {
    "baseline": encode(render(), "JPEG", quality=90),
    "progressive": encode(render(), "JPEG", quality=90, progressive=True),
    "grey": encode(render().convert("L"), "JPEG", quality=90),
}
PNGS = {
    "rgb": encode(render(), "PNG"),
    "rgba": encode(render().convert("RGBA"), "PNG"),
    "palette": encode(render().convert("P"), "PNG"),
}
#: Every format's truncation is seen (cut anywhere; TGA loses the footer that names it).
CUT_ANYWHERE = {
    **{f"jpeg-{name}": data for name, data in JPEGS.items()},
    **{f"png-{name}": data for name, data in PNGS.items()},
    "webp-lossy": encode(render(), "WEBP", quality=90),
    "webp-lossless": encode(render(), "WEBP", lossless=True),
    "gif": encode(render(), "GIF"),
    "bmp": encode(render(), "BMP"),
    "tiff-deflate": encode(render(), "TIFF", compression="tiff_deflate"),
    "tga-rle": encode(render(), "TGA", compression="tga_rle"),
}


def damaged(data: bytes, kind: str, at: int, length: int, filler: int) -> bytes:
    """``data`` cut at ``at``, or ``length`` bytes from ``at`` overwritten with a pattern from
    ``filler`` or zeroed, or bit ``filler % 8`` of byte ``at`` flipped."""
    if kind == "cut":
        return data[:at]
    out = bytearray(data)
    if kind == "flip":
        out[at] ^= 1 << (filler % 8)
        return bytes(out)
    end = min(len(out), at + length)
    if kind == "zero":
        out[at:end] = bytes(end - at)
    else:
        rng = np.random.default_rng(filler)
        out[at:end] = rng.integers(0, 255, end - at, dtype=np.uint8).tobytes()  # 0..254: no new marker
    return bytes(out)


@DAMAGE_SETTINGS
@given(
    name=st.sampled_from(sorted(PNGS)),
    kind=st.sampled_from(["cut", "flip", "zero", "overwrite"]),
    where=st.floats(0, 1, exclude_max=True),
    length=st.integers(1, 4096),
    filler=st.integers(0, 2**16),
)
def test_damage_anywhere_in_a_png_is_refused_or_harmless(
    name: str, kind: str, where: float, length: int, filler: int
) -> None:
    original = PNGS[name]
    assert_faithful_or_refused(damaged(original, kind, int(where * len(original)), length, filler), original)


@DAMAGE_SETTINGS
@given(
    name=st.sampled_from(sorted(JPEGS)),
    kind=st.sampled_from(["cut", "cut+eoi", "overwritten to the end"]),
    where=st.floats(0, 1, exclude_max=True),
    filler=st.integers(0, 2**16),
)
def test_a_jpeg_scan_cut_or_overwritten_is_refused_or_harmless(name: str, kind: str, where: float, filler: int) -> None:
    """What a crashed or interrupted write leaves: the scan cut at any point (with or without an EOI
    appended), or its remainder overwritten with other bytes up to the kept EOI."""
    original = JPEGS[name]
    start = scan_start(original)
    at = start + int(where * (len(original) - start - 2))
    if kind == "overwritten to the end":
        damage = damaged(original, "overwrite", at, len(original) - 2 - at, filler)
    else:
        damage = original[:at] + (b"\xff\xd9" if kind == "cut+eoi" else b"")
    assert_faithful_or_refused(damage, original)


@settings(max_examples=30, derandomize=True, deadline=None)
@given(name=st.sampled_from(sorted(CUT_ANYWHERE)), where=st.floats(0, 1, exclude_max=True))
def test_a_file_cut_short_in_any_format_is_refused_or_harmless(name: str, where: float) -> None:
    original = CUT_ANYWHERE[name]
    assert_faithful_or_refused(original[: int(where * len(original))], original)
