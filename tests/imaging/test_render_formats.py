"""What render farms and phones write: TIFF (8/16-bit, float), AVIF, HEIC, OpenEXR and TGA.

Every file is made in code (bench/formats_corpus.py), nothing is downloaded.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bench.formats_corpus import (
    avif_bytes,
    exr_bytes,
    float_rgb_tiff,
    float_tiff,
    heic_10bit,
    heic_bytes,
    multipage_tiff,
    tga_bytes,
    tiff16_gray,
    tiff_bytes,
    uniform_exr,
)
from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import describe, estimate_decode_bytes, normalize, probe
from shared.imaging.formats import sniff
from shared.imaging.formats.exr import beauty_channels
from shared.imaging.limits import API_MAX_THUMBNAIL_BYTES
from shared.settings import ImageLimits, default_limits
from tests.imaging.factories import BLUE, RED, nearly, quadrants, reopen, tiff16_rgb

#: linear 0.18 at 0 stops -> Narkowicz ACES 0.2669 -> sRGB 0.5534 -> 141 (see shared.imaging.tonemap)
MID_GREY_SRGB = 141


def pixel(data: bytes, point: tuple[int, int] = (2, 2)) -> tuple[int, ...]:
    value = reopen(data).getpixel(point)
    return value if isinstance(value, tuple) else (int(value),)  # type: ignore[arg-type]


def reference(linear: float, stops: float) -> int:
    """The documented curve, written out independently of the implementation."""
    x = linear * 2**stops
    filmic = min(1.0, max(0.0, (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14)))
    encoded = 12.92 * filmic if filmic <= 0.0031308 else 1.055 * filmic ** (1 / 2.4) - 0.055
    return round(encoded * 255)


# -- sniffing and the plain decode of each format -------------------------------------------------


SMALL = quadrants(64, 48)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("HEIF", heic_bytes(SMALL, quality=95)),
        ("AVIF", avif_bytes(SMALL, quality=95)),
        ("TGA", tga_bytes(SMALL)),
        ("TGA", tga_bytes(SMALL, rle=True)),
        ("TIFF", tiff_bytes(SMALL)),
        ("TIFF", tiff_bytes(SMALL, "tiff_lzw")),
        ("TIFF", tiff_bytes(SMALL, "tiff_adobe_deflate")),
        ("TIFF", tiff_bytes(SMALL, "packbits")),
    ],
    ids=["heic", "avif", "tga", "tga-rle", "tiff", "tiff-lzw", "tiff-deflate", "tiff-packbits"],
)
def test_each_format_is_sniffed_and_keeps_its_colours(limits, fmt, data):
    assert sniff(data) == fmt
    info = probe(data, limits)
    assert (info.format, info.width, info.height) == (fmt, 64, 48)
    thumb = normalize(data, limits)
    assert (thumb.width, thumb.height) == (64, 48)
    out = reopen(thumb.data).convert("RGB")
    for point, colour in (((8, 8), RED), ((56, 8), (0, 255, 0)), ((8, 40), BLUE), ((56, 40), (255, 255, 255))):
        assert nearly(out.getpixel(point), colour, tolerance=12), (point, out.getpixel(point))  # type: ignore[arg-type]


def test_multipage_tiff_uses_the_first_page(limits):
    data = multipage_tiff(Image.new("RGB", (40, 30), RED), Image.new("RGB", (40, 30), BLUE))
    info = probe(data, limits)
    assert info.frames == 2
    assert pixel(normalize(data, limits).data) == RED


@pytest.mark.parametrize("compression", [None, "tiff_lzw", "tiff_adobe_deflate", "packbits"])
def test_a_16bit_grey_tiff_is_scaled_not_clipped(limits, compression):
    # convert("L") would clamp 40000 to 255 (white); over the 16-bit range it is 40000/65535.
    data = tiff16_gray((300, 200), 40000, compression)
    info = probe(data, limits)
    assert (info.mode, info.bit_depth, info.hdr) == ("I;16", 16, False)
    assert pixel(normalize(data, limits).data) == (round(40000 * 255 / 65535),)


def test_tga_without_the_2_0_footer_is_unknown(limits):
    data = tga_bytes(SMALL)[:-26]
    with pytest.raises(ThumbnailError) as caught:
        probe(data, limits)
    assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT


# -- HEIC -------------------------------------------------------------------------------------------


def test_a_rotated_heic_comes_out_upright(limits):
    # Stored landscape with EXIF orientation 6 (the phone was held upright): red left, blue right.
    stored = Image.new("RGB", (80, 40), RED)
    stored.paste(BLUE, (40, 0, 80, 40))
    thumb = normalize(heic_bytes(stored, orientation=6, quality=95), limits)
    out = reopen(thumb.data).convert("RGB")
    # Rotated 90 degrees clockwise for display: portrait, the stored left (red) on top.
    assert out.size == (40, 80)
    assert nearly(out.getpixel((20, 10)), RED, tolerance=16)  # type: ignore[arg-type]
    assert nearly(out.getpixel((20, 70)), BLUE, tolerance=16)  # type: ignore[arg-type]


def test_a_10bit_heic_is_reported_and_scaled_to_8_bits(limits):
    data = heic_10bit((64, 48), 512)
    info = probe(data, limits)
    assert (info.format, info.bit_depth) == ("HEIF", 10)
    assert nearly(pixel(normalize(data, limits).data), (128, 128, 128), tolerance=2)


# -- OpenEXR and HDR tone mapping ------------------------------------------------------------------


def test_a_known_linear_value_maps_to_the_documented_srgb_value(limits):
    data = uniform_exr((400, 300), (0.18, 0.18, 0.18))
    assert sniff(data) == "OPENEXR"
    info = probe(data, limits)
    assert (info.format, info.mode, info.bit_depth, info.hdr) == ("OPENEXR", "RGB", 16, True)
    thumb = normalize(data, limits)
    assert pixel(thumb.data) == (MID_GREY_SRGB,) * 3 == (reference(0.18, 0),) * 3
    assert any("exposure +0.00 stops (auto)" in step for step in thumb.steps)


@pytest.mark.parametrize("level", [0.01, 0.18, 3.0, 100.0])  # within +/- 10 stops of 0.18
def test_automatic_exposure_brings_any_flat_level_to_middle_grey(limits, level):
    # (within 1: the 1e-4 offset of the log-average and half-float rounding move dim levels a hair)
    assert nearly(pixel(normalize(uniform_exr((64, 64), (level,) * 3), limits).data), (MID_GREY_SRGB,) * 3, 1)


@pytest.mark.parametrize(("stops", "linear"), [(0.0, 0.18), (1.0, 0.18), (-2.0, 2.0), (3.0, 0.5)])
def test_hdr_exposure_stops_fixes_the_exposure(stops, linear):
    limits = default_limits(hdr_exposure_stops=stops)
    thumb = normalize(uniform_exr((64, 64), (linear,) * 3), limits)
    assert pixel(thumb.data) == (reference(linear, stops),) * 3
    assert any(f"exposure {stops:+.2f} stops (HDR_EXPOSURE_STOPS)" in step for step in thumb.steps)


def test_highlights_roll_off_instead_of_clipping():
    limits = default_limits(hdr_exposure_stops=0.0)
    values = [pixel(normalize(uniform_exr((16, 16), (v,) * 3), limits).data)[0] for v in (0.5, 1.0, 2.0, 4.0)]
    assert values == sorted(values)
    assert len(set(values)) == 4
    assert values[-1] < 255


def test_hdr_is_resampled_in_linear_light():
    # Alternating columns of 0 and 2.0 reduce to a linear 1.0: the thumbnail must equal a flat
    # 1.0 render, not the average of the tone-mapped values (which would be much darker).
    limits = default_limits(hdr_exposure_stops=0.0)
    stripes = np.zeros((2500, 4000), np.float16)
    stripes[:, 1::2] = 2.0
    thumb = normalize(exr_bytes({"R": stripes, "G": stripes, "B": stripes}), limits)
    assert (thumb.width, thumb.height) == (800, 500)
    assert any(step.startswith("reduce 1/") for step in thumb.steps)
    flat = reference(1.0, 0)
    assert nearly(pixel(thumb.data, (400, 250)), (flat,) * 3, tolerance=1)
    assert flat - (reference(2.0, 0) + 0) // 2 > 40  # the wrong (post-tone-map) average is far off


@pytest.mark.parametrize("size", [(200_000, 1), (1, 200_000), (240_000, 3)])
def test_a_one_row_exr_is_reduced_along_its_length(size):
    # Reduced by the short side only, LANCZOS would see the whole 200,000-pixel row (the weight
    # tables of the 8-bit path's 1xN case); per axis, it sees a few thousand.
    limits = default_limits(hdr_exposure_stops=0.0)
    width, height = size
    thumb = normalize(exr_bytes({c: np.full((height, width), 0.18, np.float16) for c in "RGB"}), limits)
    assert (thumb.width, thumb.height) in ((800, 1), (1, 500))
    assert any(step.startswith("reduce 1/") and "x1/" in step for step in thumb.steps)
    assert pixel(thumb.data, (0, 0)) == (MID_GREY_SRGB,) * 3


@pytest.mark.parametrize("compression", ["NO", "RLE", "ZIPS", "ZIP", "PIZ", "PXR24", "B44", "DWAA"])
@pytest.mark.parametrize("tiled", [False, True], ids=["scanline", "tiled"])
def test_every_usual_exr_compression_scanline_and_tiled(compression, tiled):
    limits = default_limits(hdr_exposure_stops=0.0)
    data = uniform_exr((96, 80), (0.18, 0.18, 0.18), compression=compression, tiled=tiled)
    assert nearly(pixel(normalize(data, limits).data), (MID_GREY_SRGB,) * 3, tolerance=1)


def test_float32_exr_channels_and_premultiplied_alpha():
    # Premultiplied 0.09 at alpha 0.5 is a straight 0.18: mid grey at half coverage.
    limits = default_limits(hdr_exposure_stops=0.0)
    colour = np.full((50, 60), 0.09, np.float32)
    data = exr_bytes({"R": colour, "G": colour, "B": colour, "A": np.full((50, 60), 0.5, np.float32)})
    info = probe(data, limits)
    assert (info.mode, info.bit_depth) == ("RGBA", 32)
    thumb = normalize(data, limits)
    assert thumb.mode == "RGBA"
    assert nearly(pixel(thumb.data), (MID_GREY_SRGB, MID_GREY_SRGB, MID_GREY_SRGB, 128), tolerance=1)


def test_beauty_layer_rule():
    assert beauty_channels(["B", "G", "R", "Z"]) == ("R", "G", "B")
    assert beauty_channels(["A", "B", "G", "R"]) == ("R", "G", "B", "A")
    assert beauty_channels(["Y", "A"]) == ("Y", "A")
    layered = ["diffuse.R", "diffuse.G", "diffuse.B", "ViewLayer.Combined.R", "ViewLayer.Combined.G"]
    layered += ["ViewLayer.Combined.B", "ViewLayer.Combined.A", "Z"]
    assert beauty_channels(layered) == tuple(f"ViewLayer.Combined.{c}" for c in "RGBA")
    assert beauty_channels(["spec.R", "spec.G", "spec.B", "ao.R", "ao.G", "ao.B"]) == ("ao.R", "ao.G", "ao.B")
    with pytest.raises(SyntaxError):
        beauty_channels(["Z", "depth.V"])


def test_a_multilayer_exr_shows_its_beauty_layer():
    limits = default_limits(hdr_exposure_stops=0.0)
    grey, dark = np.full((20, 30), 0.18, np.float16), np.zeros((20, 30), np.float16)
    channels = {f"beauty.{c}": grey for c in "RGB"} | {f"albedo.{c}": dark for c in "RGB"} | {"Z": dark}
    assert pixel(normalize(exr_bytes(channels), limits).data) == (MID_GREY_SRGB,) * 3


def test_a_multipart_exr_shows_its_first_part_and_counts_only_its_beauty_channels():
    import io

    import OpenEXR

    grey, dark = np.full((10, 12), 0.18, np.float16), np.zeros((10, 12), np.float16)

    def header() -> dict[str, object]:  # one dict per part: the bindings write the name into it
        return {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}

    parts = [
        OpenEXR.Part(header(), {c: grey for c in "RGB"}, name="beauty"),
        OpenEXR.Part(header(), {c: dark for c in "RGBA"}, name="shadow"),
    ]
    buffer = io.BytesIO()
    OpenEXR.File(parts).write(buffer)
    limits = default_limits(hdr_exposure_stops=0.0)
    info = probe(buffer.getvalue(), limits)
    assert info.decoder_bytes == 3 * 10 * 12 * 2  # only the first part's R, G, B are decoded
    assert pixel(normalize(buffer.getvalue(), limits).data) == (MID_GREY_SRGB,) * 3


def test_an_exr_without_a_colour_layer_is_corrupt_with_a_reason(limits):
    data = exr_bytes({"Z": np.zeros((8, 8), np.float32)})
    with pytest.raises(ThumbnailError) as caught:
        probe(data, limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert "no colour layer" in caught.value.message


def test_a_float_tiff_takes_the_hdr_path(limits):
    data = float_tiff((300, 200), 0.18)
    info = probe(data, limits)
    assert (info.format, info.mode, info.bit_depth, info.hdr) == ("TIFF", "F", 32, True)
    assert pixel(normalize(data, limits).data) == (MID_GREY_SRGB,)
    lzw = float_tiff((300, 200), 0.18, "tiff_lzw")
    assert pixel(normalize(lzw, default_limits(hdr_exposure_stops=1.0)).data) == (reference(0.18, 1.0),)


def test_a_float_colour_tiff_is_unsupported_with_what_to_export_instead(limits):
    data = float_rgb_tiff((40, 30), (0.18, 0.18, 0.18))
    with pytest.raises(ThumbnailError) as caught:
        probe(data, limits)
    assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT
    assert "OpenEXR" in caught.value.message
    assert (caught.value.details["format"], caught.value.details["width"]) == ("TIFF", 40)


def test_describe_says_format_bit_depth_hdr_and_exposure(limits):
    text = describe(normalize(uniform_exr((64, 32), (0.5, 0.5, 0.5)), limits))
    assert "OPENEXR 64x32 RGB, 16-bit HDR (tone-mapped)" in text
    assert "exposure" in text
    assert "(auto)" in text
    assert "TIFF 30x20 I;16, 16-bit," in describe(normalize(tiff16_gray((30, 20), 1000), limits))


def test_the_hdr_estimate_counts_only_the_beauty_channels(limits):
    # A render with 7 AOV channels besides the beauty: only R, G, B are decoded.
    plane = np.zeros((400, 600), np.float16)
    lean = probe(exr_bytes({c: plane for c in "RGB"}), limits)
    fat = probe(exr_bytes({c: plane for c in "RGB"} | {f"aov.{i}": plane for i in range(7)}), limits)
    assert estimate_decode_bytes(fat) == estimate_decode_bytes(lean)


# -- hostile variants: each ends with a stable code ----------------------------------------------


def _exr_with_data_window(width: int, height: int) -> bytes:
    data = bytearray(uniform_exr((16, 16), (0.5, 0.5, 0.5)))
    at = data.index(b"dataWindow\x00box2i\x00") + len(b"dataWindow\x00box2i\x00") + 4
    data[at : at + 16] = struct.pack("<4i", 0, 0, width - 1, height - 1)
    return bytes(data)


def test_a_huge_declared_exr_data_window_is_refused_from_the_header(limits):
    data = _exr_with_data_window(2**30, 2**30)
    for call in (probe, normalize):
        with pytest.raises(ThumbnailError) as caught:
            call(data, limits)
        assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS
        assert caught.value.details["width"] == 2**30


def test_a_declared_window_larger_than_the_data_is_corrupt(limits):
    with pytest.raises(ThumbnailError) as caught:
        normalize(_exr_with_data_window(4000, 3000), limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


@pytest.mark.parametrize("keep", [8, 60, 200, 0.5, 0.95])
def test_a_truncated_exr_is_corrupt(limits, keep):
    data = uniform_exr((64, 64), (0.18, 0.2, 0.3), alpha=1.0)
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    with pytest.raises(ThumbnailError) as caught:
        normalize(data[:cut], limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert caught.value.details["format"] == "OPENEXR"


def test_deep_exr_data_is_unsupported(limits):
    data = bytearray(uniform_exr((8, 8), (1.0, 1.0, 1.0)))
    data[4:8] = struct.pack("<I", struct.unpack_from("<I", data, 4)[0] | 0x800)
    with pytest.raises(ThumbnailError) as caught:
        probe(bytes(data), limits)
    assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT


def test_a_heic_with_a_bogus_item_is_corrupt(limits):
    data = bytearray(heic_bytes(SMALL))
    # Point the primary item at an item ID that does not exist ('pitm' box: version/flags, u16 id).
    at = data.index(b"pitm") + 8
    data[at : at + 2] = b"\x7f\x7f"
    with pytest.raises(ThumbnailError) as caught:
        normalize(bytes(data), limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert caught.value.details["format"] == "HEIF"


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF", "TGA"])
def test_truncated_photos_and_targas_are_corrupt(limits, fmt):
    image = quadrants(200, 150)
    data = {"HEIF": heic_bytes, "AVIF": avif_bytes, "TGA": tga_bytes}[fmt](image)
    # a TGA keeps its footer (how it is recognised) and loses most of its pixels
    data = data[:300] + data[-26:] if fmt == "TGA" else data[: len(data) // 2]
    with pytest.raises(ThumbnailError) as caught:
        normalize(data, limits)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert caught.value.details["format"] == fmt


def test_a_tga_over_the_pixel_cap_is_refused_from_the_header():
    data = bytearray(tga_bytes(Image.new("RGB", (4, 4))))
    data[12:16] = struct.pack("<HH", 60000, 60000)  # 3.6 G pixels declared
    with pytest.raises(ThumbnailError) as caught:
        probe(bytes(data), default_limits())
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS


# -- property-based: any generated file of these formats is a thumbnail or a stable error --------


def _assert_contract(data: bytes, limits: ImageLimits, *, whole: bool) -> None:
    """A thumbnail meeting the contract, or (only for a cut file) a ThumbnailError with a stable
    code; any other exception fails the test.  A whole file must become a thumbnail."""
    refused: ThumbnailError | None = None
    try:
        thumb = normalize(data, limits)
    except ThumbnailError as exc:
        refused = exc
    if refused is not None:
        assert not whole, f"a whole generated file was refused: {refused.code} {refused.message}"
        assert refused.code in {ErrorCode.CORRUPT_IMAGE, ErrorCode.UNSUPPORTED_IMAGE_FORMAT, ErrorCode.EMPTY_BLOB}
        return
    out = reopen(thumb.data)
    assert out.format == "PNG"
    assert out.mode in ("L", "LA", "RGB", "RGBA")
    assert out.width <= limits.max_width
    assert out.height <= limits.max_height
    assert len(thumb.data) <= API_MAX_THUMBNAIL_BYTES
    assert not {"exif", "icc_profile", "dpi"} & set(out.info)


_sizes = st.tuples(st.integers(1, 96), st.integers(1, 96))
_cut = st.one_of(st.none(), st.floats(0.0, 1.0))


def _maybe_cut(data: bytes, cut: float | None) -> bytes:
    return data if cut is None else data[: int(len(data) * cut)]


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=_sizes,
    dtype=st.sampled_from([np.float16, np.float32]),
    compression=st.sampled_from(["NO", "ZIP", "PIZ", "RLE", "PXR24"]),
    alpha=st.booleans(),
    special=st.sampled_from([None, np.nan, np.inf, -1.0, 65000.0]),
    cut=_cut,
    stops=st.one_of(st.none(), st.floats(-8, 8)),
)
def test_any_generated_exr_is_a_thumbnail_or_a_stable_error(size, dtype, compression, alpha, special, cut, stops):
    width, height = size
    rng = np.random.default_rng(width * 1000 + height)
    plane = (rng.random((height, width)) * 4).astype(dtype)
    if special is not None:
        plane[0, 0] = special
    channels = {c: plane for c in "RGB"} | ({"A": np.clip(plane, 0, 1).astype(dtype)} if alpha else {})
    data = _maybe_cut(exr_bytes(channels, compression=compression), cut)
    _assert_contract(data, default_limits(hdr_exposure_stops=stops), whole=cut is None)


@settings(derandomize=True, max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=_sizes,
    fmt=st.sampled_from(["HEIF", "AVIF", "TGA", "TGA-RLE", "TIFF-LZW", "TIFF-16", "TIFF-F"]),
    mode=st.sampled_from(["RGB", "RGBA", "L"]),
    orientation=st.integers(0, 9),
    cut=_cut,
)
def test_any_generated_photo_tiff_or_targa_is_a_thumbnail_or_a_stable_error(size, fmt, mode, orientation, cut):
    image = quadrants(*size).convert(mode)
    if fmt == "HEIF":
        data = heic_bytes(image.convert("RGB") if mode == "L" else image, orientation=orientation or None)
    elif fmt == "AVIF":
        data = avif_bytes(image, speed=10)
    elif fmt.startswith("TGA"):
        data = tga_bytes(image, rle=fmt.endswith("RLE"))
    elif fmt == "TIFF-16":
        data = tiff16_gray(size, orientation * 7000)
    elif fmt == "TIFF-F":
        data = float_tiff(size, orientation / 3)
    else:
        data = tiff_bytes(image, "tiff_lzw")
    _assert_contract(_maybe_cut(data, cut), default_limits(), whole=cut is None)


def test_cli_normalize_prints_what_was_detected(tmp_path, capsys):
    from shared.ops.cli import main

    source = tmp_path / "beauty.exr"
    source.write_bytes(uniform_exr((1600, 900), (0.36, 0.36, 0.36), alpha=1.0))
    target = tmp_path / "thumb.png"
    assert main(["normalize", str(source), str(target)], env={}) == 0
    out = capsys.readouterr().out
    assert "OPENEXR 1600x900 RGBA, 16-bit HDR (tone-mapped)" in out
    assert "exposure -1.00 stops (auto)" in out
    assert reopen(target.read_bytes()).size == (800, 450)


def test_numpy_openexr_and_pillow_heif_are_imported_only_when_needed():
    # A fresh interpreter: decoding a PNG, TIFF, AVIF or TGA imports none of them; an EXR brings in
    # the bindings and numpy (and still not pillow-heif, which only a HEIC imports).
    script = """
