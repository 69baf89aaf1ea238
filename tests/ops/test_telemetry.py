"""The app's telemetry as Application Insights receives it: the log records of a real pipeline run
(Azurite and the iTwin emulator) through the Azure Monitor exporter the deployed worker uses, into
the local ingestion stand-in (tests/ops/conftest.py, tests/ops/ingestion.py), asserted on the
envelopes as received; and the configuration that puts the deployed worker on that path.

Sources read: Azure/azure-functions-python-worker (``dispatcher.py`` ``on_logging`` forwards only
level, message, category and invocation id; ``worker_init_request`` calls ``initialize_azure_monitor``
when PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY is true); learn.microsoft.com
azure-functions/opentelemetry-howto (host.json ``"telemetryMode": "OpenTelemetry"``, the app setting,
``azure-monitor-opentelemetry`` in requirements.txt); azure-monitor-opentelemetry-exporter
``export/_base.py`` ``_get_authentication_credential`` (APPLICATIONINSIGHTS_AUTHENTICATION_STRING
``Authorization=AAD;ClientId=...`` becomes ``ManagedIdentityCredential(client_id=...)``) and
azure-identity ``_credentials/app_service.py`` (the token request to IDENTITY_ENDPOINT that the
Functions platform serves).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.identity import ManagedIdentityCredential
from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
from azure.monitor.opentelemetry.exporter._constants import _DEFAULT_AAD_SCOPE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.delivery import host
from shared.delivery.log import LOGGER_NAME, blob_context
from tests.conftest import new_imodel, png_bytes
from tests.ops.conftest import OFFLINE
from tests.repo import ROOT

# What every outcome line carries, whatever its status.
OUTCOME_DIMENSIONS = {
    "td_invocation_id",
    "td_blob",
    "td_imodel_id",
    "td_status",
    "td_attempts",
    "td_timings",
}


def test_an_outcome_line_arrives_with_its_td_dimensions(env, containers, emulator, telemetry):
    host.reset()
    host.start(env)
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(320, 200))
    try:
        host.handle_blob(containers.incoming.get_blob_client(name), invocation_id="inv-telemetry")
    finally:
        host.reset()

    received = telemetry.flush()
    (outcome,) = [e for e in received if "td_status" in e["data"]["baseData"]["properties"]]
    print("\nreceived envelope:\n" + json.dumps(outcome, indent=2, sort_keys=True))

    assert outcome["name"] == "Microsoft.ApplicationInsights.Message"
    assert outcome["data"]["baseType"] == "MessageData"
    dims = outcome["data"]["baseData"]["properties"]
    assert set(dims) >= OUTCOME_DIMENSIONS
    assert all(isinstance(value, str) for value in dims.values())  # customDimensions are strings
    assert dims["td_status"] == "uploaded"
    assert dims["td_invocation_id"] == "inv-telemetry"
    assert dims["td_blob"] == f"{containers.incoming.container_name}/{name}"
    # The workbook's stage-times panel reads it with parse_json: it must be JSON, not a Python repr.
    assert set(json.loads(dims["td_timings"])) >= {"read", "image", "upload"}
    assert json.loads(dims["td_output_image"])["format"] == "PNG"
    assert outcome["data"]["baseData"]["severityLevel"] == 1  # Information
    assert telemetry.endpoint.rejected == []


@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=300))
def test_any_blob_name_arrives_unchanged_as_td_blob(telemetry, name):
    """Blob names are the user's: whatever characters they hold, the dimension equals the name (the
    exporter cuts values only past 8192 characters; a blob name is at most 1024)."""
    before = len(telemetry.flush())
    with blob_context(blob=name, invocation_id="inv-name"):
        logging.getLogger(LOGGER_NAME).warning("thumbnail retry %s", name)
    after = telemetry.flush()
    assert len(after) == before + 1
    assert after[-1]["data"]["baseData"]["properties"]["td_blob"] == name


def test_the_ingestion_stand_in_refuses_what_the_service_refuses(telemetry):
    """The stand-in must not accept what Application Insights would not store: an envelope without
    its required fields is reported in ``errors`` (206) and not kept; a body that is not JSON is a 400."""
    url = f"http://127.0.0.1:{telemetry.endpoint.port}/v2.1/track"
    good = {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": "2026-12-04T12:00:00Z",
        "iKey": "k",
        "data": {"baseType": "MessageData", "baseData": {"message": "m", "properties": {}}},
    }
    bad = {"name": "Microsoft.ApplicationInsights.Message", "data": {"baseType": "MessageData"}}

    answer = requests.post(url, json=[good, bad], timeout=10)
    assert answer.status_code == 206
    assert answer.json()["itemsAccepted"] == 1
    assert [error["index"] for error in answer.json()["errors"]] == [1]
    assert telemetry.endpoint.messages() == [good]
    assert requests.post(url, data=b"{not json", timeout=10).status_code == 400


# -- what puts the deployed worker on that path --------------------------------------------------


def app_settings() -> dict[str, str]:
    text = (ROOT / "infra" / "modules" / "function-app.bicep").read_text(encoding="utf-8")
    return dict(re.findall(r"name: '([A-Za-z0-9_]+)'\s*\n\s*value: '([^']*)'", text))


def test_the_worker_is_configured_for_the_opentelemetry_path():
    hostjson = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert hostjson.get("telemetryMode") == "OpenTelemetry"
    assert app_settings().get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY") == "true"
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^azure-monitor-opentelemetry==\S+$", requirements, re.M), "the worker imports the distro"


def test_trace_items_are_not_sampled_by_the_host():
    """Should the host's own Application Insights sampling apply, outcome lines (Trace items) are
    excluded from it; the queries sum itemCount for sampling anywhere else (ingestion sampling)."""
    hostjson = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    sampling = hostjson["logging"]["applicationInsights"]["samplingSettings"]
    assert not sampling["isEnabled"] or "Trace" in sampling["excludedTypes"].split(";")


class IdentityEndpoint:
    """The platform's managed-identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER on App Service and
    Functions), as azure-identity's AppServiceCredential calls it: GET with api-version, resource and
    client_id, the secret in X-IDENTITY-HEADER.  A request without the right header is refused (400),
    as the real one refuses it."""

    SECRET = "identity-header-secret"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


@pytest.fixture
def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityEndpoint]:
    endpoint = IdentityEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
            endpoint.requests.append(query)
            if self.headers.get("X-IDENTITY-HEADER") != IdentityEndpoint.SECRET:
                status, body = 400, {"error": "invalid_request"}
            else:
                expires = int(time.time()) + 3600
                status = 200
                body = {
                    "access_token": "token-for-" + query.get("client_id", "system"),
                    "expires_on": str(expires),
                    "resource": query.get("resource", ""),
                    "token_type": "Bearer",
                    "client_id": query.get("client_id", ""),
                }
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", IdentityEndpoint.SECRET)
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_exporter_authenticates_as_the_user_assigned_identity(monkeypatch, identity_endpoint):
    """Local auth is off on the component (DisableLocalAuth), so ingestion needs an Entra token: the
    authentication string infra sets must make the exporter ask for one as the app's user-assigned
    identity, for Azure Monitor's scope."""
    for name in OFFLINE:
        monkeypatch.setenv(name, "true")
    client_id = "7f0c1a52-3b6e-4c1d-9a57-2a0f4b8e9d11"
    value = app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].replace("${identityClientId}", client_id)
    monkeypatch.setenv("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", value)

    exporter = AzureMonitorLogExporter(
        connection_string="InstrumentationKey=00000000-0000-4000-8000-000000000018;IngestionEndpoint=http://127.0.0.1:9/",
        disable_offline_storage=True,
    )
    credential = exporter._credential
    assert isinstance(credential, ManagedIdentityCredential)
    try:
        token = credential.get_token(_DEFAULT_AAD_SCOPE)
    finally:
        exporter.shutdown()

    assert token.token == f"token-for-{client_id}"
    (request,) = identity_endpoint.requests
    assert request["client_id"] == client_id
    assert request["resource"] == _DEFAULT_AAD_SCOPE.removesuffix("/.default")
