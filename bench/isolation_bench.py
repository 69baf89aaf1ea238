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
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import ITEMS, ensure
from shared.imaging import InProcessImages
from shared.sandbox import SandboxedImages
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


def _vips() -> Callable[[bytes], object] | None:
    try:
        import pyvips  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None

    def thumbnail(data: bytes) -> object:
        image = pyvips.Image.thumbnail_buffer(data, 800, height=500)
        return image.pngsave_buffer(compression=1)

    return thumbnail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(DEFAULT_ITEMS))
    args = parser.parse_args(argv)
    limits = default_limits()
    here = InProcessImages(limits)
    vips = _vips()
    print("| input | in-process s | sandboxed s | overhead |" + (" libvips s | sandboxed / libvips |" if vips else ""))
    print("|---|---:|---:|---:|" + ("---:|---:|" if vips else ""))
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
            for call in stages.values():
                call()  # warm: the worker's first decode of a format, file cache, lazy imports
            times: dict[str, list[float]] = {key: [] for key in stages}
            for _ in range(args.runs):
                for key, call in stages.items():
                    times[key].append(_timed(call))
            medians = {key: statistics.median(values) for key, values in times.items()}
            row = (
                f"| {item.description} | {medians['in-process']:.3f} | {medians['sandboxed']:.3f} | "
                f"{(medians['sandboxed'] / medians['in-process'] - 1) * 100:+.1f}% |"
            )
            if vips is not None:
                row += f" {medians['libvips']:.3f} | {medians['sandboxed'] / medians['libvips']:.2f}x |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
