"""Benchmark: the image stage's speed in the sandbox, against in-process and against libvips.

    python -m bench.isolation_bench                 # 8K JPEG, 8K RGB and RGBA PNG, 5 runs each
    python -m bench.isolation_bench --runs 9 --only jpeg-8k

**Steady state.**  One process holds both stages: ``InProcessImages`` and ``SandboxedImages`` (one
pre-started worker, warmed up with one untimed run).  Each run times ``probe`` + ``normalize`` as
the pipeline calls them, alternating in-process, sandboxed and libvips so machine noise affects
all alike; the table has the medians and the overhead (sandboxed / in-process - 1).  The sandboxed
time includes everything the host pays: sending the blob to the worker (once: the normalize reuses
the probe's copy), the address-space limit, and the PNG coming back.  With ``pyvips`` installed, a
libvips column (``thumbnail_buffer`` to the same box, PNG out at compression 1) and the ratio
sandboxed / libvips are added; the targets are at most 1.0x for the 8K JPEG and 1.3x for the 8K
PNGs.  **added MB** is the worker's peak RSS during the normalize minus its RSS before it, next to
``estimate_decode_bytes``, which it must not exceed.

**Fidelity.**  Each thumbnail's PSNR (dB, RGB) against a reference: the full decode downscaled
once with LANCZOS to the thumbnail's size.  A speed change may lower ours by at most
``MAX_FIDELITY_DROP_DB`` (0.5 dB) below ``FIDELITY_BASELINE_DB``, the figure each input had with
a full-quality path (DCT-scaled JPEG decode at no less than twice the thumbnail, LANCZOS); a row
that drops further is flagged ``DROPPED`` and the bench exits with status 1.

**One-off.**  What a person pays for isolation: ``python -m shared.cli normalize IN OUT`` as a fresh
process with ``IMAGE_ISOLATION`` unset (sandboxed) and ``=false`` (in process), and, with pyvips,
libvips's equivalent (``pyvips.Image.thumbnail`` + ``pngsave`` in a fresh ``python -c``), all
interleaved; medians.  The target is at most 0.1 s for isolation.

The machine's load average is printed with each table: on a shared machine only ratios measured
side by side in one run mean anything.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.corpus import ITEMS, ensure
from bench.fidelity import psnr
from bench.fidelity import reference as fidelity_reference
from shared.imaging import InProcessImages, Thumbnail
from shared.imaging.admission import estimate_decode_bytes
from shared.sandbox import SandboxedImages
from shared.settings import default_limits, default_sandbox

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ITEMS = ("jpeg-8k", "png-8k-rgb", "png-8k-rgba")

#: How far (dB) a speed change may lower a thumbnail's PSNR below its baseline.
MAX_FIDELITY_DROP_DB = 0.5

#: PSNR (dB) of each input's thumbnail with the full-quality path (measured 2026-12-04 at 7df8c95:
#: JPEG decoded at 1/4 by DCT scaling, LANCZOS, exact pixels out); the floor is 0.5 dB below.
FIDELITY_BASELINE_DB = {"jpeg-8k": 50.4, "png-8k-rgb": 50.7, "png-8k-rgba": 44.2}

#: libvips's one-off, as a fresh process: the same box, PNG at compression 1.
VIPS_ONE_OFF = (
    "import sys, pyvips; pyvips.Image.thumbnail(sys.argv[1], 800, height=500).pngsave(sys.argv[2], compression=1)"
)


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _through(stage: InProcessImages | SandboxedImages, data: bytes) -> object:
    """What the pipeline does with a blob: probe, then normalize."""
    return stage.normalize(data, stage.probe(data))


def fidelity_verdict(name: str, ours: float | None) -> str:
    """``ok``, ``DROPPED`` (more than ``MAX_FIDELITY_DROP_DB`` below the baseline), or ``-`` when
    this input has no baseline or no comparable thumbnail."""
    baseline = FIDELITY_BASELINE_DB.get(name)
    if baseline is None or ours is None:
        return "-"
    return "ok" if ours >= baseline - MAX_FIDELITY_DROP_DB else "DROPPED"


def _db(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


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


def _fresh(command: list[str], env: dict[str, str]) -> float:
    """Seconds a fresh process takes to run ``command`` (which must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return seconds


def one_off_commands(source: Path, out: Path, vips: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The fresh-process commands of the one-off table, with their environments."""
    sandboxed = {key: value for key, value in os.environ.items() if key != "IMAGE_ISOLATION"}
    cli = [sys.executable, "-m", "shared.cli", "normalize", str(source), str(out)]
    commands = {"in-process": (cli, {**sandboxed, "IMAGE_ISOLATION": "false"}), "sandboxed": (cli, sandboxed)}
    if vips:
        commands["libvips"] = ([sys.executable, "-c", VIPS_ONE_OFF, str(source), str(out)], sandboxed)
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(DEFAULT_ITEMS))
    args = parser.parse_args(argv)
    limits = default_limits()
    here = InProcessImages(limits)
    vips = _vips()
    print(
        f"steady state, median of {args.runs} interleaved runs; fidelity floor: baseline - "
        f"{MAX_FIDELITY_DROP_DB} dB; {_load()}\n"
    )
    print(
        "| input | in-process s | sandboxed s | overhead | added MB / estimate MB | ours PSNR dB | fidelity |"
        + (" libvips s | sandboxed / libvips | libvips PSNR dB |" if vips else "")
    )
    print("|---|---:|---:|---:|---:|---:|---|" + ("---:|---:|---:|" if vips else ""))
    dropped = 0
    paths: list[tuple[str, Path]] = []
    jobs: list[dict[str, Any]] = []
    with SandboxedImages(limits, default_sandbox(workers=1), on_job=jobs.append) as sandbox:
        sandbox.warm_up()
        for name in args.only:
            item = next(item for item in ITEMS if item.name == name)
            path = ensure(item, ROOT / "bench" / "out" / "corpus", log=lambda line: print(line, file=sys.stderr))
            paths.append((item.description, path))
            data = path.read_bytes()
            stages: dict[str, Callable[[], object]] = {
                "in-process": functools.partial(_through, here, data),
                "sandboxed": functools.partial(_through, sandbox, data),
            }
            if vips is not None:
                stages["libvips"] = functools.partial(vips, data)
            outputs = {key: call() for key, call in stages.items()}  # warm: first decode, file cache, imports
            ours = outputs["sandboxed"]
            assert isinstance(ours, Thumbnail)
            reference = fidelity_reference(data, (ours.width, ours.height))
            ours_db = psnr(ours.data, reference)
            verdict = fidelity_verdict(name, ours_db)
            dropped += verdict == "DROPPED"
            times: dict[str, list[float]] = {key: [] for key in stages}
            added = 0  # the largest of the sandboxed runs
            for _ in range(args.runs):
                for key, call in stages.items():
                    jobs.clear()
                    times[key].append(_timed(call))
                    if key == "sandboxed":  # jobs: the probe's figures, then the normalize's
                        added = max(added, int(jobs[-1]["peak_rss"]) - int(jobs[-1]["rss_before"]))
            estimate = estimate_decode_bytes(ours.source)
            medians = {key: statistics.median(values) for key, values in times.items()}
            row = (
                f"| {item.description} | {medians['in-process']:.3f} | {medians['sandboxed']:.3f} | "
                f"{(medians['sandboxed'] / medians['in-process'] - 1) * 100:+.1f}% | "
                f"{added / 2**20:,.0f} / {estimate / 2**20:,.0f} | {_db(ours_db)} | {verdict} |"
            )
            if vips is not None:
                vips_png = outputs["libvips"]
                assert isinstance(vips_png, bytes)
                row += (
                    f" {medians['libvips']:.3f} | {medians['sandboxed'] / medians['libvips']:.2f}x |"
                    f" {_db(psnr(vips_png, reference))} |"
                )
            print(row, flush=True)
    _one_off_table(paths, args.runs, vips is not None)
    if dropped:
        print(f"\n{dropped} input(s) DROPPED more than {MAX_FIDELITY_DROP_DB} dB below their fidelity baseline")
    return 1 if dropped else 0


def _one_off_table(paths: list[tuple[str, Path]], runs: int, vips: bool) -> None:
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for description, path in paths:
            commands = one_off_commands(path, Path(folder) / "out.png", vips)
            times: dict[str, list[float]] = {key: [] for key in commands}
            for command, env in commands.values():  # untimed: the file cache, .pyc files
                _fresh(command, env)
            for _ in range(runs):
                for key, (command, env) in commands.items():
                    times[key].append(_fresh(command, env))
            medians = {key: statistics.median(values) for key, values in times.items()}
            row = (
                f"| {description} | {medians['in-process']:.3f} | {medians['sandboxed']:.3f} | "
                f"{medians['sandboxed'] - medians['in-process']:+.3f} |"
            )
            if vips:
                row += f" {medians['libvips']:.3f} |"
            rows.append(row)
    print(f"\none-off: `python -m shared.cli normalize IN OUT`, a fresh process each, median of {runs}; {_load()}\n")
    print("| input | in-process s | sandboxed s | isolation costs s |" + (" libvips s |" if vips else ""))
    print("|---|---:|---:|---:|" + ("---:|" if vips else ""))
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
