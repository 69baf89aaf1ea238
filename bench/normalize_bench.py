"""Benchmark: our normalize path against a naive baseline, on the standard corpus.

    python -m bench.normalize_bench            # full corpus (8K and 16K), 3 runs each
    python -m bench.normalize_bench --quick    # no 16K inputs, 1 run each: about two minutes
    python -m bench.normalize_bench --runs 5 --only png-8k-rgb jpeg-8k

Every measurement runs in a fresh Python process (no warm caches, no memory left over from the
previous image).  Inside it the input file is read into memory, the peak-RSS counter is reset,
and the one call is timed; the child then reports its time, its peak RSS (``VmHWM``) and its RSS
just before the call.  ``added`` is the difference: the memory the call itself needed, without
the interpreter and the input bytes, which is what ``estimate_decode_bytes`` predicts.

The naive baseline is what a first version would do: ``Image.open``, ``load``, and save the full
frame as PNG (Pillow's default level 6), no resizing.  ``decode`` is ``Image.open`` + ``load``
alone, at full size: the floor for any approach that has to read every pixel (every PNG does).
All three run in the same session, interleaved, so machine noise affects them alike.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import ITEMS, Item, ensure
from bench.fresh import run_child
from shared.imaging import estimate_decode_bytes, probe
from shared.imaging.admission import bytes_per_pixel
from shared.imaging.formats import preload
from shared.sandbox.procfs import reset_peak_rss, status_bytes
from shared.settings import default_limits

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "out"
MB = 1_000_000
METHODS = ("ours", "naive", "decode")


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_bytes: int
    added_bytes: int
    output_bytes: int


@dataclass(frozen=True)
class Row:
    item: Item
    file_bytes: int
    size: tuple[int, int]
    mode: str
    bitmap_bytes: int
    estimate_bytes: int
    ours: list[Sample]
    naive: list[Sample]
    decode: list[Sample]


# -- the child: one call, measured -----------------------------------------------------------------


def child(method: str, path: str) -> None:
    """Run one method on one file and print a JSON line with time and memory."""
    data = Path(path).read_bytes()
    run = {"ours": _ours, "naive": _naive, "decode": _decode}[method]
    preload("JPEG", hdr=True)  # the decoder libraries, loaded before the job as the worker does
    reset = reset_peak_rss()
    before = status_bytes("VmRSS")
    started = time.perf_counter()
    output = run(data)
    seconds = time.perf_counter() - started
    peak = status_bytes("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak": peak, "before": before, "output": output}))


def _ours(data: bytes) -> int:
    from shared.imaging import normalize

    return len(normalize(data, default_limits()).data)


def _decode(data: bytes) -> int:
    from PIL import Image

    with warnings.catch_warnings():  # the baselines run with Pillow's defaults, where 16K warns
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
        image.load()
    return image.width * image.height


def _naive(data: bytes) -> int:
    from PIL import Image

    with warnings.catch_warnings():  # as in _decode
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
        image.load()
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return len(buffer.getvalue())


# -- the parent: corpus, runs, table ------------------------------------------------------------


def measure(method: str, path: Path) -> Sample:
    values = run_child("bench.normalize_bench", method, str(path))
    return Sample(
        seconds=values["seconds"],
        peak_bytes=values["peak"],
        added_bytes=max(0, values["peak"] - values["before"]),
        output_bytes=values["output"],
    )


def benchmark(item: Item, out: Path, runs: int) -> Row:
    path = ensure(item, out / "corpus", log=lambda line: print(line, file=sys.stderr))
    data = path.read_bytes()
    info = probe(data, default_limits())
    samples: dict[str, list[Sample]] = {method: [] for method in METHODS}
    for run in range(runs):
        print(f"  {item.name}: run {run + 1}/{runs}", file=sys.stderr)
        for method in METHODS:
            samples[method].append(measure(method, path))
    return Row(
        item=item,
        file_bytes=len(data),
        size=(info.width, info.height),
        mode=info.mode,
        bitmap_bytes=info.width * info.height * bytes_per_pixel(info.mode),
        estimate_bytes=estimate_decode_bytes(info),
        ours=samples["ours"],
        naive=samples["naive"],
        decode=samples["decode"],
    )


def median(samples: list[Sample], field: str) -> float:
    return float(statistics.median(float(getattr(sample, field)) for sample in samples))


HEADER = (
    "| input | file MB | bitmap MB | estimate MB | ours s | ours peak / added MB "
    "| naive s | naive peak MB | speed-up | added / bitmap | decode-only s |"
)
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"


def table_row(row: Row) -> str:
    ours_s, naive_s = median(row.ours, "seconds"), median(row.naive, "seconds")
    peak, added = median(row.ours, "peak_bytes"), median(row.ours, "added_bytes")
    return (
        f"| {row.item.description} ({row.size[0]}x{row.size[1]} {row.mode}) | {row.file_bytes / MB:.1f} "
        f"| {row.bitmap_bytes / MB:.0f} | {row.estimate_bytes / MB:.0f} | {ours_s:.3f} "
        f"| {peak / MB:.0f} / {added / MB:.0f} | {naive_s:.2f} | {median(row.naive, 'peak_bytes') / MB:.0f} "
        f"| {naive_s / ours_s:.1f}x | {added / row.bitmap_bytes:.2f} | {median(row.decode, 'seconds'):.3f} |"
    )


def machine() -> str:
    from PIL import __version__ as pillow

    cpus = os.cpu_count()
    return f"{cpus} CPUs, Python {sys.version.split()[0]}, Pillow {pillow}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="runs per input and method (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="skip the 16K inputs and run once")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="corpus names: " + ", ".join(i.name for i in ITEMS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="cache directory (default bench/out)")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    runs = args.runs or (1 if args.quick else 3)
    items = [i for i in ITEMS if (not args.quick or i.quick) and (not args.only or i.name in args.only)]
    rows = [benchmark(item, args.out, runs) for item in items]
    print(f"\n{machine()}; median of {runs} run(s), each in a fresh process\n")
    print(HEADER)
    print(RULE)
    for row in rows:
        print(table_row(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
