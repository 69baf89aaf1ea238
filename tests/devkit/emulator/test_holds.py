"""Stall and late apply: the real API's slow failure modes, driven from Python, HTTP and the CLI.

The real iModels API gives no guarantee that a request the client gave up on was not applied
(``upload-imodel-thumbnail`` documents no idempotency key and no precondition), and a gateway can
hold a request far past a client's read timeout.  These tests make a real ``requests`` client time
out against the emulator (urllib3 closes the socket on a read timeout, which is how the emulator
tells that the client has gone) and look at what the emulator did with the request afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.emulator import Emulator, EmulatorConfig
from devkit.emulator.__main__ import config_from, parser
from devkit.emulator.holds import Holds
from tests.devkit.pause import is_stopped, paused
from tests.repo import ROOT

from .conftest import IMODEL, JPEG, PNG, Client

HOLD = 0.3  # long enough for a 0.05 s client timeout to fire first, short enough to keep the suite fast
GAVE_UP = 0.05


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds (the held request finishes on the emulator's own thread)."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.01)


def test_a_stalled_put_is_answered_when_the_client_waits(client: Client) -> None:
    client.auth()
    client.emu.state.stall_next(HOLD)
    assert client.put().status_code == 201
    holds = client.emu.state.holds
    assert (holds["held"], holds["abandoned"], holds["pending_stalls"]) == (1, 0, [])
    assert [u.data for u in client.emu.state.uploads[IMODEL]] == [PNG]


def test_a_stalled_put_whose_client_gave_up_is_never_applied(client: Client) -> None:
    client.auth()
    client.emu.state.stall_next(HOLD)
    with pytest.raises(requests.Timeout):
        client.put(timeout=GAVE_UP)
    wait_until(lambda: client.emu.state.holds["abandoned"] == 1)
    assert client.emu.state.uploads == {}
    assert client.emu.state.put_total == 0  # dropped at the door: never reached the API
    assert client.put(body=JPEG, content_type="image/jpeg").status_code == 201  # the stall is used up


def test_a_late_applied_put_lands_after_a_newer_one(client: Client) -> None:
    """The older PUT times out, the newer lands, then the older is applied over it: the iModel shows the older."""
    client.auth()
    client.emu.state.late_apply_next(HOLD)
    with pytest.raises(requests.Timeout):
        client.put(body=PNG, timeout=GAVE_UP)  # the older drop's send: the client gives up
    with requests.Session() as other:
        newer = Client(client.emu, other)
        newer._token = client._token
        assert newer.put(body=JPEG, content_type="image/jpeg").status_code == 201
    wait_until(lambda: client.emu.state.holds["late_applied"] == 1)
    wait_until(lambda: len(client.emu.state.uploads.get(IMODEL, [])) == 2)
    assert [u.data for u in client.emu.state.uploads[IMODEL]] == [JPEG, PNG]  # the older bytes won
    latest = client.emu.state.latest_upload(IMODEL)
    assert latest is not None
    assert latest.data == PNG  # what GET /thumbnail serves


def test_late_apply_holds_only_thumbnail_puts(client: Client) -> None:
    client.emu.state.late_apply_next(HOLD)
    client.auth()  # a token request: not held
    assert client.get(f"/imodels/{IMODEL}").status_code == 200  # not held either
    assert client.emu.state.holds["held"] == 0
    assert client.put().status_code == 201  # held, applied, answered (the client waited)
    assert client.emu.state.holds["late_applied"] == 1


def test_a_token_stall_leaves_api_requests_alone(client: Client) -> None:
    client.auth()
    client.emu.state.stall_next(HOLD, endpoint="token")
    assert client.put().status_code == 201
    assert client.emu.state.holds["held"] == 0
    with pytest.raises(requests.Timeout):
        client.session.post(client.emu.token_url, data={}, timeout=GAVE_UP)
    wait_until(lambda: client.emu.state.holds["abandoned"] == 1)


def test_closing_the_emulator_cuts_a_hold_short_and_applies_nothing() -> None:
    with Emulator() as emu, requests.Session() as session:
        client = Client(emu, session)
        client.auth()
        emu.state.late_apply_next(60)
        with pytest.raises(requests.Timeout):
            client.put(timeout=GAVE_UP)
    assert emu.state.uploads == {}  # close() returned well before the 60 s hold


def test_holds_over_http(client: Client) -> None:
    for knob, body in (
        ("stall-next", {"seconds": 1, "count": 2, "endpoint": "any"}),
        ("late-apply-next", {"seconds": 0.5}),
    ):
        assert client.admin(knob, body).status_code == 204
    knobs = client.session.get(f"{client.emu.url}/_emulator/state", timeout=5).json()["knobs"]
    assert knobs["pending_stalls"] == [{"seconds": 1.0, "endpoint": "any", "count": 2}]
    assert knobs["pending_late_applies"] == [{"seconds": 0.5, "count": 1}]
    refused = client.admin("stall-next", {"seconds": 1, "endpoint": "everything"})
    assert refused.status_code == 400
    assert "endpoint must be one of ['any', 'api', 'token']" in refused.json()["error"]["message"]
    assert client.admin("late-apply-next", {"seconds": -1}).status_code == 400
    assert client.admin("stall-next", {"count": 1}).status_code == 400  # seconds is required
    client.admin("reset")
    knobs = client.session.get(f"{client.emu.url}/_emulator/state", timeout=5).json()["knobs"]
    assert (knobs["pending_stalls"], knobs["pending_late_applies"]) == ([], [])


def test_configured_holds_come_back_on_reset() -> None:
    config = EmulatorConfig(stall_seconds=2, stall_count=1, late_apply_seconds=3, late_apply_count=2)
    with Emulator(config) as emu:
        emu.state.reset()
        holds = emu.state.holds
    assert holds["pending_stalls"] == [{"seconds": 2, "endpoint": "api", "count": 1}]
    assert holds["pending_late_applies"] == [{"seconds": 3, "count": 2}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stall_seconds": float("inf"), "stall_count": 1}, "stall_seconds"),
        ({"late_apply_seconds": -1}, "late_apply_seconds"),
        ({"stall_count": -1}, "stall_count"),
        ({"stall_endpoint": "imodels"}, "stall_endpoint"),
    ],
)
def test_hold_config_is_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(**kwargs)  # type: ignore[arg-type]


def test_hold_flags_map_to_config() -> None:
    args = parser().parse_args(
        [
            "--stall",
            "29",
            "--stall-count",
            "3",
            "--stall-endpoint",
            "token",
            "--late-apply",
            "5",
            "--late-apply-count",
            "1",
        ]
    )
    config = config_from(args)
    assert (config.stall_seconds, config.stall_count, config.stall_endpoint) == (29, 3, "token")
    assert (config.late_apply_seconds, config.late_apply_count) == (5, 1)


_REQUESTS = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=12)  # (is_token, is_put)
_STALLS = st.lists(st.sampled_from(["any", "api", "token"]), max_size=6)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(stalls=_STALLS, requests_=_REQUESTS)
def test_each_request_takes_the_first_stall_queued_for_its_endpoint(
    stalls: list[str], requests_: list[tuple[bool, bool]]
) -> None:
    holds = Holds()
    for seconds, endpoint in enumerate(stalls):
        holds.stall_next(float(seconds), 1, endpoint)
    pending = list(enumerate(stalls))
    for is_token, is_put in requests_:
        is_put = is_put and not is_token
        hold = holds.take(is_token=is_token, is_put=is_put)
        match = next((i for i, (_, e) in enumerate(pending) if e == "any" or (e == "token") == is_token), None)
        if match is None:
            assert hold is None
        else:
            assert hold is not None
            assert (hold.seconds, hold.apply_if_gone) == (float(pending.pop(match)[0]), False)
    assert [q["endpoint"] for q in holds.summary()["pending_stalls"]] == [e for _, e in pending]


def test_a_sigstopped_emulator_answers_nothing_until_continued() -> None:
    """The ``paused`` helper on a real emulator process: requests time out while it is stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devkit.emulator", "--port", "0", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rpartition(" ")[2]
        with requests.Session() as session:
            with paused(proc.pid):
                assert is_stopped(proc.pid)
                with pytest.raises(requests.Timeout):
                    session.get(f"{url}/_emulator/state", timeout=0.2)
            assert not is_stopped(proc.pid)
            assert session.get(f"{url}/_emulator/state", timeout=5).status_code == 200
    finally:
        proc.kill()
        proc.communicate(timeout=5)
