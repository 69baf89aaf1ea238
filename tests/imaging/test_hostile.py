"""The hostile corpus (``bench/hostile.py``) as regression tests.

Every case once escaped as an unexpected exception, ran for tens of seconds, or used several times
the memory its estimate admitted it for.  Each must now end as a thumbnail that meets the contract
or as its stable ``ThumbnailError`` code: in this process (the cheap cases), through the sandbox
(all of them), and, measured in a fresh process, within its memory estimate.  The cases that take
seconds or hundreds of MB carry the ``hostile`` marker (still part of the default suite); the few
tagged ``BENCH_ONLY`` take seconds just to build, and are tested here at a smaller size elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.corpus import K8, jpeg, png_rgb, png_rgba
from bench.hostile import BENCH_ONLY, CASES, OK, Case, build
from shared.core.errors import ThumbnailError
from shared.imaging import ImageLimits, InProcessImages, estimate_decode_bytes, probe
from shared.sandbox import SandboxedImages
from shared.settings import default_limits, default_sandbox
from tests.imaging.contract import assert_meets_the_contract

ROOT = Path(__file__).resolve().parents[2]


def _cases(*, fast_only: bool = False) -> list[object]:
    return [
        pytest.param(case, id=case.name, marks=[pytest.mark.hostile] if case.slow else [])
        for case in CASES
        if not (fast_only and case.slow) and BENCH_ONLY not in case.tags
    ]


def _outcome(stage: InProcessImages | SandboxedImages, case: Case, limits: ImageLimits) -> str:
    data = build(case.name)
    refusal: ThumbnailError | None = None
    try:
        thumb = stage.normalize(data, stage.probe(data))
    except ThumbnailError as error:
        refusal = error
    if refusal is not None:
        assert refusal.details.get("format"), refusal.details  # every refusal says what the file was
        return refusal.code.value
    assert_meets_the_contract(thumb, limits)
    return OK


@pytest.mark.parametrize("case", _cases(fast_only=True))
def test_a_hostile_case_ends_with_its_code_in_process(case: Case) -> None:
    limits = default_limits(allow_tiff=case.allow_tiff)
    assert _outcome(InProcessImages(limits), case, limits) == case.expect


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[bool, SandboxedImages]]:
    """Production settings (20 s time limit), one worker each, with and without TIFF."""
    stages = {
        allow: SandboxedImages(default_limits(allow_tiff=allow), default_sandbox(workers=1)) for allow in (False, True)
    }
    yield stages
    for stage in stages.values():
        stage.close()


@pytest.mark.parametrize("case", _cases())
def test_a_hostile_case_ends_with_its_code_through_the_sandbox(
    case: Case, sandboxes: dict[bool, SandboxedImages]
) -> None:
    limits = default_limits(allow_tiff=case.allow_tiff)
    assert _outcome(sandboxes[case.allow_tiff], case, limits) == case.expect


@pytest.mark.parametrize("case", _cases())
def test_a_hostile_case_stays_within_its_memory_estimate(case: Case) -> None:
    """Measured in a fresh process: the peak RSS the call added is at most ``estimate_decode_bytes``
    (for the cases refused by ``probe`` there is nothing decoded, and no estimate to check)."""
    result = _child([sys.executable, "-m", "bench.hostile", "--child", case.name])
    assert result["outcome"] == case.expect
    if result["estimate"] is None:
        assert case.expect != OK
        return
    assert result["added"] <= result["estimate"], result


#: The benchmark's 8K renders; the PNGs written at zlib level 1 (the same pixels and decoder memory as
#: the benchmark's level-6 files, which take 11 s each to write on a fresh clone).
LARGE_RENDERS: dict[str, Callable[[], bytes]] = {
    "jpeg-8k": lambda: jpeg(K8),
    "png-8k-rgb": lambda: png_rgb(K8, level=1),
    "png-8k-rgba": lambda: png_rgba(K8, level=1),
}


@pytest.mark.hostile
@pytest.mark.parametrize("name", LARGE_RENDERS)
def test_the_estimate_for_a_large_render_is_at_least_the_peak_and_within_twice_it(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(LARGE_RENDERS[name]())
    estimate = estimate_decode_bytes(probe(path.read_bytes(), default_limits()))
    result = _child([sys.executable, "-m", "bench.normalize_bench", "--child", "ours", str(path)])
    added = result["peak"] - result["before"]
    assert added <= estimate <= 2 * added, (added, estimate)


def _child(command: list[str]) -> dict[str, int | str | None]:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, int | str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