import io, sys
from PIL import Image
from shared.imaging import normalize
from shared.settings import default_limits
def enc(fmt):
    buffer = io.BytesIO(); Image.new("RGB", (32, 24), (1, 2, 3)).save(buffer, fmt); return buffer.getvalue()
heavy = lambda: sorted(m for m in ("numpy", "OpenEXR", "pillow_heif") if m in sys.modules)
for fmt in ("PNG", "TIFF", "AVIF", "TGA"):
    normalize(enc(fmt), default_limits())
print(heavy())
normalize(sys.stdin.buffer.read(), default_limits())
print(heavy())
"""
    import subprocess
    import sys

    from tests.repo import ROOT

    result = subprocess.run(
        [sys.executable, "-c", script], input=uniform_exr((8, 8), (1, 1, 1)), capture_output=True, cwd=ROOT, check=True
    )
    assert result.stdout.decode().split("\n")[:2] == ["[]", "['OpenEXR', 'numpy']"]


_PEAK_SCRIPT = """
import json, re, sys
from pathlib import Path
import numpy, OpenEXR, pillow_heif.as_plugin  # imported before the mark: a worker imports them once
from shared.imaging import estimate_decode_bytes, normalize, probe
from shared.settings import default_limits
data = sys.stdin.buffer.read()
info = probe(data, default_limits())
status = lambda field: int(re.search(field + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024
Path("/proc/self/clear_refs").write_text("5")
before = status("VmRSS")
normalize(data, default_limits(), info)
print(json.dumps({"added": status("VmHWM") - before, "estimate": estimate_decode_bytes(info)}))
"""


@pytest.mark.parametrize(
    "name",
    ["exr-half-rgba", "exr-float-rgb-aovs", "float-tiff", "heic", "heic-10bit", "avif", "tga-rle", "tiff16"],
)
def test_measured_peak_memory_is_within_the_estimate(name):
    # In a fresh process: the memory normalize adds (peak RSS over what the process held before,
    # the input bytes included there) must not exceed estimate_decode_bytes, which admission and
    # the sandbox's address-space limit rely on.
    import json
    import subprocess
    import sys

    from bench.corpus import render_scene
    from bench.formats_corpus import scene_exr
    from tests.repo import ROOT

    size = (1800, 1200)
    plane = np.linspace(0, 4, size[0] * size[1], dtype=np.float32).reshape(size[1], size[0])
    data = {
        "exr-half-rgba": lambda: scene_exr(size),
        "exr-float-rgb-aovs": lambda: exr_bytes({c: plane for c in ("R", "G", "B", "Z", "N.X", "N.Y")}),
        "float-tiff": lambda: tiff_bytes(Image.fromarray(plane)),
        "heic": lambda: heic_bytes(render_scene(size)),
        "heic-10bit": lambda: heic_10bit(size, 700),
        "avif": lambda: avif_bytes(render_scene(size), speed=10),
        "tga-rle": lambda: tga_bytes(render_scene(size), rle=True),
        "tiff16": lambda: tiff16_gray(size, 12345),
    }[name]()
    result = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT], input=data, capture_output=True, cwd=ROOT, check=True)
    figures = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert 0 < figures["added"] <= figures["estimate"], figures


def test_a_16bit_colour_tiff_is_described_as_16_bit(limits):
    """Pillow decodes a 16-bit RGB TIFF to 8-bit RGB; the description still says what the file stores
    (BitsPerSample), so ``cli normalize`` does not call a 16-bit render 8-bit."""
    data = tiff16_rgb(64, 48)
    info = probe(data, limits)
    assert (info.mode, info.bit_depth) == ("RGB", 16)
    assert "16-bit" in describe(normalize(data, limits, info))
