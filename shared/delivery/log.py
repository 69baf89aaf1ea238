"""Structured logging: one line per blob outcome, with fields Application Insights keeps as
custom dimensions (the Functions Python worker forwards ``extra`` to the host)."""

from __future__ import annotations

import logging
from typing import Any

from shared.core.outcome import Outcome, Status

LOGGER_NAME = "thumbnail_drop"
logger = logging.getLogger(LOGGER_NAME)

_LEVEL = {
    Status.UPLOADED: logging.INFO,
    Status.SKIPPED: logging.INFO,
    Status.SUPERSEDED: logging.INFO,
    Status.RETRY: logging.WARNING,
    Status.DEADLETTERED: logging.ERROR,
}


def outcome_dimensions(outcome: Outcome) -> dict[str, Any]:
    """Flat, prefixed names: ``extra`` keys must not collide with LogRecord's own attributes."""
    return {f"td_{key}": value for key, value in outcome.log_fields().items()}


def log_outcome(outcome: Outcome, log: logging.Logger = logger) -> None:
    summary = " ".join(
        part
        for part in (
            f"{outcome.status.value}",
            outcome.blob,
            f"code={outcome.code}" if outcome.code else "",
            f"api={outcome.api_status}" if outcome.api_status else "",
            f"correlation={outcome.correlation_id}" if outcome.correlation_id else "",
            f"attempt={outcome.attempts}" if outcome.attempts else "",
            f"-> {outcome.destination}" if outcome.destination else "",
        )
        if part
    )
    log.log(_LEVEL[outcome.status], "thumbnail %s", summary, extra=outcome_dimensions(outcome))
