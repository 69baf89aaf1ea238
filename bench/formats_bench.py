"""Benchmark rows for render-farm and phone formats: our normalize against the decode-only floor.

    python -m bench.formats_bench              # 8K EXR, 8K 16-bit TIFF, 12 MP HEIC, 8K AVIF; 3 runs
    python -m bench.formats_bench --runs 1 --only exr-8k-half-rgba-zip

Like ``bench.normalize_bench``, every measurement runs in a fresh Python process: the input is read,
the peak-RSS mark is reset, the one call is timed, and the child reports its time and the memory
the call added on top of what the process held before (interpreter and input bytes), which is
what ``estimate_decode_bytes`` predicts.  The methods, interleaved run by run so machine noise hits
them alike:

- ``ours``: ``shared.imaging.normalize`` in process (the sandbox adds its own, separately measured
  overhead, see issue 10's benchmark).
- ``decode``: decode the full frame with the same library and nothing else: the floor for any
  approach that reads every pixel (``OpenEXR.File`` for EXR, pillow-heif's decoder for HEIC,
  Pillow for TIFF and AVIF).
- ``vips``: libvips' ``thumbnail`` to 800x500 and a PNG, where pyvips is installed and its libvips
  reads the format (pyvips-binary has no OpenEXR loader and no HEVC decoder): ``n/a`` otherwise.

Then each file goes once through the sandbox (``SandboxedImages``: the worker's address-space
grant is never over the decode cap), and the thumbnail is compared with a reference made without our
pipeline (``bench.fidelity``: PSNR against the full decode downscaled once).

Targets: ours within 1.5x of the floor, the memory added within the estimate, the estimate within
the decode cap (``INSTANCE_MEMORY_MB``'s half), the sandboxed run within 30 s, and the thumbnail the
same picture (PSNR at least ``bench.fidelity.RIGHT_DB``).  The last column says which target a row
misses, and the exit status is 1 if any does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import K8, Item, ensure, render_scene
from bench.fidelity import RIGHT_DB, psnr, reference
from bench.formats_corpus import heic_bytes, scene_avif, scene_exr, tiff16_scene
from bench.fresh import run_child
from shared.core.errors import ThumbnailError
from shared.imaging import estimate_decode_bytes, probe
from shared.sandbox import SandboxedImages
from shared.sandbox.procfs import reset_peak_rss, status_bytes
from shared.settings import default_limits, default_sandbox

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "out"
MB = 1_000_000
METHODS = ("ours", "decode", "vips")
#: The longest a sandboxed normalize may take (the hostile bench's bound too).
MAX_SECONDS = 30.0
TWELVE_MP = (4032, 3024)  # an iPhone's 12 MP frame

ITEMS: tuple[Item, ...] = (
    Item("exr-8k-half-rgba-zip", "8K half-float RGBA EXR, ZIP", "exr", lambda: scene_exr(K8)),
    Item("tiff-8k-gray16-deflate", "8K 16-bit TIFF, Deflate", "tif", lambda: tiff16_scene(K8)),
    Item("heic-12mp", "12 MP HEIC q85", "heic", lambda: heic_bytes(render_scene(TWELVE_MP))),
    Item("avif-8k", "8K AVIF q80", "avif", scene_avif),
)


@dataclass(frozen=True)
class Sample:
    seconds: float
    added_bytes: int


# -- the child ---------------------------------------------------------------------------------------


def child(method: str, path: str) -> None:
    data = Path(path).read_bytes()
    run = {"ours": _ours, "decode": _decode, "vips": _vips}[method]
    prepare = _prepare(method, data)
    reset_peak_rss()
    before = status_bytes("VmRSS")
    started = time.perf_counter()
    ok = run(data, prepare)
    seconds = time.perf_counter() - started
    added = max(0, status_bytes("VmHWM") - before)
    print(json.dumps({"seconds": seconds if ok else None, "added": added}))


def _prepare(method: str, data: bytes) -> object:
    """Imports done before the clock starts (a worker imports its libraries once)."""
    if method == "vips":
        try:
            import pyvips
        except ImportError:
            return None
        return pyvips
    import numpy  # noqa: F401
    import OpenEXR  # noqa: F401
    import pillow_heif  # noqa: F401

    from shared.imaging import normalize  # noqa: F401

    return None


def _ours(data: bytes, _prepared: object) -> bool:
    from shared.imaging import normalize

    normalize(data, default_limits())
    return True


def _decode(data: bytes, _prepared: object) -> bool:
    if data.startswith(b"\x76\x2f\x31\x01"):
        import OpenEXR

        with OpenEXR.File(io.BytesIO(data), separate_channels=True) as exr:
            exr.channels()
        return True
    if data[4:12] in (b"ftypheic", b"ftypmif1"):
        from shared.imaging.formats.heif import heif_decoder

        heif_decoder()(io.BytesIO(data)).load()
        return True
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = None  # the floor: the decode alone, not Pillow's bomb check
        Image.open(io.BytesIO(data)).load()
    return True


def _vips(data: bytes, pyvips: object) -> bool:
    if pyvips is None:
        return False
    try:
        thumb = pyvips.Image.thumbnail_buffer(data, 800, height=500)  # type: ignore[attr-defined]
        thumb.pngsave_buffer(compression=1)
    except Exception:
        return False
    return True


# -- the parent --------------------------------------------------------------------------------------


def measure(method: str, path: Path) -> Sample | None:
    values = run_child("bench.formats_bench", method, str(path))
    return None if values["seconds"] is None else Sample(values["seconds"], values["added"])


def median(samples: list[Sample], pick: Callable[[Sample], float]) -> float:
    return float(statistics.median(pick(sample) for sample in samples))


HEADER = (
    "| input | file MB | estimate MB | cap MB | ours s | decode-only s | ours / floor | ours added MB "
    "| added / estimate | decode added MB | libvips s | sandboxed s | PSNR dB | misses |"
)
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"


@dataclass(frozen=True)
class Sandboxed:
    """One probe + normalize through the sandbox: the time, and the thumbnail or the error code."""

    seconds: float
    png: bytes | None
    steps: tuple[str, ...]
    size: tuple[int, int]
    error: str | None


def sandboxed(stage: SandboxedImages, data: bytes) -> Sandboxed:
    started = time.perf_counter()
    try:
        thumb = stage.normalize(data, stage.probe(data))
    except ThumbnailError as error:
        return Sandboxed(time.perf_counter() - started, None, (), (0, 0), error.code.value)
    return Sandboxed(time.perf_counter() - started, thumb.data, thumb.steps, (thumb.width, thumb.height), None)


def row(item: Item, out: Path, runs: int, stage: SandboxedImages) -> tuple[str, list[str]]:
    """The table row, and the targets it misses."""
    path = ensure(item, out / "corpus", log=lambda line: print(line, file=sys.stderr))
    data = path.read_bytes()
    limits = default_limits()
    info = probe(data, limits)
    estimate = estimate_decode_bytes(info)
    samples: dict[str, list[Sample]] = {method: [] for method in METHODS}
    for run in range(runs):
        print(f"  {item.name}: run {run + 1}/{runs}", file=sys.stderr)
        for method in METHODS:
            sample = measure(method, path)
            if sample is not None:
                samples[method].append(sample)
    isolated = sandboxed(stage, data)
    fidelity = None if isolated.png is None else psnr(isolated.png, reference(data, isolated.size, isolated.steps))
    ours_s = median(samples["ours"], lambda s: s.seconds)
    floor_s = median(samples["decode"], lambda s: s.seconds)
    added = median(samples["ours"], lambda s: s.added_bytes)
    vips = f"{median(samples['vips'], lambda s: s.seconds):.3f}" if samples["vips"] else "n/a"
    depth = f"{info.bit_depth}-bit" + (" HDR" if info.hdr else "")
    misses = [
        *(["1.5x floor"] if ours_s > 1.5 * floor_s else []),
        *(["estimate"] if added > estimate else []),
        *(["cap"] if estimate > limits.decode_cap_bytes else []),
        *([f"sandbox: {isolated.error}"] if isolated.error else []),
        *([f"{MAX_SECONDS:g} s"] if isolated.seconds > MAX_SECONDS else []),
        *(["fidelity"] if fidelity is None or fidelity < RIGHT_DB else []),
    ]
    shown = "-" if fidelity is None else f"{fidelity:.1f}"
    line = (
        f"| {item.description} ({info.width}x{info.height} {info.mode} {depth}) | {len(data) / MB:.1f} "
        f"| {estimate / MB:.0f} | {limits.decode_cap_bytes / MB:.0f} | {ours_s:.3f} | {floor_s:.3f} "
        f"| {ours_s / floor_s:.2f}x | {added / MB:.0f} | {added / estimate:.2f} "
        f"| {median(samples['decode'], lambda s: s.added_bytes) / MB:.0f} | {vips} | {isolated.seconds:.3f} "
        f"| {shown} | {', '.join(misses) or 'none'} |"
    )
    return line, misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per input and method (default 3)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="names: " + ", ".join(i.name for i in ITEMS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="cache directory (default bench/out)")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    items = [item for item in ITEMS if not args.only or item.name in args.only]
    with SandboxedImages(default_limits(), default_sandbox(workers=1)) as stage:
        results = [row(item, args.out, args.runs, stage) for item in items]
    from PIL import __version__ as pillow

    print(
        f"\nPython {sys.version.split()[0]}, Pillow {pillow}; median of {args.runs} run(s), each in a fresh process; "
        f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores\n"
    )
    print(HEADER)
    print(RULE)
    for line, _misses in results:
        print(line)
    missed = sum(1 for _line, misses in results if misses)
    print(f"\n{missed} of {len(results)} row(s) miss a target; PSNR below {RIGHT_DB:g} dB is not the same picture")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
