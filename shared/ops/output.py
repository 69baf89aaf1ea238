"""How operator commands print: one place, so `drain`, `watch` and the demo agree, and every
``--json`` output is one JSON document on stdout (messages for people go to stderr)."""

from __future__ import annotations

import json
from typing import Any

from shared.core.outcome import Outcome


def print_outcome(outcome: Outcome) -> None:
    """One line per blob, flushed at once: a drain of thousands shows progress as it goes."""
    print(outcome.line(), flush=True)


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """An outcome as the log line's fields (the same names as the ``td_*`` dimensions, unprefixed)."""
    return outcome.log_fields()


def print_json(document: Any) -> None:
    """The whole ``--json`` output: one document, keys in a stable order."""
    print(json.dumps(document, indent=2, default=str), flush=True)
