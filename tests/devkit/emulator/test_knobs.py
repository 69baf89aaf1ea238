"""Every fault knob, driven from Python, observed over HTTP."""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable

import pytest
import requests

from devkit.emulator import Emulator, EmulatorConfig

from .conftest import IMODEL, OTHER, PNG, Client, FakeClock, assert_json

TOO_MANY = {
    "error": {
        "code": "TooManyRequests",
        "message": "More requests were received than the subscription rate-limit allows.",
    }
}
UNAVAILABLE = {
    "error": {
        "code": "ServiceUnavailable",
        "message": "The service is temporarily unavailable. Please retry the request.",
    }
}
NOT_INITIALIZED = {"error": {"code": "iModelNotInitialized", "message": "iModel is not initialized."}}


def statuses(client: Client, n: int, imodel_id: str = IMODEL) -> list[int]:
    return [client.put(imodel_id).status_code for _ in range(n)]


# --- not initialized -------------------------------------------------------------------------------------


def test_initialized_after_n_attempts(client: Client) -> None:
    client.emu.state.not_initialized(IMODEL, attempts=2)
    assert statuses(client, 4) == [409, 409, 201, 201]
    assert statuses(client, 1, OTHER) == [201]


def test_initialized_after_t_seconds(client: Client, clock: FakeClock) -> None:
    client.emu.state.not_initialized(IMODEL, seconds=30)
    assert_json(client.put(), 409, NOT_INITIALIZED)
    clock.advance(29.9)
    assert client.put().status_code == 409
    clock.advance(0.1)
    assert client.put().status_code == 201


@pytest.mark.parametrize(
    "config",
    [EmulatorConfig(not_initialized=frozenset({IMODEL, OTHER}), initialize_after_attempts=1)],
)
def test_configured_not_initialized_ids(client: Client) -> None:
    assert statuses(client, 2) == [409, 201]
    assert statuses(client, 2, OTHER) == [409, 201]


@pytest.mark.parametrize("config", [EmulatorConfig(not_initialized=frozenset({IMODEL}), initialize_after_seconds=10)])
def test_configured_not_initialized_timer(client: Client, clock: FakeClock) -> None:
    assert client.put().status_code == 409
    clock.advance(10)
    assert client.put().status_code == 201


# --- injected server faults ------------------------------------------------------------------------------


def test_fail_next_answers_k_requests_then_recovers(client: Client) -> None:
    client.emu.state.fail_next(503, count=2)
    for _ in range(2):
        response = client.put()
        assert_json(response, 503, UNAVAILABLE)
        assert "retry-after" not in response.headers
    assert client.put().status_code == 201


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalServerError"), (502, "BadGateway"), (503, "ServiceUnavailable")]
)
def test_fail_next_statuses_and_retry_after(client: Client, status: int, code: str) -> None:
    client.emu.state.fail_next(status, retry_after=7)
    response = client.put(auth=False)  # a server fault comes before authentication
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.headers["retry-after"] == "7"


def test_fail_next_queues_in_order_and_hits_reads_too(client: Client) -> None:
    client.emu.state.fail_next(500)
    client.emu.state.fail_next(502)
    assert client.get(f"/imodels/{IMODEL}").status_code == 500
    assert client.put().status_code == 502
    assert client.put().status_code == 201


def test_fail_next_rejects_bad_arguments(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="status"):
        emu.state.fail_next(404)
    with pytest.raises(ValueError, match="count"):
        emu.state.fail_next(503, count=0)
    with pytest.raises(ValueError, match="retry_after must not be negative"):
        emu.state.fail_next(503, retry_after=-1)
    assert emu.state.summary()["knobs"]["pending_faults"] == []


_KNOBS_WITH_COUNT: dict[str, Callable[[Emulator, int], None]] = {
    "fail_next": lambda emu, count: emu.state.fail_next(503, count=count),
    "drop_next": lambda emu, count: emu.state.drop_next(count),
    "rate_limit_next": lambda emu, count: emu.state.rate_limit_next(count=count),
    "fail_next_token": lambda emu, count: emu.state.fail_next_token(count=count),
}


