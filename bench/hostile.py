"""The hostile corpus: inputs that once hung, crashed or out-grew their memory estimate, made in code.

Each :class:`Case` builds its bytes (nothing is downloaded) and says what must come of it: a
thumbnail (``"ok"``) or a ``ThumbnailError`` code.  The image tests run every case (the slow ones
in the ``hostile`` marker group); ``python -m bench.hostile`` runs them through the sandbox and
prints case, outcome, time, the worker's peak RSS and the estimate, plus the host's own RSS before
and after the whole corpus.

    python -m bench.hostile                 # every case
    python -m bench.hostile --only jpeg-many-scans png-chunk-flood
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms

from bench.formats_corpus import exr_bytes, exr_claiming, exr_many_channels, heic_with_icc, padded_icc
from shared.core.errors import ThumbnailError
from shared.imaging import ImageLimits, InProcessImages, estimate_decode_bytes
from shared.imaging.formats import preload
from shared.sandbox import SandboxedImages
from shared.sandbox.procfs import reset_peak_rss, status_bytes
from shared.settings import default_limits, default_sandbox

OK = "ok"
#: A case the test suite leaves to this bench: it takes seconds to build, and a smaller variant of it
#: is a test of its own (``tests/imaging/test_decode_cap.py``, ``tests/imaging/test_findings.py``).
BENCH_ONLY = "bench-only"
#: The longest a case may take through the sandbox (the formats bench's bound too).
MAX_SECONDS = 30.0


@dataclass(frozen=True)
class Case:
    """One hostile input: how to make it, under which limits, and what must come of it."""

    name: str
    what: str
    build: Callable[[], bytes]
    expect: str
    allow_tiff: bool = False
    slow: bool = False
    tags: tuple[str, ...] = field(default=())


# -- PNG ---------------------------------------------------------------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_ihdr(width: int, height: int, depth: int, colour: int) -> bytes:
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_raw(width: int, height: int, depth: int, colour: int, rows: bytes, level: int = 9) -> bytes:
    """A PNG from raw, already-filtered scanlines (each starting with its filter byte)."""
    idat = png_chunk(b"IDAT", zlib.compress(rows, level))
    return PNG_SIGNATURE + png_ihdr(width, height, depth, colour) + idat + png_chunk(b"IEND", b"")


def png_wide_rgba_stub(width: int = 140_000_000) -> bytes:
    """A 69-byte RGBA PNG declared ``width`` x 1: its row is over Pillow's INT_MAX bits."""
    return (
        PNG_SIGNATURE + png_ihdr(width, 1, 8, 6) + png_chunk(b"IDAT", zlib.compress(b"\x00")) + png_chunk(b"IEND", b"")
    )


def png_row_l(width: int) -> bytes:
    """A real ``width`` x 1 grayscale PNG (all black): the short side leaves nothing to reduce."""
    return png_raw(width, 1, 8, 0, b"\x00" * (width + 1))


def png_column_rgb(height: int) -> bytes:
    """A real 2 x ``height`` RGB PNG."""
    return png_raw(2, height, 8, 2, b"\x00\x00\x00\x00\x00\x00\x00" * height)


def png_chunk_flood(chunks: int) -> bytes:
    """A tiny PNG with ``chunks`` empty private ``prIv`` chunks before its IDAT."""
    small = _png_parts(16, 16)
    return small[0] + png_chunk(b"prIv", b"") * chunks + small[1]


def png_idat_flood(chunks: int) -> bytes:
    """A tiny PNG whose pixel data is followed by ``chunks`` empty IDAT chunks."""
    small = _png_parts(16, 16)
    return small[0] + small[1][:-12] + png_chunk(b"IDAT", b"") * chunks + png_chunk(b"IEND", b"")


def _png_parts(width: int, height: int) -> tuple[bytes, bytes]:
    """A small real PNG split after IHDR: (signature + IHDR, IDAT + IEND)."""
    data = encode_image(Image.new("RGB", (width, height), (40, 90, 160)), "PNG")
    split = 8 + 25
    return data[:split], data[split:]


