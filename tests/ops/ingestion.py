"""A local stand-in for the Application Insights ingestion endpoint, and the rows a received envelope
becomes in the tables the alert rules and the workbook query.

The deployed Python worker (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true) calls
``configure_azure_monitor`` (Azure/azure-functions-python-worker, ``otel.initialize_azure_monitor``,
called from ``dispatcher.worker_init_request``), which puts an OpenTelemetry ``LoggingHandler`` on
the root logger, feeding an ``AzureMonitorLogExporter`` (azure-monitor-opentelemetry
``_configure._setup_logging``).  That exporter POSTs a JSON array of envelopes to
``<IngestionEndpoint>/v2.1/track`` (azure-monitor-opentelemetry-exporter: ``_generated`` client,
``_url = "/track"`` under the ``v2.1`` host path; ``export/_base.py`` ``_transmit``) and reads back
``{"itemsReceived", "itemsAccepted", "errors": [{"index", "statusCode", "message"}]}``: 200 with no
errors is success, 206 lists the items that failed (retryable codes are retried, others dropped).
The exporter here sends plain JSON; the stand-in also takes ``Content-Encoding: gzip``, which the
ingestion service accepts from other SDKs.

Like the real endpoint, the stand-in refuses what it cannot ingest: a body that is not JSON is a 400,
and an envelope without ``name``, ``time``, ``iKey`` or ``data.baseType`` is reported in ``errors``
(206) and not stored, so a malformed envelope cannot pass as received.

Rows: Application Insights keeps a ``MessageData`` envelope as a ``traces`` row (component scope:
``timestamp``, ``message``, ``severityLevel``, ``customDimensions`` = ``baseData.properties``,
``itemCount``); the rules and the workbook are scoped to the component, so they read ``traces``
(the workspace keeps the same item in ``AppTraces``: ``TimeGenerated``, ``Message``, ``Properties``,
``ItemCount``).  ``itemCount`` is how many items one
stored row stands for: ``100 / sampleRate`` of the envelope (1 when it carries none), which is why
the Application Insights sampling docs (learn.microsoft.com azure-monitor/app/sampling-classic-api)
tell queries to ``summarize sum(itemCount)`` instead of counting rows.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRACK_PATH = "/v2.1/track"
INSTRUMENTATION_KEY = "00000000-0000-4000-8000-000000000018"

Envelope = dict[str, Any]
Row = dict[str, Any]


class Ingestion:
    """Envelopes received on ``TRACK_PATH``, and the headers of each request."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.requests: list[dict[str, str]] = []
        self.rejected: list[tuple[Envelope, str]] = []
        self._lock = threading.Lock()
        self.port = 0

    @property
    def connection_string(self) -> str:
        return f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=http://127.0.0.1:{self.port}/"

    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        try:
            parsed = json.loads(body)
        except ValueError:
            # Newline-delimited JSON is the other form the service takes.
            try:
                parsed = [json.loads(line) for line in body.splitlines() if line.strip()]
            except ValueError:
                return 400, {"itemsReceived": 0, "itemsAccepted": 0, "errors": []}
        items = parsed if isinstance(parsed, list) else [parsed]
        errors = []
        with self._lock:
            self.requests.append(headers)
            for index, item in enumerate(items):
                problem = _invalid(item)
                if problem:
                    errors.append({"index": index, "statusCode": 400, "message": problem})
                    self.rejected.append((item, problem))
                else:
                    self.envelopes.append(item)
        answer = {"itemsReceived": len(items), "itemsAccepted": len(items) - len(errors), "errors": errors}
        return (206 if errors else 200), answer

    def messages(self) -> list[Envelope]:
        with self._lock:
            return [e for e in self.envelopes if e["data"]["baseType"] == "MessageData"]


def _invalid(item: Any) -> str:
    if not isinstance(item, dict):
        return "Telemetry item is not an object"
    for field in ("name", "time", "iKey"):
        if not item.get(field):
            return f"Field '{field}' on type 'Envelope' is required but missing or empty."
    data = item.get("data")
    if not isinstance(data, dict) or not data.get("baseType") or not isinstance(data.get("baseData"), dict):
        return "Field 'data' on type 'Envelope' is required but missing or empty."
    return ""


@contextmanager
def serving() -> Iterator[Ingestion]:
    ingestion = Ingestion()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != TRACK_PATH:
                self._answer(404, {"error": f"no route {self.path}"})
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, answer = ingestion.receive(headers, body)
            self._answer(status, answer)

        def _answer(self, status: int, answer: dict[str, Any]) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ingestion.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ingestion
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def item_count(envelope: Envelope) -> int:
    rate = envelope.get("sampleRate")
    return 1 if not rate else round(100.0 / float(rate))


def _time(envelope: Envelope) -> datetime:
    return datetime.fromisoformat(str(envelope["time"]).replace("Z", "+00:00"))


def traces_row(envelope: Envelope) -> Row:
    """A ``traces`` row (Application Insights component scope: what the alert rules query)."""
    base = envelope["data"]["baseData"]
    return {
        "timestamp": _time(envelope),
        "message": base.get("message", ""),
        "severityLevel": base.get("severityLevel"),
        "customDimensions": dict(base.get("properties") or {}),
        "itemCount": item_count(envelope),
        "operation_Id": (envelope.get("tags") or {}).get("ai.operation.id", ""),
    }