@pytest.mark.parametrize("knob", sorted(_KNOBS_WITH_COUNT))
def test_a_huge_count_costs_one_entry(emu: Emulator, knob: str) -> None:
    # Queued as (fault, remaining): a million repeats must not build a million-item list under the lock.
    tracemalloc.start()
    try:
        _KNOBS_WITH_COUNT[knob](emu, 1_000_000)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000


def test_repeated_faults_are_served_in_order_and_summarised_as_runs(client: Client) -> None:
    state = client.emu.state
    state.fail_next(503, count=10**9)
    state.fail_next_token(count=2, status=502)
    knobs = state.summary()["knobs"]
    assert knobs["pending_faults"] == [{"fault": 503, "count": 10**9}]
    assert knobs["pending_token_faults"] == [{"status": 502, "count": 2}]
    state.reset()
    state.fail_next(502, count=2)
    state.drop_next()
    state.fail_next(502)
    assert state.summary()["knobs"]["pending_faults"] == [
        {"fault": 502, "count": 2},
        {"fault": "drop", "count": 1},
        {"fault": 502, "count": 1},
    ]
    seen = []
    for _ in range(5):
        try:
            seen.append(client.put().status_code)
        except requests.ConnectionError:
            seen.append(0)
    assert seen == [502, 502, 0, 502, 201]


