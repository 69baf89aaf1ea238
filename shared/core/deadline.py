"""One deadline per invocation: computed once at the start, handed to everything that may wait.

The Functions host kills an invocation at host.json's ``functionTimeout``; a kill mid-move is safe
but wastes the work.  So the pipeline computes one deadline when a blob arrives (from
``RETRY_BUDGET_SECONDS``, validated to stay under ``functionTimeout`` minus a margin) and every wait
*ends* by it, not merely starts before it: API attempts (the first one too), the token fetch and the
401 retry, each storage request (its connect and read timeouts are cut to what is left, the SDK's
retry backoff too), lease waits, and the image stage's waits for a worker and for memory.  A wait
that cannot fit raises ``DeadlineReached`` (transient): the blob stays for the next delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.core.errors import ErrorCode, Stage, ThumbnailError

#: Less than this left, and a request is not started: it could not get an answer in time anyway.
SHORTEST_WAIT_SECONDS = 0.25


@dataclass(frozen=True)
class Deadline:
    """A point on the injected monotonic ``clock`` by which this invocation's every wait has ended."""

    at: float
    clock: Callable[[], float]

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float]) -> Deadline:
        return cls(at=clock() + seconds, clock=clock)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    @property
    def expired(self) -> bool:
        return self.clock() >= self.at

    def allows(self, seconds: float) -> bool:
        """True when waiting ``seconds`` more still ends before the deadline."""
        return self.clock() + seconds < self.at

    def left_for(self, what: str, *, stage: Stage = Stage.STORAGE, at_least: float = SHORTEST_WAIT_SECONDS) -> float:
        """The seconds ``what`` may take; ``DeadlineReached`` when fewer than ``at_least`` are left."""
        left = self.remaining()
        if left < at_least:
            raise self.reached(what, stage=stage, needed=at_least)
        return left

    def timeouts(self, connect: float, read: float, what: str, *, stage: Stage = Stage.STORAGE) -> tuple[float, float]:
        """``(connect, read)`` for one request, cut so that both together end by the deadline:
        connecting gets a quarter of what is left at most, reading the rest; ``DeadlineReached``
        when too little is left to start it."""
        left = self.left_for(what, stage=stage)
        cut_connect = min(connect, left / 4)
        return cut_connect, min(read, left - cut_connect)

    def reached(self, what: str, *, stage: Stage = Stage.STORAGE, needed: float | None = None) -> ThumbnailError:
        """The error for a wait that did not end (or could not start) before the deadline."""
        left = self.remaining()
        details: dict[str, float] = {"remaining_seconds": round(left, 3)}
        if needed is not None:
            details["needed_seconds"] = needed
        return ThumbnailError(
            ErrorCode.DEADLINE_REACHED,
            f"This invocation's deadline (RETRY_BUDGET_SECONDS) came before it could {what} "
            f"({left:.1f} s left); the blob stays for the next delivery.",
            stage=stage,
            details=details,
        )
