"""How a worker's end is reported, and a worker under a host's finite hard ``RLIMIT_AS``.

The real parts: the worker process (``python -m shared.sandbox.worker``, or the test worker with
extra operations) and the kernel's ``setrlimit(2)``: an unprivileged process may lower its hard
limit but never raise it, and a soft limit above the hard one is refused (``EINVAL``, Python's
``ValueError: not allowed to raise maximum limit``).  An Azure Functions container or a
``ulimit -v`` in a shell leaves such a finite hard limit; root in a test can set one on a child.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.core.errors import ErrorCode, ThumbnailError
from shared.sandbox import SandboxedImages
from shared.sandbox.output import MAX_OUTPUT_BYTES
from shared.settings import default_limits, default_sandbox
from tests.imaging.factories import encode, quadrants
from tests.sandbox.conftest import FAULTY_WORKER, SMALL_GRANT

ROOT = Path(__file__).resolve().parents[2]

#: A hard address-space limit well above what a worker needs (8 GiB), set before the worker starts.
HARD_LIMIT = 8 * 2**30
LIMITED_WORKER = (
    sys.executable,
    "-c",
    "import resource, runpy; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({HARD_LIMIT}, {HARD_LIMIT})); "
    "runpy.run_module('shared.sandbox.worker', run_name='__main__')",
)


def test_a_worker_under_a_finite_hard_address_limit_decodes_job_after_job() -> None:
    """Lifting a job's limit kept the hard limit but asked for an unlimited soft one: refused, so
    the worker died after its first job and every job failed."""
    data = encode(quadrants(64, 48), "PNG")
    with SandboxedImages(default_limits(), default_sandbox(workers=1), command=LIMITED_WORKER) as pool:
        for _ in range(3):
            assert pool.normalize(data, pool.probe(data)).width == 64
        assert pool.replaced == 0


@pytest.fixture(scope="module")
def faulty() -> Iterator[SandboxedImages]:
    with SandboxedImages(
        default_limits(), default_sandbox(workers=1, timeout_seconds=10.0), command=FAULTY_WORKER
    ) as pool:
        yield pool


@pytest.mark.parametrize("attempt", range(3))
def test_a_worker_ended_by_an_exception_is_reported_as_its_exit_not_a_signal(
    faulty: SandboxedImages, attempt: int
) -> None:
    """The host killed a worker whose channel closed before the worker had finished exiting (a
    traceback takes milliseconds to print), and reported its own SIGKILL as the cause."""
    with pytest.raises(ThumbnailError) as caught:
        faulty.call({"op": "escape", "grant": SMALL_GRANT}, b"x")
    error = caught.value
    assert error.code is ErrorCode.IMAGE_TOO_COMPLEX
    assert (error.details["limit"], error.details.get("exit_status")) == ("exit", 1), error.details


HOST_SCRIPT = """
import sys
from shared.sandbox import SandboxedImages
from shared.sandbox.output import MAX_OUTPUT_BYTES
from shared.settings import default_limits, default_sandbox
from tests.sandbox.conftest import SMALL_GRANT
command = (sys.executable, "-m", "tests.sandbox.faulty_worker")
with SandboxedImages(default_limits(), default_sandbox(workers=1), command=command) as pool:
    reply = pool.call({"op": "noisy", "lines": 130_000, "grant": SMALL_GRANT}, b"x")
    print(reply["lines"] * reply["line_bytes"])
"""


def test_a_job_that_floods_stderr_reaches_the_host_log_bounded() -> None:
    """The real part is the host's stderr (the Functions log stream): run a host in a child process
    and measure what its worker wrote there."""
    done = subprocess.run([sys.executable, "-c", HOST_SCRIPT], cwd=ROOT, capture_output=True, timeout=120, check=True)
    written = int(done.stdout.decode().strip())
    assert written > 10 * 2**20  # the job itself wrote 13 MB
    assert len(done.stderr) <= MAX_OUTPUT_BYTES + 200
    assert b"more bytes of decoder output dropped" in done.stderr
