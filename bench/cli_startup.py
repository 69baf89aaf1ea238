"""How long ``python -m shared.cli --help`` and an argument error take, against ``python -c pass``.

Both are measured here, in the same run and interleaved, so the ratio holds on a loaded machine
where the absolute figures do not.  The CLI promises an answer to ``--help`` and to a usage error
in at most 0.2 s: it imports the Azure SDK, requests, Pillow and the pipeline per command, never at
start-up.  Prints the median of ``--runs`` fresh processes each and the ratios.

    .venv/bin/python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "python -m shared.cli --help": ["-m", "shared.cli", "--help"],
    "python -m shared.cli drain --workers 0": ["-m", "shared.cli", "drain", "--workers", "0"],
    "python -m shared.cli status --imodel bad": ["-m", "shared.cli", "status", "--imodel", "bad"],
}


def seconds(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per case (default 15)")
    runs = parser.parse_args().runs
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):  # interleaved: a burst of load hits every case alike
        for name, args in CASES.items():
            samples[name].append(seconds(args))
    baseline = statistics.median(samples["python -c pass"])
    print(f"{'case':<44} {'median s':>9} {'x pass':>7}  ({runs} runs each, {sys.version.split()[0]})")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<44} {median:9.3f} {median / baseline:7.1f}")


if __name__ == "__main__":
    main()
