"""Run one measurement in a fresh interpreter and read back the JSON line it prints.

A fresh process per run keeps one run's allocations, caches and imports out of the next one's
figures; the benchmarks' ``--child`` mode prints its result as the last line of its output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_child(module: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", module, "--child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    values: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return values
