"""Real parts for every test: one Azurite per session over HTTP, a fresh iTwin emulator per test on
127.0.0.1, a fresh set of containers per test, and a fake clock so nothing really waits."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from PIL import Image

from devkit.azurite import Azurite
from devkit.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, EmulatorConfig
from shared.edges.attempts import PREFIX as MARKS


@dataclass
class FakeClock:
    """Monotonic and wall time that move only when the code under test sleeps (or a test says so)."""

    monotonic: float = 1000.0
    wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.monotonic

    def now(self) -> datetime:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)


def start_azurite(location: Path, attempts: int = 3) -> Azurite:
    """A fresh Azurite on free ports, in ``location``.

    Under pytest-xdist each worker process runs this session fixture, so two Azurites start at
    once: ``free_port`` releases the port it found before Azurite binds it, and the other worker's
    Azurite (or any client socket) may take it in between.  Azurite then exits with EADDRINUSE
    (it fails on bind, as Node's ``listen`` does), possibly after the readiness probe reached the
    *other* process on that port; so the process must still be alive a moment after it listened,
    and a lost race is retried on new ports.
    """
    for attempt in range(1, attempts + 1):
        server = Azurite(location=location)
        try:
            server.start()
            time.sleep(0.3)
            if server.process is not None and server.process.poll() is None:
                return server
            server.stop()
        except RuntimeError:
            server.stop()
            if attempt == attempts:
                raise
    raise RuntimeError(f"Azurite did not stay up on free ports after {attempts} attempts; see {location}/azurite.log")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite per test process (each xdist worker has its own, and its own basetemp)."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(), clock=clock) as server:
        yield server


def settings_for(connection_string: str, emulator: Emulator) -> dict[str, str]:
    """Settings with four containers and a queue of their own, so tests never see each other's blobs."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "THUMBNAILS_STORAGE": connection_string,
        "THUMBNAILS_CONTAINER": f"in-{suffix}",
        "PROCESSED_CONTAINER": f"done-{suffix}",
        "DEADLETTER_CONTAINER": f"dead-{suffix}",
        "STATE_CONTAINER": f"state-{suffix}",
        "REASSERT_QUEUE": f"reassert-{suffix}",
        "PACE_CONTAINER": f"pace-{suffix}",
        # Tests inject single 429s (rate_limit_next) and expect only that blob to be held back; the shared
        # pace rightly holds every later blob until its Retry-After.  tests/edges/test_pace.py turns it on.
        "ITWIN_SHARED_PACE": "false",
        "ITWIN_API_URL": emulator.url,
        "ITWIN_TOKEN_URL": emulator.token_url,
        "ITWIN_CLIENT_ID": DEFAULT_CLIENT_ID,
        "ITWIN_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    }


@pytest.fixture
def env(azurite: Azurite, emulator: Emulator) -> dict[str, str]:
    return settings_for(azurite.connection_string, emulator)


@dataclass
class Containers:
    incoming: ContainerClient
    processed: ContainerClient
    deadletter: ContainerClient
    state: ContainerClient

    def names(self, container: ContainerClient) -> list[str]:
        """The blobs of the flow, without the failure marks kept beside the archive
        (``shared.edges.attempts``: bookkeeping, tested on their own)."""
        return sorted(blob.name for blob in container.list_blobs() if not blob.name.startswith(MARKS))

    def originals(self, container: ContainerClient) -> list[str]:
        """Blob names without the dead-letter container's audit trail of redrives."""
        return [name for name in self.names(container) if not name.startswith("_redriven/")]

    def read(self, container: ContainerClient, name: str) -> bytes:
        return container.get_blob_client(name).download_blob().readall()


@pytest.fixture
def containers(env: dict[str, str]) -> Containers:
    service = BlobServiceClient.from_connection_string(env["THUMBNAILS_STORAGE"])
    made = [
        service.create_container(env[name])
        for name in ("THUMBNAILS_CONTAINER", "PROCESSED_CONTAINER", "DEADLETTER_CONTAINER", "STATE_CONTAINER")
    ]
    return Containers(*made)


@pytest.fixture
def pipeline(env: dict[str, str], clock: FakeClock, containers: Containers):  # type: ignore[no-untyped-def]
    from shared.delivery.compose import build_pipeline
    from shared.settings import load_settings

    built = build_pipeline(load_settings(env), clock=clock, sleep=clock.sleep, now=clock.now)
    yield built
    built.close()  # its sandbox workers end with the test, not whenever it is collected


def png_bytes(width: int = 1600, height: int = 900, color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    image = Image.new("RGB", (width, height), color)
    for x in range(0, width, 50):
        for y in range(0, height, 50):
            image.putpixel((x, y), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(width: int = 1200, height: int = 800) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def new_imodel() -> str:
    return str(uuid.uuid4())
