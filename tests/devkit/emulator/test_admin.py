"""The /_emulator/... endpoints drive the same knobs over HTTP (for tests and CLIs in other processes)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .conftest import IMODEL, OTHER, PNG, Client, FakeClock, assert_correlation_id, assert_json


def admin_ok(client: Client, knob: str, body: Any = None) -> None:
    response = client.admin(knob, body)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_correlation_id(response)


def test_state_summary(client: Client, clock: FakeClock) -> None:
    client.put()
    client.put(auth=False)
    client.emu.state.forbid(OTHER)
    client.emu.state.not_initialized(OTHER.replace("0", "1"), attempts=2)
    response = client.session.get(f"{client.emu.url}/_emulator/state", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    summary = response.json()
    assert summary["token_requests"] == 1
    assert summary["tokens_issued"] == summary["tokens_valid"] == 1
    assert summary["put_requests"] == {"total": 2, "by_imodel": {IMODEL: 2}}
    assert summary["statuses"] == {"200": 1, "201": 1, "401": 1}
    [upload] = summary["uploads"][IMODEL]
    assert upload["size"] == len(PNG)
    assert upload["content_type"] == "image/png"
    assert upload["at"] == clock.now
    assert upload["correlation_id"] == client.emu.state.uploads[IMODEL][0].correlation_id
    assert len(upload["sha256"]) == 64
    assert summary["imodels"]["forbidden"] == [OTHER]
    assert summary["imodels"]["not_initialized"] == {OTHER.replace("0", "1"): {"attempts_left": 2, "ready_at": None}}
    assert summary["knobs"]["rate_limit_per_minute"] is None


def test_admin_requests_are_not_counted(client: Client) -> None:
    client.admin("reset")
    client.session.get(f"{client.emu.url}/_emulator/state", timeout=5)
    assert client.emu.state.statuses == {}


@pytest.mark.parametrize(
    ("knob", "body", "expected"),
    [
        ("forbid", {"id": IMODEL}, [403]),
        ("forget", {"id": IMODEL}, [404]),
        ("not-initialized", {"id": IMODEL, "attempts": 1}, [409, 201]),
        ("fail-next", {"status": 502, "count": 2}, [502, 502, 201]),
        ("drop-next", {}, [0, 201]),
        ("rate-limit-next", {"count": 1, "retry_after": 3}, [429, 201]),
        ("rate-limit", {"per_minute": 1}, [201, 429]),
        ("fail-rates", {"p503": 1, "seed": 3}, [503, 503]),
        ("fail-rates", {"p429": 1.0}, [429]),
        ("revoke-tokens", None, [401]),
    ],
)
def test_knob_over_http(client: Client, knob: str, body: Any, expected: list[int]) -> None:
    client.auth()
    admin_ok(client, knob, body)
    seen = []
    for _ in expected:
        try:
            seen.append(client.put().status_code)
        except requests.ConnectionError:
            seen.append(0)
    assert seen == expected


def test_not_initialized_seconds_over_http(client: Client, clock: FakeClock) -> None:
    admin_ok(client, "not-initialized", {"id": IMODEL, "seconds": 5})
    assert client.put().status_code == 409
    clock.advance(5)
    assert client.put().status_code == 201


def test_allow_over_http(client: Client) -> None:
    client.emu.state.forbid(IMODEL)
    admin_ok(client, "allow", {"id": IMODEL})
    assert client.put().status_code == 201


def test_latency_over_http(client: Client) -> None:
    admin_ok(client, "latency", {"seconds": 0.25})
    assert client.emu.state.latency == 0.25


def test_fail_next_token_over_http(client: Client) -> None:
    admin_ok(client, "fail-next-token", {"count": 1})
    assert client.token_response().status_code == 503
    assert client.token_response().status_code == 200


def test_reset_over_http(client: Client) -> None:
    client.put()
    client.emu.state.fail_next(503)
    admin_ok(client, "reset")
    assert client.emu.state.put_total == 0
    assert client.put().status_code == 201


def invalid(message: str) -> dict[str, Any]:
    return {"error": {"code": "InvalidEmulatorRequest", "message": message}}


@pytest.mark.parametrize(
    ("knob", "raw", "message"),
    [
        ("forbid", b"{}", "'id' is required"),
        ("fail-next", b'{"status": 404}', "status must be one of [500, 502, 503, 504], got 404"),
        ("fail-next", b'{"status": "503"}', "'status' must be int, got '503'"),
        ("drop-next", b'{"count": true}', "'count' must be int, got True"),
        (
            "rate-limit-next",
            b'{"retry-after": 2}',
            "unexpected keys ['retry-after']; rate-limit-next takes ['count', 'retry_after']",
        ),
        ("latency", b"[1]", "body must be a JSON object"),
        ("fail-rates", b'{"p503": 2}', "p503 must be between 0 and 1, got 2.0"),
        ("fail-rates", b'{"p429": NaN}', "NaN is not a number the emulator accepts: use a finite value"),
        ("latency", b'{"seconds": Infinity}', "Infinity is not a number the emulator accepts: use a finite value"),
        ("latency", b'{"seconds": 1e400}', "seconds must be a finite number of seconds, at least 0, got inf"),
        (
            "not-initialized",
            b'{"id": "' + IMODEL.encode() + b'", "seconds": -Infinity}',
            "-Infinity is not a number the emulator accepts: use a finite value",
        ),
        ("fail-next", b'{"status": 503, "retry_after": -1}', "retry_after must not be negative, got -1"),
    ],
)
def test_bad_admin_requests(client: Client, knob: str, raw: bytes, message: str) -> None:
    response = client.session.post(f"{client.emu.url}/_emulator/{knob}", data=raw, timeout=5)
    assert_json(response, 400, invalid(message))


def test_refused_infinite_latency_leaves_the_emulator_working(client: Client) -> None:
    response = client.session.post(f"{client.emu.url}/_emulator/latency", data=b'{"seconds": Infinity}', timeout=5)
    assert response.status_code == 400
    assert client.emu.state.latency == 0
    assert client.put().status_code == 201


def test_unparsable_admin_body(client: Client) -> None:
    response = client.session.post(f"{client.emu.url}/_emulator/latency", data=b"{nope", timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("body is not JSON")


def test_unknown_admin_endpoint_and_wrong_methods(client: Client) -> None:
    response = client.admin("explode")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "UnknownEmulatorEndpoint"
    assert client.session.get(f"{client.emu.url}/_emulator/reset", timeout=5).status_code == 405
    assert client.admin("state").status_code == 405
