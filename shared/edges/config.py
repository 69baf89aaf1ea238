"""The edges' connection settings as plain dataclasses.

Kept apart from the clients so that ``shared.settings`` can build them without importing the Azure
SDK or ``requests`` (the infra checks import the settings module in a venv that has neither).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.core.secret import Secret


@dataclass(frozen=True)
class StorageConnection:
    """Either a connection string (Azurite, or a key-based account) or identity-based settings."""

    connection_string: Secret | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None
    credential: str | None = None
    client_id: str | None = None

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None


@dataclass(frozen=True)
class ItwinSettings:
    api_url: str
    token_url: str
    client_id: str
    client_secret: Secret
    scope: str
    connect_timeout: float
    read_timeout: float
