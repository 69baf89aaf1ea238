"""``python -m devkit.emulator`` as users run it: a real process, stopped by a signal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from devkit.emulator import EmulatorConfig
from devkit.emulator.__main__ import config_from, main, parser
from tests.repo import ROOT

from .conftest import IMODEL, OTHER, PNG


@pytest.fixture
def process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devkit.emulator", "--port", "0", "--forbidden", OTHER, "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        prefix = "iTwin emulator listening on "
        assert line.startswith(prefix), line
        yield proc, line.removeprefix(prefix).strip()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=5)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serves_until_signalled(process: tuple[subprocess.Popen[str], str], stop: signal.Signals) -> None:
    proc, url = process
    assert url.startswith("http://127.0.0.1:")
    with requests.Session() as s:
        form = {
            "grant_type": "client_credentials",
            "client_id": "local-client",
            "client_secret": "local-secret",
            "scope": "itwin-platform",
        }
        token = s.post(f"{url}/connect/token", data=form, timeout=5).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/png"}
        assert s.put(f"{url}/imodels/{IMODEL}/thumbnail", data=PNG, headers=headers, timeout=5).status_code == 201
        assert s.put(f"{url}/imodels/{OTHER}/thumbnail", data=PNG, headers=headers, timeout=5).status_code == 403
        assert s.post(f"{url}/_emulator/fail-next", json={"status": 503}, timeout=5).status_code == 204
        assert s.put(f"{url}/imodels/{IMODEL}/thumbnail", data=PNG, headers=headers, timeout=5).status_code == 503
        summary = s.get(f"{url}/_emulator/state", timeout=5).json()
        assert summary["statuses"] == {"200": 1, "201": 1, "403": 1, "503": 1}
    proc.send_signal(stop)
    assert proc.wait(timeout=5) == 0


def test_flags_map_to_config() -> None:
    args = parser().parse_args(
        [
            "--port", "0", "--client-id", "app", "--client-secret", "s",
            "--forbidden", IMODEL, OTHER, "--unknown", "u1", "--unknown", "u2",
            "--not-initialized", "n1", "--initialize-after-attempts", "2", "--initialize-after-seconds", "9",
            "--rate-limit-per-minute", "500", "--fail-rate-503", "0.1", "--fail-rate-429", "0.2",
            "--seed", "42", "--latency", "0.5", "--token-ttl", "60",
        ]
    )  # fmt: skip
    assert config_from(args) == EmulatorConfig(
        port=0,
        clients={"app": "s"},
        forbidden=frozenset({IMODEL, OTHER}),
        unknown=frozenset({"u1", "u2"}),
        not_initialized=frozenset({"n1"}),
        initialize_after_attempts=2,
        initialize_after_seconds=9,
        rate_limit_per_minute=500,
        fail_rate_503=0.1,
        fail_rate_429=0.2,
        seed=42,
        latency_seconds=0.5,
        token_ttl_seconds=60,
        log_requests=True,
    )
    assert config_from(parser().parse_args([])).port == 8090


def test_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--host", "0.0.0.0"])  # noqa: S104 - the point of the test
    assert exited.value.code == 2
    assert "refusing to listen on non-loopback host '0.0.0.0' without allow_remote" in capsys.readouterr().err
    assert EmulatorConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"  # noqa: S104


def test_reports_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["--port", str(taken.getsockname()[1]), "--quiet"]) == 1
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err