# -- JPEG --------------------------------------------------------------------------------------------


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment before the first SOS, and the SOS itself."""
    pos, found = 2, []
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        length = struct.unpack_from(">H", data, pos + 2)[0]
        found.append((marker, pos, pos + 2 + length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return found


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF) claiming ``width`` x ``height``."""
    out = bytearray(data)
    for marker, start, _end in jpeg_segments(data):
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", out, start + 5, height, width)
    return bytes(out)


def progressive_header(mode: str, width: int = 11_800, height: int = 11_800) -> bytes:
    """A progressive JPEG header (and its first scan) claiming ``width`` x ``height``: about 150 bytes
    that make libjpeg allocate the whole coefficient buffer."""
    small = encode_image(Image.new(mode, (8, 8)), "JPEG", progressive=True, quality=50)
    segments = jpeg_segments(small)
    sos_end = segments[-1][2]
    first_scan_end = _entropy_end(small, sos_end)
    return jpeg_with_size(small[:first_scan_end], width, height) + b"\xff\xd9"


def jpeg_many_scans(mode: str, scans: int, width: int, height: int) -> bytes:
    """A progressive JPEG header followed by its first (DC) scan repeated ``scans`` times."""
    small = encode_image(Image.new(mode, (8, 8)), "JPEG", progressive=True, quality=50)
    segments = jpeg_segments(small)
    sos_start, sos_end = segments[-1][1], segments[-1][2]
    scan = small[sos_start : _entropy_end(small, sos_end)]
    return jpeg_with_size(small[:sos_start], width, height) + scan * scans + b"\xff\xd9"


def _entropy_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data starting at ``pos`` ends (the next real marker)."""
    while True:
        pos = data.index(b"\xff", pos)
        if data[pos + 1] != 0 and not 0xD0 <= data[pos + 1] <= 0xD7:
            return pos
        pos += 2


def jpeg_app_flood(markers: int) -> bytes:
    """A small JPEG with ``markers`` empty APP15 segments after SOI."""
    small = encode_image(Image.new("RGB", (16, 16), (200, 30, 30)), "JPEG")
    return small[:2] + b"\xff\xef\x00\x02" * markers + small[2:]


def jpeg_fill_flood(fill: int) -> bytes:
    """A small JPEG with ``fill`` 0xFF fill bytes after SOI (legal padding before a marker)."""
    small = encode_image(Image.new("RGB", (16, 16), (200, 30, 30)), "JPEG")
    return small[:2] + b"\xff" * fill + small[2:]


# -- WebP, BMP, TIFF, ICC ------------------------------------------------------------------------------


def webp_lossless(side: int) -> bytes:
    return encode_image(Image.new("RGB", (side, side)), "WEBP", lossless=True, method=0)


def bmp_rle8_one_pixel_rows(width: int, height: int) -> bytes:
    """An RLE8 BMP whose every row is one pixel, then end-of-line (the decoder pads the rest)."""
    rows = b"\x01\x00\x00\x00" * height + b"\x00\x01"
    palette = b"".join(struct.pack("<BBBB", i, i, i, 0) for i in range(256))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette + rows


def bigtiff(pages: int) -> bytes:
    """A little-endian BigTIFF of ``pages`` 1x1 grey pages, all sharing one pixel byte."""
    pixel_at = 16
    tags = [(256, 3, 1), (257, 3, 1), (258, 3, 8), (259, 3, 1), (262, 3, 1),
            (273, 16, pixel_at), (278, 3, 1), (279, 16, 1)]  # fmt: skip
    ifd_size = 8 + 20 * len(tags) + 8
    first = 24
    out = bytearray(b"II" + struct.pack("<HHHQ", 43, 8, 0, first))
    out[pixel_at:pixel_at] = b"\x80" + bytes(7)
    for page in range(pages):
        at = first + page * ifd_size
        following = at + ifd_size if page + 1 < pages else 0
        entries = b"".join(struct.pack("<HHQQ", tag, kind, 1, value) for tag, kind, value in tags)
        out += struct.pack("<Q", len(tags)) + entries + struct.pack("<Q", following)
    return bytes(out)


def many_strips(strips: int) -> bytes:
    """A classic TIFF, 1 x ``strips`` grey, one row per strip: two offset arrays of ``strips`` LONGs."""
    header = 8
    tags_count = 8
    ifd_size = 2 + 12 * tags_count + 4
    offsets_at = header + ifd_size
    counts_at = offsets_at + 4 * strips
    pixels_at = counts_at + 4 * strips
    entries = [
        (256, 3, 1, 1),
        (257, 4, 1, strips),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, strips, offsets_at),
        (278, 3, 1, 1),
        (279, 4, strips, counts_at),
    ]
    ifd = struct.pack("<H", tags_count) + b"".join(struct.pack("<HHII", *entry) for entry in entries) + bytes(4)
    offsets = struct.pack(f"<{strips}I", *range(pixels_at, pixels_at + strips))
    counts = struct.pack(f"<{strips}I", *([1] * strips))
    return b"II*\x00" + struct.pack("<I", header) + ifd + offsets + counts + bytes(range(256)) * (strips // 256 + 1)


def tiff_many_ifds(count: int) -> bytes:
    """A little-endian TIFF of ``count`` 1x1 grayscale pages, each IFD pointing at the next."""
    tags = 8
    ifd_size = 2 + tags * 12 + 4
    pixel_at = 8
    out = bytearray(b"II*\x00" + struct.pack("<I", 12) + b"\x00\x00\x00\x00")
    for index in range(count):
        start = len(out)
        following = start + ifd_size if index + 1 < count else 0
        entries = [
            (256, 3, 1, 1),  # ImageWidth
            (257, 3, 1, 1),  # ImageLength
            (258, 3, 1, 8),  # BitsPerSample
            (259, 3, 1, 1),  # Compression: none
            (262, 3, 1, 1),  # Photometric: black is zero
            (273, 4, 1, pixel_at),  # StripOffsets
            (278, 3, 1, 1),  # RowsPerStrip
            (279, 4, 1, 1),  # StripByteCounts
        ]
        out += struct.pack("<H", tags)
        for tag, kind, number, value in entries:
            out += struct.pack("<HHII", tag, kind, number, value)
        out += struct.pack("<I", following)
    return bytes(out)


def icc_non_ascii_signature() -> bytes:
    """An sRGB profile whose colour-space signature (bytes 16-19) is not ASCII."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[19] = 0xFF
    return bytes(profile)


