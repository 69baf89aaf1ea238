"""Fixtures: an emulator on a free loopback port with a hand-driven clock, and a client for it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from devkit.emulator import Emulator, EmulatorConfig

IMODEL = "5e19bee0-3aea-4355-a9f0-c6df9989ee7d"
OTHER = "0b7c4a52-1d2e-4f60-8a91-3c5d7e9f1a2b"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(32)
JPEG = b"\xff\xd8\xff\xe0" + bytes(32)
GIF = b"GIF89a" + bytes(32)
TIMEOUT = 5


class FakeClock:
    """The emulator's clock, moved by hand so expiry and windows need no sleeping."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Client:
    """A thin requests wrapper speaking to one emulator the way the app does."""

    def __init__(self, emu: Emulator, session: requests.Session) -> None:
        self.emu = emu
        self.session = session
        self._token: str | None = None

    def token_response(self, **form: str) -> requests.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": "local-client",
            "client_secret": "local-secret",
            "scope": "itwin-platform",
        }
        data.update(form)
        return self.session.post(self.emu.token_url, data={k: v for k, v in data.items() if v}, timeout=TIMEOUT)

    def token(self, **form: str) -> str:
        response = self.token_response(**form)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def auth(self) -> dict[str, str]:
        if self._token is None:
            self._token = self.token()
        return {"Authorization": f"Bearer {self._token}"}

    def put(
        self,
        imodel_id: str = IMODEL,
        body: Any = PNG,
        content_type: str | None = "image/png",
        headers: Mapping[str, str | None] | None = None,
        auth: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        sent: dict[str, str | None] = {"Accept": "application/vnd.bentley.itwin-platform.v2+json"}
        if content_type is not None:
            sent["Content-Type"] = content_type
        if auth:
            sent.update(self.auth())
        sent.update(headers or {})
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.put(f"{self.emu.url}/imodels/{imodel_id}/thumbnail", data=body, headers=sent, **kwargs)

    def get(self, path: str, auth: bool = True) -> requests.Response:
        headers = self.auth() if auth else {}
        return self.session.get(f"{self.emu.url}{path}", headers=headers, timeout=TIMEOUT)

    def admin(self, knob: str, body: Any = None) -> requests.Response:
        return self.session.post(f"{self.emu.url}/_emulator/{knob}", json=body, timeout=TIMEOUT)


def compact(body: Any) -> bytes:
    """The wire form the emulator (like the real API) sends: compact JSON, keys in contract order."""
    return json.dumps(body, separators=(",", ":")).encode()


def assert_json(response: requests.Response, status: int, body: Any) -> None:
    """Status, exact bytes, JSON content type and a correlation id: everything a client can see."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == compact(body)
    assert_correlation_id(response)


def assert_correlation_id(response: requests.Response) -> None:
    assert uuid.UUID(response.headers["x-correlation-id"]).version == 4


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> EmulatorConfig:
    """Override in a test module (or use ``make_emulator``) for a different start-up config."""
    return EmulatorConfig()


@pytest.fixture
def emu(config: EmulatorConfig, clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(config, clock=clock) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[Client]:
    with requests.Session() as session:
        yield Client(emu, session)
