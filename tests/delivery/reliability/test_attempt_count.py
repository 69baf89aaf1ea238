"""Failed deliveries are counted exactly, duplicates included.

Event Grid delivers at least once and ``drain`` can run next to the host, so two deliveries of the
same version can fail at the same moment.  A counter kept on the blob and updated with If-Match
would let the second update fail on the first one's ETag change: two failures would count as one,
and the blob would get more deliveries than ``MAX_DELIVERY_ATTEMPTS`` allows.  Each failure writes
a mark of its own (:mod:`shared.edges.attempts`).

Real Azurite and the emulator; each duplicate has its own pipeline (its own clients and token cache,
as two host instances have) and its own fake clock, and both read the blob before either counts.
"""

from __future__ import annotations

import threading

from devkit.emulator import Emulator
from shared.core.outcome import Outcome, Status
from shared.delivery.compose import build_pipeline
from shared.delivery.pipeline import Pipeline
from shared.settings import load_settings
from tests.conftest import Containers, FakeClock, new_imodel, png_bytes


def pipelines(env: dict[str, str], count: int, **overrides: str) -> list[Pipeline]:
    settings = load_settings({**env, "IMAGE_ISOLATION": "false", **overrides})
    built = []
    for _ in range(count):
        clock = FakeClock()
        built.append(build_pipeline(settings, clock=clock, sleep=clock.sleep, now=clock.now))
    return built


def race(workers: list[Pipeline], container: str, name: str) -> list[Outcome]:
    barrier = threading.Barrier(len(workers))
    outcomes: list[Outcome | None] = [None] * len(workers)

    def run(index: int, pipeline: Pipeline) -> None:
        blob = pipeline.blobs.get_blob_client(container, name)
        barrier.wait()
        outcomes[index] = pipeline.process(blob)

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def test_two_failing_duplicates_count_as_two_failed_deliveries(
    env: dict[str, str], containers: Containers, emulator: Emulator
) -> None:
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(64, 48))
    emulator.state.fail_next(503, count=100_000)
    first, second, third = pipelines(env, 3, MAX_DELIVERY_ATTEMPTS="3")
    try:
        duplicates = race([first, second], containers.incoming.container_name, name)
        assert [o.status for o in duplicates] == [Status.RETRY, Status.RETRY]
        assert sorted(o.attempts for o in duplicates) in ([1, 2], [2, 2])  # each saw at least its own mark

        # The third failure is the third delivery: MAX_DELIVERY_ATTEMPTS=3 dead-letters it.
        last = third.process(third.blobs.get_blob_client(containers.incoming.container_name, name))
    finally:
        for pipeline in (first, second, third):
            pipeline.close()
    assert last.status is Status.DEADLETTERED, last
    assert last.code == "RetriesExhausted"
    assert last.attempts == 3
    assert containers.names(containers.incoming) == []
    assert containers.names(containers.deadletter) == [name, f"{name}.error.json"]


def test_a_deadline_failure_is_counted_in_the_reserve_after_the_work(
    env: dict[str, str], containers: Containers, emulator: Emulator
) -> None:
    """A delivery that ran out of time still counts: the mark is written in the reserve that the
    work's deadline leaves before RETRY_BUDGET_SECONDS ends (a tenth of it, at most 5 s)."""
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(64, 48))
    emulator.state.rate_limit_next(count=100_000, retry_after=1)
    [pipeline] = pipelines(env, 1)
    try:
        blob = pipeline.blobs.get_blob_client(containers.incoming.container_name, name)
        outcome = pipeline.process(blob)
        again = pipeline.process(blob)
    finally:
        pipeline.close()
    assert (outcome.status, outcome.code, outcome.attempts) == (Status.RETRY, "TooManyRequests", 1)
    assert (again.status, again.attempts) == (Status.RETRY, 2)
