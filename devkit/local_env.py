"""Point the app at a running Azurite and emulator: shared by the demo, the load run and the tests."""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from devkit.azurite import Azurite
from devkit.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from shared.settings import Settings


def local_env(azurite: Azurite, emulator: Emulator) -> dict[str, str]:
    """Settings that point the app at a running Azurite and emulator (the emulator's own client)."""
    return {
        "THUMBNAILS_STORAGE": azurite.connection_string,
        "ITWIN_API_URL": emulator.url,
        "ITWIN_TOKEN_URL": emulator.token_url,
        "ITWIN_CLIENT_ID": DEFAULT_CLIENT_ID,
        "ITWIN_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    }


def create_containers(blobs: BlobServiceClient, settings: Settings) -> None:
    """Every container the app works on, the delivery records' own included (idempotent)."""
    for name in (
        settings.incoming_container,
        settings.processed_container,
        settings.deadletter_container,
        settings.state_container,
        settings.pace.container,
    ):
        with contextlib.suppress(ResourceExistsError):
            blobs.create_container(name)
