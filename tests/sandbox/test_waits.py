"""The image stage's waits end by the invocation's deadline: a free worker, and memory admission.

Both waits used to have no timeout: with every worker busy (or the memory budget taken) a delivery
waited as long as the other jobs ran.  Now each wait leaves the job's own time limit
(``IMAGE_TIMEOUT_SECONDS``) before the deadline, so the job that follows still ends by it.  Real
worker processes (``tests.sandbox.faulty_worker``: ``sleep`` holds a worker) and real threads; the
deadline runs on the real clock because ``threading.Condition`` waits in real time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from shared.core.deadline import Deadline
from shared.core.errors import ErrorCode, Stage, ThumbnailError
from shared.imaging import MemoryBudget
from shared.imaging.admission import admitted_by
from shared.sandbox import SandboxedImages
from shared.settings import default_limits, default_sandbox
from tests.sandbox.conftest import FAULTY_WORKER, SMALL_GRANT

JOB_LIMIT = 0.5  # IMAGE_TIMEOUT_SECONDS for these tests
SLACK = 0.4


@pytest.fixture(scope="module")
def one_worker() -> Iterator[SandboxedImages]:
    with SandboxedImages(
        default_limits(), default_sandbox(workers=1, timeout_seconds=JOB_LIMIT), command=FAULTY_WORKER
    ) as pool:
        yield pool


def test_waiting_for_a_busy_worker_ends_in_time_for_the_job_to_fit(one_worker: SandboxedImages) -> None:
    busy = threading.Thread(target=lambda: one_worker.call({"op": "echo", "grant": SMALL_GRANT}, b""), daemon=True)
    taken = one_worker._take(b"")  # the only worker is busy with another delivery's job
    try:
        busy.start()
        deadline = Deadline.after(JOB_LIMIT + 0.4, time.monotonic)
        with pytest.raises(ThumbnailError) as caught:
            one_worker.call({"op": "echo", "grant": SMALL_GRANT}, b"x", deadline=deadline)
        assert caught.value.code is ErrorCode.DEADLINE_REACHED
        assert caught.value.stage is Stage.IMAGE
        assert caught.value.transient
        assert time.monotonic() <= deadline.at - JOB_LIMIT + SLACK  # the job's time limit was left free
    finally:
        one_worker._give(taken)
    busy.join(timeout=5)
    reply = one_worker.call({"op": "echo", "grant": SMALL_GRANT}, b"abc", deadline=Deadline.after(5, time.monotonic))
    assert reply["echo"] == 3  # with time left, the same call simply runs


def test_no_job_starts_when_its_time_limit_no_longer_fits(one_worker: SandboxedImages) -> None:
    deadline = Deadline.after(JOB_LIMIT / 2, time.monotonic)
    with pytest.raises(ThumbnailError) as caught:
        one_worker.call({"op": "echo", "grant": SMALL_GRANT}, b"x", deadline=deadline)
    assert caught.value.code is ErrorCode.DEADLINE_REACHED


def test_memory_admission_ends_by_the_deadline() -> None:
    budget = MemoryBudget(100)
    with budget.admit(100):  # another decode holds the whole budget
        deadline = Deadline.after(0.4, time.monotonic)
        with pytest.raises(ThumbnailError) as caught, admitted_by(budget, 60, deadline):
            pytest.fail("admitted while the budget was full")
        assert caught.value.code is ErrorCode.DEADLINE_REACHED
        assert time.monotonic() < deadline.at + SLACK
    assert budget.waiting == 0  # the waiter left the queue
    with admitted_by(budget, 60, Deadline.after(1, time.monotonic)):
        assert budget.in_use == 60