def with_icc(fmt: str) -> bytes:
    return encode_image(Image.new("RGB", (64, 48), (10, 120, 200)), fmt, icc_profile=icc_non_ascii_signature())


def encode_image(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


# -- the corpus ---------------------------------------------------------------------------------------

TOO_COMPLEX = "ImageTooComplex"
#: A header whose scan data ends long before the picture it claims: damage the strict JPEG decode
#: refuses (after libjpeg has allocated what the header asks for, which is what the case measures).
CORRUPT = "CorruptImage"

CASES: tuple[Case, ...] = (
    Case("icc-non-ascii-png", "PNG with an ICC profile whose colour space is not ASCII", lambda: with_icc("PNG"), OK),
    Case("icc-non-ascii-jpeg", "JPEG with the same profile", lambda: with_icc("JPEG"), OK),
    Case("png-rgba-140m-x1", "69-byte RGBA PNG declared 140,000,000x1", png_wide_rgba_stub, TOO_COMPLEX),
    Case("png-l-139m-x1", "139,000,000x1 grayscale PNG (real data)", lambda: png_row_l(139_000_000), OK, slow=True),
    Case("png-l-40m-x1", "40,000,000x1 grayscale PNG (real data)", lambda: png_row_l(40_000_000), OK, slow=True),
    Case("png-rgb-2x30m", "2x30,000,000 RGB PNG (real data)", lambda: png_column_rgb(30_000_000), OK, slow=True),
    Case("png-l-4m-x1", "4,000,000x1 grayscale PNG (real data)", lambda: png_row_l(4_000_000), OK),
    Case(
        "jpeg-progressive-cmyk-11800",
        "156-byte progressive CMYK 11800x11800 header",
        lambda: progressive_header("CMYK"),
        TOO_COMPLEX,
    ),
    Case(
        "jpeg-progressive-rgb-11800",
        "progressive RGB 11800x11800 header",
        lambda: progressive_header("RGB"),
        CORRUPT,
        slow=True,
    ),
    Case(
        "jpeg-progressive-l-11800",
        "progressive L 11800x11800 header",
        lambda: progressive_header("L"),
        CORRUPT,
        slow=True,
    ),
    Case(
        "jpeg-many-scans-cmyk",
        "11800x11800 CMYK header + one DC scan x 2,000",
        lambda: jpeg_many_scans("CMYK", 2000, 11800, 11800),
        TOO_COMPLEX,
    ),
    Case(
        "jpeg-many-scans-l",
        "4000x4000 L + one DC scan x 20,000",
        lambda: jpeg_many_scans("L", 20_000, 4000, 4000),
        TOO_COMPLEX,
    ),
    # 2.2 GB to decode (three canvas copies besides the frame): over the 1 GiB per-decode cap.
    Case(
        "webp-lossless-11800",
        "38-byte lossless WebP 11800x11800",
        lambda: webp_lossless(11_800),
        TOO_COMPLEX,
        slow=True,
    ),
    Case("webp-lossless-4000", "lossless WebP 4000x4000", lambda: webp_lossless(4000), OK),
    Case(
        "bmp-rle8-11800",
        "11800x11800 RLE8 BMP, one pixel then end-of-line per row",
        lambda: bmp_rle8_one_pixel_rows(11_800, 11_800),
        TOO_COMPLEX,
    ),
    Case("bmp-rle8-2000", "2000x2000 RLE8 BMP, one pixel per row", lambda: bmp_rle8_one_pixel_rows(2000, 2000), OK),
    Case(
        "tiff-100k-ifds",
        "TIFF with 100,000 IFDs (ALLOW_TIFF=true)",
        lambda: tiff_many_ifds(100_000),
        TOO_COMPLEX,
        allow_tiff=True,
    ),
    Case("tiff-50-ifds", "TIFF with 50 IFDs (ALLOW_TIFF=true)", lambda: tiff_many_ifds(50), OK, allow_tiff=True),
    Case("bigtiff-20k-ifds", "BigTIFF with 20,000 IFDs", lambda: bigtiff(20_000), TOO_COMPLEX, allow_tiff=True),
    Case("bigtiff-3-ifds", "BigTIFF with 3 IFDs", lambda: bigtiff(3), OK, allow_tiff=True),
    Case(
        "tiff-1m-strips",
        "1x1,048,577 TIFF, one row per strip",
        lambda: many_strips(1_048_577),
        TOO_COMPLEX,
        allow_tiff=True,
    ),
    Case(
        "png-chunk-flood",
        "PNG with 16 M empty private chunks before IDAT (192 MB)",
        lambda: png_chunk_flood(16_000_000),
        TOO_COMPLEX,
        slow=True,
    ),
    Case(
        "png-chunk-flood-100k", "PNG with 100,000 empty private chunks", lambda: png_chunk_flood(100_000), TOO_COMPLEX
    ),
    Case(
        "png-idat-flood-1m",
        "PNG followed by 1,000,000 empty IDAT chunks",
        lambda: png_idat_flood(1_000_000),
        TOO_COMPLEX,
    ),
    Case(
        "jpeg-app-flood",
        "JPEG with 16 M empty APP15 markers (64 MB)",
        lambda: jpeg_app_flood(16_000_000),
        TOO_COMPLEX,
        slow=True,
    ),
    Case("jpeg-app-flood-100k", "JPEG with 100,000 empty APP15 markers", lambda: jpeg_app_flood(100_000), TOO_COMPLEX),
    Case(
        "jpeg-fill-flood",
        "JPEG with 64 MB of 0xFF fill after SOI",
        lambda: jpeg_fill_flood(64 * 2**20),
        TOO_COMPLEX,
        slow=True,
    ),
    Case("jpeg-fill-flood-1m", "JPEG with 1 MB of 0xFF fill after SOI", lambda: jpeg_fill_flood(2**20), TOO_COMPLEX),
    # Render-farm formats: a file small on disk whose full decode is many times the cap.
    Case(
        "exr-33-channels-4300",
        "4300x4300 EXR with 33 float channels (2.4 GB if every channel is decoded)",
        lambda: exr_many_channels(4300, 33),
        OK,
        slow=True,
        tags=(BENCH_ONLY,),
    ),
    Case(
        "exr-header-132mp-33-channels",
        "few-KB EXR whose header claims 11000x12000 with 33 float channels",
        lambda: exr_claiming(11_000, 12_000, 33),
        TOO_COMPLEX,
    ),
    Case(
        "exr-row-40m",
        "40,000,000x1 half-float RGB EXR (one huge chunk)",
        lambda: exr_row(40_000_000),
        OK,
        slow=True,
        tags=(BENCH_ONLY,),
    ),
    Case("heic-icc-24mb", "64x48 HEIC carrying a 24 MB ICC profile", lambda: heic_with_icc(24_000_000), OK, slow=True),
    Case(
        "webp-icc-60mb",
        "64x48 WebP carrying a 60 MB ICC profile",
        lambda: with_big_icc("WEBP", 60_000_000),
        OK,
        slow=True,
    ),
)

BY_NAME = {case.name: case for case in CASES}


def with_big_icc(fmt: str, size: int) -> bytes:
    """A small picture carrying an ICC profile of ``size`` bytes."""
    return encode_image(Image.new("RGB", (64, 48), (10, 120, 200)), fmt, icc_profile=padded_icc(size))


def exr_row(width: int) -> bytes:
    import numpy as np

    row = np.full((1, width), 0.18, np.float16)
    return exr_bytes(dict.fromkeys("RGB", row))


@cache
def build(name: str) -> bytes:
    """The bytes of a case (cached: some take a second to make)."""
    return BY_NAME[name].build()


# -- the runner ---------------------------------------------------------------------------------------

MB = 1_000_000


def _limits(case: Case) -> ImageLimits:
    return default_limits(allow_tiff=case.allow_tiff)


def run_in_process(name: str) -> dict[str, object]:
    """One case decoded in this process (``--in-process``: how things were before the sandbox)."""
    case = BY_NAME[name]
    data = build(name)
    preload("JPEG", hdr=True)  # the decoder libraries, loaded before the job as the worker does
    reset_peak_rss()
    before = status_bytes("VmRSS")
    started = time.perf_counter()
    estimate: int | None = None
    try:
        stage = InProcessImages(_limits(case))
        info = stage.probe(data)
        estimate = estimate_decode_bytes(info)
        stage.normalize(data, info)
        outcome = OK
    except ThumbnailError as error:
        outcome = error.code.value
    except BaseException as exc:
        outcome = f"escaped {type(exc).__name__}"
    return {
        "outcome": outcome,
        "seconds": time.perf_counter() - started,
        "peak": status_bytes("VmHWM"),
        "added": status_bytes("VmHWM") - before,
        "estimate": estimate,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="case names (default: all)")
    parser.add_argument("--in-process", action="store_true", help="decode each case in a fresh process, no sandbox")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=20.0, help="IMAGE_TIMEOUT_SECONDS for the run")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_in_process(args.child)))
        return 0
    names = args.only or [case.name for case in CASES]
    if args.write is not None:
        for name in args.write:
            case_path(name).write_bytes(build(name))
        return 0
    if args.in_process:
        print("| case | expected | outcome | s | peak MB | added MB | estimate MB |")
        print("|---|---|---|---:|---:|---:|---:|")
        for name in names:
            print(_row(name, _child(name, args.timeout * 5)), flush=True)
        return 0
    return _run_sandboxed(names, args.timeout)


