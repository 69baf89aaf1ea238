"""The Python surface: starting, stopping, URLs, config validation."""

from __future__ import annotations

import pytest
import requests

from devkit.emulator import Emulator, EmulatorConfig

from .conftest import IMODEL, Client


def test_urls_and_port() -> None:
    with Emulator() as emu:
        assert emu.url == f"http://127.0.0.1:{emu.port}"
        assert emu.token_url == f"{emu.url}/connect/token"
        assert emu.port > 0


def test_url_before_start_is_an_error() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.url
    emu.close()  # closing an emulator that never started is harmless


def test_close_cuts_kept_alive_connections() -> None:
    emu = Emulator().start()
    with requests.Session() as session:
        client = Client(emu, session)
        headers = client.auth()
        url = f"{emu.url}/imodels/{IMODEL}"
        assert session.get(url, headers=headers, timeout=5).status_code == 200  # now a kept-alive connection
        emu.close()
        emu.close()
        with pytest.raises(requests.ConnectionError):
            session.get(url, headers=headers, timeout=5)


def test_restart_after_close() -> None:
    emu = Emulator()
    with emu:
        first = emu.port
    with emu, requests.Session() as session:
        assert Client(emu, session).put().status_code == 201
        assert emu.port > 0
    assert first > 0


def test_starting_twice_is_an_error() -> None:
    with Emulator() as emu, pytest.raises(RuntimeError, match="already started"):
        emu.start()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "192.0.2.1"}, "non-loopback"),
        ({"host": "::1"}, "IPv4"),
        ({"port": 70000}, "port"),
        ({"clients": {}}, "client"),
        ({"token_ttl_seconds": 0}, "token_ttl_seconds"),
        ({"fail_rate_503": 1.5}, "fail_rate_503"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"initialize_after_attempts": -1}, "initialize_after_attempts"),
        ({"latency_seconds": -1}, "latency_seconds"),
    ],
)
def test_config_is_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(**kwargs)  # type: ignore[arg-type]
