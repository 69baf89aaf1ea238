"""Benchmark: what decoding in the sandbox costs against decoding in this process.

    python -m bench.isolation_bench                 # 8K JPEG, 8K RGB and RGBA PNG, 5 runs each
    python -m bench.isolation_bench --runs 9 --only jpeg-8k

One process holds both stages: ``InProcessImages`` and ``SandboxedImages`` (one pre-started
worker, warmed up with one untimed run).  Each run times ``probe`` + ``normalize`` as the pipeline
calls them, alternating in-process and sandboxed so machine noise affects both alike; the table
has the medians and the overhead (sandboxed / in-process - 1).  The sandboxed time includes
everything the host pays: sending the blob to the worker (twice: probe and normalize), the
address-space limit, and the PNG coming back.  With ``pyvips`` installed, a libvips column
(``thumbnail_buffer`` to the same box, PNG out at compression 1) is added for comparison.

Fidelity: each thumbnail's PSNR (dB, RGB) against a reference downscale of the full decode
(Pillow, full size, LANCZOS straight to the thumbnail's size), so a speed change that costs
quality shows here.  A second table is the one-off cost of isolation: a fresh stage per run
(what ``cli normalize IN`` pays: starting the worker, probe, normalize, stopping it) against the
same in process.  The machine's load average is printed with each table: on a shared machine
only ratios measured side by side in one run mean anything.
"""

from __future__ import annotations

import argparse
import functools
import io
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image

from bench.corpus import ITEMS, ensure
from shared.imaging import ImageLimits, InProcessImages, Thumbnail
from shared.sandbox import SandboxedImages, image_stage
from shared.settings import default_limits, default_sandbox

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ITEMS = ("jpeg-8k", "png-8k-rgb", "png-8k-rgba")


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _through(stage: InProcessImages | SandboxedImages, data: bytes) -> object:
    """What the pipeline does with a blob: probe, then normalize."""
    return stage.normalize(data, stage.probe(data))


def _reference(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The full decode, downscaled once with LANCZOS to ``size``: what the thumbnail should show."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def psnr(png: bytes, reference: Image.Image) -> float | None:
    """PSNR in dB of a PNG against the reference; ``None`` when the sizes differ."""
    with Image.open(io.BytesIO(png)) as image:
        picture = image.convert("RGB")
    if picture.size != reference.size:
        return None
    a = np.asarray(picture, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _db(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def _one_off(limits: ImageLimits, data: bytes, isolate: bool) -> object:
    stage = image_stage(limits, default_sandbox(isolate=isolate, workers=1))
    try:
        return stage.normalize(data, stage.probe(data))
    finally:
        stage.close()


def _vips() -> Callable[[bytes], object] | None:
    try:
        import pyvips  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None

    def thumbnail(data: bytes) -> bytes:
        image = pyvips.Image.thumbnail_buffer(data, 800, height=500)
        png: bytes = image.pngsave_buffer(compression=1)
        return png

    return thumbnail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(DEFAULT_ITEMS))
    args = parser.parse_args(argv)
    limits = default_limits()
    here = InProcessImages(limits)
    vips = _vips()
    print(f"steady state, median of {args.runs} interleaved runs; {_load()}\n")
    print(
        "| input | in-process s | sandboxed s | overhead | ours PSNR dB |"
        + (" libvips s | sandboxed / libvips | libvips PSNR dB |" if vips else "")
    )
    print("|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if vips else ""))
    one_off_rows: list[str] = []
    with SandboxedImages(limits, default_sandbox(workers=1)) as sandbox:
        sandbox.warm_up()
        for name in args.only:
            item = next(item for item in ITEMS if item.name == name)
            data = ensure(
                item, ROOT / "bench" / "out" / "corpus", log=lambda line: print(line, file=sys.stderr)
            ).read_bytes()
            stages: dict[str, Callable[[], object]] = {
                "in-process": functools.partial(_through, here, data),
                "sandboxed": functools.partial(_through, sandbox, data),
            }
            if vips is not None:
                stages["libvips"] = functools.partial(vips, data)
            outputs = {key: call() for key, call in stages.items()}  # warm: first decode, file cache, imports
            ours = outputs["sandboxed"]
            assert isinstance(ours, Thumbnail)
            reference = _reference(data, (ours.width, ours.height))
            fidelity = {"ours": psnr(ours.data, reference)}
            if vips is not None:
                vips_png = outputs["libvips"]
                assert isinstance(vips_png, bytes)
                fidelity["libvips"] = psnr(vips_png, reference)
            times: dict[str, list[float]] = {key: [] for key in stages}
            for _ in range(args.runs):
                for key, call in stages.items():
                    times[key].append(_timed(call))
            medians = {key: statistics.median(values) for key, values in times.items()}
            row = (
                f"| {item.description} | {medians['in-process']:.3f} | {medians['sandboxed']:.3f} | "
                f"{(medians['sandboxed'] / medians['in-process'] - 1) * 100:+.1f}% | {_db(fidelity['ours'])} |"
            )
            if vips is not None:
                row += (
                    f" {medians['libvips']:.3f} | {medians['sandboxed'] / medians['libvips']:.2f}x |"
                    f" {_db(fidelity['libvips'])} |"
                )
            print(row, flush=True)
            once: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.runs):
                for isolate in (False, True):
                    once[isolate].append(_timed(functools.partial(_one_off, limits, data, isolate)))
            alone, isolated = statistics.median(once[False]), statistics.median(once[True])
            one_off_rows.append(f"| {item.description} | {alone:.3f} | {isolated:.3f} | {isolated - alone:+.3f} |")
    print(f"\none-off (a fresh stage per run, as `cli normalize IN`), median of {args.runs}; {_load()}\n")
    print("| input | in-process s | sandboxed s | isolation costs s |")
    print("|---|---:|---:|---:|")
    print("\n".join(one_off_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
