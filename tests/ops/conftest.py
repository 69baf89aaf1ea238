"""The telemetry path of the deployed worker, on this machine: the app's log records go through the
same OpenTelemetry ``LoggingHandler``, Azure Monitor batch processor and ``AzureMonitorLogExporter``
that ``configure_azure_monitor`` installs (azure-monitor-opentelemetry ``_configure._setup_logging``,
called by the Python worker's ``initialize_azure_monitor`` when PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY
is true), to a local ingestion stand-in (tests/ops/ingestion.py) instead of Application Insights.

The worker puts the handler on the root logger (``PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME`` defaults
to ""); the package's records propagate there from the ``thumbnail_drop`` logger.  Here the handler
sits on the ``thumbnail_drop`` logger itself so that other libraries' records in the test process
stay out of the envelopes; the records, the handler and the exporter are the same.

Nothing leaves 127.0.0.1: the exporter's own telemetry about itself (statsbeat, SDK stats) and its
remote configuration (OneSettings) are switched off by their documented environment variables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
from azure.monitor.opentelemetry.exporter.export.logs._processor import _AzureBatchLogRecordProcessor
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource

from shared.delivery.log import LOGGER_NAME
from tests.ops import ingestion

OFFLINE = (
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED",
)


@dataclass
class Telemetry:
    endpoint: ingestion.Ingestion
    handler: logging.Handler
    flush: Callable[[], list[ingestion.Envelope]]


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    for name in OFFLINE:
        monkeypatch.setenv(name, "true")
    monkeypatch.delenv("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", raising=False)
    with ingestion.serving() as endpoint:
        exporter = AzureMonitorLogExporter(connection_string=endpoint.connection_string, disable_offline_storage=True)
        provider = LoggerProvider(resource=Resource.create({"service.name": "thumbnail-drop"}))
        provider.add_log_record_processor(
            _AzureBatchLogRecordProcessor(exporter, {"enable_trace_based_sampling_for_logs": False})
        )
        handler = LoggingHandler(logger_provider=provider)
        logger = logging.getLogger(LOGGER_NAME)
        previous = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)

        def flush() -> list[ingestion.Envelope]:
            assert provider.force_flush(10_000), "the exporter did not finish sending"
            return endpoint.messages()

        try:
            yield Telemetry(endpoint, handler, flush)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous)
            provider.shutdown()
