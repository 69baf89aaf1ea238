"""Process what is in the incoming container now (``drain``) or as it arrives (``watch``):
the local stand-in for the Functions host, through the very same :meth:`Pipeline.process`, and
for its queue trigger: re-assert messages whose delay has passed go to :meth:`Pipeline.reassert`."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shared.core.errors import ThumbnailError
from shared.core.outcome import Outcome, Status
from shared.delivery.log import LOGGER_NAME
from shared.delivery.pipeline import Pipeline
from shared.edges import queues

logger = logging.getLogger(LOGGER_NAME)

#: Added to the retry budget while a received re-assert message is hidden from other receivers.
_REASSERT_HOLD_MARGIN_SECONDS = 60


@dataclass
class DrainReport:
    outcomes: list[Outcome] = field(default_factory=list)
    reasserts: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> Counter[str]:
        return Counter(outcome.status.value for outcome in self.outcomes)

    @property
    def ok(self) -> bool:
        """Every blob was uploaded or dead-lettered (or had nothing left to do)."""
        return all(outcome.settled for outcome in self.outcomes)

    def summary(self) -> str:
        counts = self.counts
        parts = [f"{counts.get(status.value, 0)} {status.value}" for status in Status if counts.get(status.value)]
        rate = len(self.outcomes) / self.seconds if self.seconds > 0 else 0.0
        text = f"{len(self.outcomes)} blobs in {self.seconds:.2f} s ({rate:.1f}/s): " + (", ".join(parts) or "nothing")
        if self.reasserts:
            done = sum(1 for outcome in self.reasserts if outcome.settled)
            text += f"; {done} of {len(self.reasserts)} due re-asserts done"
        if not self.ok:
            text += " -- transient failures stay in the incoming container; run drain again to retry them"
        return text


def incoming_names(pipeline: Pipeline) -> list[str]:
    container = pipeline.blobs.get_container_client(pipeline.settings.incoming_container)
    return [blob.name for blob in container.list_blobs()]


def drain(
    pipeline: Pipeline,
    *,
    workers: int = 4,
    names: Iterable[str] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DrainReport:
    """Process every blob once, ``workers`` at a time (as the host's maxDegreeOfParallelism does)."""
    container = pipeline.blobs.get_container_client(pipeline.settings.incoming_container)
    todo = list(incoming_names(pipeline) if names is None else names)
    report = DrainReport()
    started = clock()

    def one(name: str) -> Outcome:
        outcome = pipeline.process(container.get_blob_client(name))
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        report.outcomes = list(pool.map(one, todo))
    report.reasserts = reassert_due(pipeline, on_outcome=on_outcome)
    report.seconds = clock() - started
    return report


def reassert_due(pipeline: Pipeline, *, on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Handle the re-assert messages whose visibility delay has passed, as the queue trigger does:
    a message is deleted once handled, and left to come back when its re-assert must be retried."""
    queue = pipeline.reasserts.queue
    hold = int(pipeline.settings.retry.budget_seconds) + _REASSERT_HOLD_MARGIN_SECONDS
    outcomes = []
    try:
        for received in queues.receive_visible(queue, hold_seconds=hold):
            outcome = pipeline.reassert_message(received.body)
            if outcome is None or outcome.settled:  # not ours (unreadable) or done: nothing to come back for
                queues.delete(queue, received)
            if outcome is not None:
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
    except ThumbnailError as error:  # the queue is out of reach: its messages wait for the next drain
        logger.warning("re-assert queue unavailable: %s", error.message)
    return outcomes


@dataclass
class Backoff:
    """Per-blob wait between ``watch`` attempts after a transient failure (10 s, 20 s, ... 5 min)."""

    first: float = 10.0
    longest: float = 300.0
    due: dict[str, tuple[float, float]] = field(default_factory=dict)

    def ready(self, name: str, now: float) -> bool:
        return name not in self.due or self.due[name][0] <= now

    def failed(self, name: str, now: float) -> None:
        wait = min(self.longest, self.due[name][1] * 2) if name in self.due else self.first
        self.due[name] = (now + wait, wait)

    def settled(self, name: str) -> None:
        self.due.pop(name, None)


def watch(
    pipeline: Pipeline,
    *,
    interval: float = 2.0,
    workers: int = 4,
    on_outcome: Callable[[Outcome], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> None:
    """Poll and drain until interrupted (or for ``rounds`` polls)."""
    backoff = Backoff()
    done = 0
    while rounds is None or done < rounds:
        now = clock()
        names = [name for name in incoming_names(pipeline) if backoff.ready(name, now)]
        if names:
            report = drain(pipeline, workers=workers, names=names, on_outcome=on_outcome, clock=clock)
            for outcome in report.outcomes:
                name = outcome.blob.split("/", 1)[1]
                if outcome.must_retry:
                    backoff.failed(name, clock())
                else:
                    backoff.settled(name)
        done += 1
        sleep(interval)