OUT = Path(__file__).resolve().parent / "out" / "hostile"


def case_path(name: str) -> Path:
    return OUT / f"{name}.bin"


def write_cases(names: list[str]) -> None:
    """Make the cases' files in a child process, so building them (some allocate hundreds of MB)
    does not count in the host's RSS."""
    OUT.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if not case_path(name).exists()]
    if missing:
        subprocess.run([sys.executable, "-m", "bench.hostile", "--write", *missing], check=True)


def _child(name: str, timeout: float) -> dict[str, object]:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.hostile", "--child", name],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"still running after {timeout:g} s", "seconds": timeout, "peak": None, "estimate": None}
    if done.returncode != 0:
        return {"outcome": f"died (status {done.returncode})", "seconds": None, "peak": None, "estimate": None}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _mb(value: object) -> str:
    return "-" if not isinstance(value, int) else f"{value / MB:,.0f}"


def _row(name: str, result: dict[str, object], *extra: str) -> str:
    seconds = result.get("seconds")
    shown = "-" if not isinstance(seconds, float) else f"{seconds:.2f}"
    cells = [name, BY_NAME[name].expect, str(result["outcome"]), shown]
    cells += [_mb(result.get("peak")), _mb(result.get("added")), _mb(result.get("estimate")), *extra]
    return "| " + " | ".join(cells) + " |"


