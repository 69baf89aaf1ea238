"""How operator commands print what happened to a blob: one place, so `drain`, `watch` and the demo agree."""

from __future__ import annotations

from shared.core.outcome import Outcome


def print_outcome(outcome: Outcome) -> None:
    """One line per blob, flushed at once: a drain of thousands shows progress as it goes."""
    print(outcome.line(), flush=True)