@pytest.mark.parametrize("seconds", [math.inf, -math.inf, math.nan])
def test_non_finite_durations_are_refused(emu: Emulator, seconds: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        emu.state.set_latency(seconds)
    with pytest.raises(ValueError, match="finite"):
        emu.state.not_initialized(IMODEL, seconds=seconds)
    with pytest.raises(ValueError, match="finite"):
        EmulatorConfig(latency_seconds=seconds)
    with pytest.raises(ValueError, match="finite"):
        EmulatorConfig(initialize_after_seconds=seconds)
    with pytest.raises(ValueError, match="between 0 and 1"):
        emu.state.set_fail_rates(p503=seconds)
    assert emu.state.latency == 0


def test_drop_next_closes_the_connection_without_answering(client: Client) -> None:
    client.emu.state.drop_next(1)
    with pytest.raises(requests.ConnectionError):
        client.put()
    assert client.put().status_code == 201
    state = client.emu.state
    assert (state.dropped, state.put_total) == (1, 2)
    assert state.statuses == {200: 1, 201: 1}  # the token and the second PUT; the drop has no status


def test_latency_makes_clients_time_out(client: Client) -> None:
    client.auth()  # fetch the token before the latency starts
    client.emu.state.set_latency(0.3)
    with pytest.raises(requests.Timeout):
        client.put(timeout=0.05)
    client.emu.state.set_latency(0)
    assert client.put().status_code == 201


@pytest.mark.parametrize("config", [EmulatorConfig(latency_seconds=0.2)])
def test_configured_latency_applies_to_token_requests(client: Client) -> None:
    with pytest.raises(requests.Timeout):
        client.session.post(client.emu.token_url, data={}, timeout=0.05)


# --- rate limiting ---------------------------------------------------------------------------------------


def test_rate_limit_next(client: Client) -> None:
    client.emu.state.rate_limit_next(count=3, retry_after=2)
    assert client.put(auth=False).status_code == 401  # authentication comes first and uses nothing up
    for _ in range(3):
        response = client.put()
        assert_json(response, 429, TOO_MANY)
        assert response.headers["retry-after"] == "2"
    assert client.put().status_code == 201


@pytest.mark.parametrize("config", [EmulatorConfig(rate_limit_per_minute=3)])
def test_sliding_window_per_client(client: Client, clock: FakeClock) -> None:
    for _ in range(3):
        assert client.put().status_code == 201
        clock.advance(10)  # calls at t = 0, 10, 20
    clock.advance(0.5)  # t = 30.5: the first call leaves the window at t = 60
    response = client.put()
    assert_json(response, 429, TOO_MANY)
    assert response.headers["retry-after"] == "30"  # ceil(29.5)
    assert client.get(f"/imodels/{IMODEL}").status_code == 429  # every API call counts, not only PUTs
    clock.advance(29.5)  # t = 60
    assert client.put().status_code == 201
    assert client.put().status_code == 429


@pytest.mark.parametrize("config", [EmulatorConfig(rate_limit_per_minute=1, clients={"a": "1", "b": "2"})])
def test_sliding_window_is_per_client(client: Client) -> None:
    a = {"Authorization": "Bearer " + client.token(client_id="a", client_secret="1")}
    b = {"Authorization": "Bearer " + client.token(client_id="b", client_secret="2")}
    assert client.put(auth=False, headers=a).status_code == 201
    assert client.put(auth=False, headers=a).status_code == 429
    assert client.put(auth=False, headers=b).status_code == 201


def test_set_rate_limit_turns_it_on_and_off(client: Client) -> None:
    client.emu.state.set_rate_limit(1)
    assert statuses(client, 2) == [201, 429]
    client.emu.state.set_rate_limit(None)
    assert statuses(client, 2) == [201, 201]


# --- random faults ---------------------------------------------------------------------------------------


def random_run(seed: int, n: int = 30) -> list[int]:
    with Emulator(EmulatorConfig(fail_rate_503=0.3, fail_rate_429=0.3, seed=seed)) as emu, requests.Session() as s:
        return statuses(Client(emu, s), n)


def test_random_faults_are_reproducible_with_a_seed() -> None:
    first = random_run(seed=7)
    assert first == random_run(seed=7)
    assert {201, 429, 503} <= set(first)
    assert first != random_run(seed=8)


def test_random_faults_only_hit_puts(client: Client) -> None:
    client.emu.state.set_fail_rates(p503=1.0)
    assert client.get(f"/imodels/{IMODEL}").status_code == 200
    assert_json(client.put(), 503, UNAVAILABLE)


@pytest.mark.parametrize("config", [EmulatorConfig(random_retry_after=4)])
def test_random_429_carries_retry_after(client: Client) -> None:
    client.emu.state.set_fail_rates(p429=1.0)
    response = client.put()
    assert_json(response, 429, TOO_MANY)
    assert response.headers["retry-after"] == "4"
    client.emu.state.set_fail_rates()
    assert client.put().status_code == 201


def test_set_fail_rates_reseeds(client: Client) -> None:
    client.emu.state.set_fail_rates(p503=0.5, seed=1)
    first = statuses(client, 20)
    client.emu.state.set_fail_rates(p503=0.5, seed=1)
    assert statuses(client, 20) == first
    with pytest.raises(ValueError, match="p503"):
        client.emu.state.set_fail_rates(p503=1.5)


# --- tokens ----------------------------------------------------------------------------------------------


def test_fail_next_token(client: Client) -> None:
    client.emu.state.fail_next_token(count=2)
    for _ in range(2):
        response = client.token_response()
        assert_json(response, 503, {"error": "temporarily_unavailable"})
    assert client.token_response().status_code == 200
    client.emu.state.fail_next_token(status=500)
    assert_json(client.token_response(), 500, {"error": "server_error"})


def test_revoke_tokens(client: Client) -> None:
    assert client.put().status_code == 201
    assert client.emu.state.revoke_tokens() == 1
    assert client.put().json()["error"]["code"] == "InvalidToken"
    fresh = {"Authorization": "Bearer " + client.token()}
    assert client.put(auth=False, headers=fresh).status_code == 201


# --- counters and reset ----------------------------------------------------------------------------------


def test_counters(client: Client, clock: FakeClock) -> None:
    client.put()
    client.put(OTHER)
    clock.advance(5)
    client.put(OTHER, body=PNG + b"2")
    client.put(auth=False)
    state = client.emu.state
    assert state.token_requests == 1
    assert state.put_requests == {IMODEL: 2, OTHER: 2}
    assert state.put_total == 4
    assert state.statuses == {200: 1, 201: 3, 401: 1}
    assert [u.data for u in state.uploads[OTHER]] == [PNG, PNG + b"2"]
    assert [u.at for u in state.uploads[OTHER]] == [1000.0, 1005.0]
    assert len({u.correlation_id for u in state.uploads[OTHER]}) == 2


def test_reset_clears_everything_but_tokens(client: Client) -> None:
    state = client.emu.state
    client.put()
    state.forbid(OTHER)
    state.fail_next(503)
    state.set_latency(5)
    state.reset()
    assert (state.put_total, state.token_requests, state.uploads, state.statuses) == (0, 0, {}, {})
    assert state.latency == 0
    assert statuses(client, 1, OTHER) == [201]  # no 503 queued, no longer forbidden, old token still valid
    assert state.token_requests == 0