def _run_sandboxed(names: list[str], timeout: float) -> int:
    write_cases(names)
    jobs: list[dict[str, Any]] = []
    settings = default_sandbox(workers=1, timeout_seconds=timeout)
    stages = {
        allow: SandboxedImages(default_limits(allow_tiff=allow), settings, on_job=jobs.append)
        for allow in (False, True)
    }
    cap = default_limits().decode_cap_bytes
    print(f"Through the sandbox (one worker, {timeout:g} s time limit). peak: the worker's peak RSS during the")
    print("case; added: peak minus its RSS when the job started; host RSS: this process after the case.")
    print(
        f"A case misses if its outcome is not the expected one, it takes over {MAX_SECONDS:g} s, or the memory it "
        f"added is over the decode cap ({cap / MB:,.0f} MB) or, for a thumbnail, over its estimate.\n"
    )
    print("| case | expected | outcome | s | worker peak MB | added MB | estimate MB | host RSS MB | misses |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    failures = 0
    try:
        for stage in stages.values():
            stage.warm_up()
        gc.collect()
        host_before = status_bytes("VmRSS")
        for name in names:
            case = BY_NAME[name]
            data = case_path(name).read_bytes()
            stage = stages[case.allow_tiff]
            started = time.perf_counter()
            estimate: int | None = None
            jobs.clear()
            try:
                info = stage.probe(data)
                estimate = estimate_decode_bytes(info)
                stage.normalize(data, info)
                outcome = OK
            except ThumbnailError as error:
                outcome = error.code.value
            seconds = time.perf_counter() - started
            peak = max((int(job.get("peak_rss") or 0) for job in jobs), default=0) or None
            # A job that received the blob counts it in its peak; the estimate is what comes on top.
            added = max(
                (
                    int(job.get("peak_rss") or 0)
                    - int(job.get("rss_before") or 0)
                    - (0 if job.get("reused") else len(data))
                    for job in jobs
                ),
                default=0,
            )
            added = max(0, added)
            misses = [
                *([f"expected {case.expect}"] if outcome != case.expect else []),
                *([f"{MAX_SECONDS:g} s"] if seconds > MAX_SECONDS else []),
                *(["cap"] if added > cap else []),
                *(["estimate"] if outcome == OK and estimate is not None and added > estimate else []),
            ]
            failures += bool(misses)
            del data
            gc.collect()
            result = {
                "outcome": outcome,
                "seconds": seconds,
                "peak": peak,
                "added": added or None,
                "estimate": estimate,
            }
            print(_row(name, result, _mb(status_bytes("VmRSS")), ", ".join(misses) or "none"), flush=True)
        host_after = status_bytes("VmRSS")
    finally:
        for stage in stages.values():
            stage.close()
    print(
        f"\nhost process RSS: {host_before / MB:,.0f} MB before the first case, {host_after / MB:,.0f} MB after "
        f"the last; {failures} of {len(names)} case(s) miss (load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
