"""Structured logging: one line per blob outcome, and every record of a blob tagged with its
invocation, with fields Application Insights keeps as custom dimensions.

The fields reach Application Insights on the worker's OpenTelemetry path only: with
``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`` (and host.json ``"telemetryMode":
"OpenTelemetry"``) the Python worker configures the Azure Monitor distro, whose ``LoggingHandler`` on
the root logger turns a record's own attributes (what ``extra`` sets) into log attributes, and
``AzureMonitorLogExporter`` sends them as the envelope's ``properties``, i.e. ``customDimensions``.
The worker's default path (``on_logging`` in the worker's dispatcher) forwards only level, message,
category and invocation id to the host, so without that setting no ``td_*`` dimension arrives.

The exporter writes each attribute as ``str(value)``, and OpenTelemetry copies a dict into a plain
dict and a list into a tuple first, so a nested value would arrive as a Python repr that KQL's
``parse_json`` cannot read: :func:`outcome_dimensions` writes nested values as JSON text instead.

The tagging is a logging context in the style of AWS Lambda Powertools' ``Logger.append_keys``: a
:class:`contextvars.ContextVar` holds the keys of the blob being handled (set by
:func:`blob_context` in :func:`shared.delivery.host.handle_blob`), and :class:`ContextFilter`, on
the package's logger, copies them onto every record logged while that blob is handled, so an
intermediate warning carries ``td_invocation_id``, ``td_blob`` and ``td_imodel_id`` just as the final
outcome line does.  A context variable (not a global) keeps concurrent invocations on the worker's
threads apart.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from shared.core.outcome import Outcome, Status

LOGGER_NAME = "thumbnail_drop"
logger = logging.getLogger(LOGGER_NAME)

PREFIX = "td_"

_LEVEL = {
    Status.UPLOADED: logging.INFO,
    Status.SKIPPED: logging.INFO,
    Status.SUPERSEDED: logging.INFO,
    Status.RETRY: logging.WARNING,
    Status.DEADLETTERED: logging.ERROR,
}

_NO_KEYS: Mapping[str, Any] = MappingProxyType({})
_keys: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("thumbnail_drop_log_keys", default=_NO_KEYS)


def current_keys() -> Mapping[str, Any]:
    """The ``td_*`` keys every record logged now carries (empty outside a blob)."""
    return _keys.get()


def current_invocation_id() -> str | None:
    value = _keys.get().get(f"{PREFIX}invocation_id")
    return value if isinstance(value, str) else None


@contextmanager
def blob_context(**keys: Any) -> Iterator[Mapping[str, Any]]:
    """Tag every record logged inside the block with ``td_<key>`` (None values are left out);
    nested blocks add to the outer keys, and leaving a block restores them."""
    merged = {**_keys.get(), **{f"{PREFIX}{key}": value for key, value in keys.items() if value is not None}}
    token = _keys.set(merged)
    try:
        yield merged
    finally:
        _keys.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current context's keys onto each record; a key the call passed in ``extra`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _keys.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def install(log: logging.Logger = logger) -> None:
    """Put the filter on ``log`` once (a logger's filters see only records logged on it directly,
    and the whole package logs on this one logger)."""
    if not any(isinstance(f, ContextFilter) for f in log.filters):
        log.addFilter(ContextFilter())


install()


def dimension_value(value: Any) -> Any:
    """A scalar as it is (the exporter writes ``str(value)``); a nested value as compact JSON text,
    the form KQL's ``parse_json`` reads back."""
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def outcome_dimensions(outcome: Outcome) -> dict[str, Any]:
    """Flat, prefixed names: ``extra`` keys must not collide with LogRecord's own attributes."""
    return {f"{PREFIX}{key}": dimension_value(value) for key, value in outcome.log_fields().items()}


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
