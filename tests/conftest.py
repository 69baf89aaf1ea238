"""Real parts for every test: one Azurite per session over HTTP, a fresh iTwin emulator per test on
127.0.0.1, a fresh set of containers per test, and a fake clock so nothing really waits."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from PIL import Image

from devkit.azurite import Azurite
from devkit.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, EmulatorConfig


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


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = Azurite(location=tmp_path_factory.mktemp("azurite"))
    server.start()
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
    """Settings with three containers of their own, so tests never see each other's blobs."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "THUMBNAILS_STORAGE": connection_string,
        "THUMBNAILS_CONTAINER": f"in-{suffix}",
        "PROCESSED_CONTAINER": f"done-{suffix}",
        "DEADLETTER_CONTAINER": f"dead-{suffix}",
        "STATE_CONTAINER": f"state-{suffix}",
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
        return sorted(blob.name for blob in container.list_blobs())

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
    from shared.delivery.pipeline import build_pipeline
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
