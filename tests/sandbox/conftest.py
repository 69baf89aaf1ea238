"""A sandbox per test module: starting workers costs a few hundred ms each, on a shared machine."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from shared.sandbox import SandboxedImages
from shared.settings import default_limits, default_sandbox

FAULTY_WORKER = (sys.executable, "-m", "tests.sandbox.faulty_worker")

#: Address space a test job gets beyond the worker's own and its input.  Not 0: even a job that
#: allocates nothing of its own makes Python objects (the reply, a traceback), and whether the
#: worker's heap already has room for them depends on what it happened to import.
SMALL_GRANT = 32 * 2**20


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxedImages]:
    """Two workers (so one can hang while the other works), 3 s time limit, test operations."""
    with SandboxedImages(
        default_limits(), default_sandbox(workers=2, timeout_seconds=3.0), command=FAULTY_WORKER
    ) as pool:
        yield pool
