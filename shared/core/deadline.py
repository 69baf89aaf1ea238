"""One deadline per invocation: computed once at the start, handed to everything that may wait.

The Functions host kills an invocation at host.json's ``functionTimeout``; a kill mid-move is safe
but wastes the work.  So the pipeline computes one deadline when a blob arrives (from
``RETRY_BUDGET_SECONDS``, validated to stay under ``functionTimeout`` minus a margin) and every wait
asks it what is left: API retries, lease waits on the delivery record and on the source, and the
decision to start a PUT at all.  When it runs out, the blob stays for the next delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """A point on the injected monotonic ``clock`` after which this invocation starts nothing new."""

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
