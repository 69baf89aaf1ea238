"""A worker started before the image stage exists: adopted by it, or closed when not needed.

The CLI's one-off ``normalize`` starts its worker before it imports Pillow (see
``shared.sandbox.spawn``); these run real worker processes and a fresh interpreter.
``subprocess.Popen.wait`` (CPython docs) gives the exit status of a worker that ended on EOF.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

from shared.imaging import InProcessImages
from shared.sandbox import SandboxedImages, image_stage
from shared.sandbox.spawn import PIPE_BYTES, start_worker
from shared.settings import default_limits, default_sandbox, load_sandbox_settings
from tests.imaging.factories import encode, quadrants

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_worker_started_early_is_the_one_that_decodes() -> None:
    process = start_worker()
    with SandboxedImages(default_limits(), default_sandbox(workers=1), started=[process]) as pool:
        assert pool.worker_pids() == [process.pid]
        data = encode(quadrants(64, 48), "PNG")
        thumb = pool.normalize(data, pool.probe(data))
        assert (thumb.width, thumb.height) == (64, 48)
        assert pool.worker_pids() == [process.pid]
    assert process.wait(timeout=10) == 0


def test_a_worker_started_early_is_closed_when_the_settings_say_in_process() -> None:
    process = start_worker()
    stage = image_stage(default_limits(), default_sandbox(isolate=False), [process])
    assert isinstance(stage, InProcessImages)
    assert process.wait(timeout=10) == 0


def test_starting_a_worker_and_planning_the_files_import_no_pillow() -> None:
    """What makes the early start worth it: the host reaches it before its heavy imports."""
    probe = (
        "import sys\n"
        "import shared.ops.cli, shared.ops.normalize, shared.sandbox.spawn\n"
        "print(sorted(m for m in ('PIL', 'numpy', 'shared.imaging', 'shared.sandbox.pool') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unset_isolation_means_isolated_which_is_when_the_cli_starts_a_worker_early() -> None:
    assert load_sandbox_settings({}).isolate is True


def test_both_pipes_of_a_worker_hold_a_mebibyte() -> None:
    """fcntl(2) F_GETPIPE_SZ reads a pipe's capacity back (Linux man-pages, fcntl and pipe(7))."""
    ceiling = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    process = start_worker()
    pipes = [process.stdin, process.stdout]
    capacities = [fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ) for pipe in pipes if pipe is not None]
    if process.stdin is not None:
        process.stdin.close()
    assert process.wait(timeout=10) == 0
    assert capacities == [min(PIPE_BYTES, ceiling)] * 2
