"""The one place that reads app settings.

Everything the app can be told comes from the environment (Azure app settings, or
``local.settings.json`` under Core Tools, or the CLI's own defaults for the local stand-in).  It is
read once, validated at start-up, and handed to the code as frozen dataclasses, so a typo in a
setting fails the first invocation with a message naming it instead of dead-lettering every blob.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.core.pace import PaceSettings
from shared.core.retry import RetrySettings
from shared.core.secret import Secret
from shared.edges.config import ItwinSettings, StorageConnection
from shared.imaging.limits import API_MAX_THUMBNAIL_BYTES, ImageLimits
from shared.sandbox.config import SandboxSettings

#: Every setting name the code reads, with its default (``None``: required, or optional with no
#: default).  ``infra/`` must set or deliberately default each one; a test keeps them in step.
DEFAULTS: dict[str, str | None] = {
    "THUMBNAILS_STORAGE": None,
    "THUMBNAILS_CONTAINER": "thumbnails",
    "PROCESSED_CONTAINER": "thumbnails-processed",
    "DEADLETTER_CONTAINER": "thumbnails-deadletter",
    "STATE_CONTAINER": "thumbnails-state",
    "ITWIN_API_URL": "https://api.bentley.com",
    "ITWIN_TOKEN_URL": "https://ims.bentley.com/connect/token",
    "ITWIN_CLIENT_ID": None,
    "ITWIN_CLIENT_SECRET": None,
    "ITWIN_SCOPE": "itwin-platform",
    "THUMBNAIL_MAX_WIDTH": "800",
    "THUMBNAIL_MAX_HEIGHT": "500",
    "MAX_BLOB_BYTES": str(256 * 1024 * 1024),
    "MAX_IMAGE_PIXELS": "140000000",
    "ALLOW_TIFF": "true",
    "HDR_EXPOSURE_STOPS": "auto",
    "IMAGE_MEMORY_BUDGET_MB": "1024",
    "IMAGE_ISOLATION": "true",
    "IMAGE_TIMEOUT_SECONDS": "20",
    "IMAGE_WORKERS": "2",
    "RETRY_BUDGET_SECONDS": "300",
    "RETRY_AFTER_CAP_SECONDS": "60",
    "NOT_INITIALIZED_WINDOW_MINUTES": "15",
    "MAX_DELIVERY_ATTEMPTS": "5",
    "HTTP_CONNECT_TIMEOUT_SECONDS": "5",
    "HTTP_READ_TIMEOUT_SECONDS": "30",
    "ITWIN_SHARED_PACE": "true",
    "ITWIN_CALLS_PER_MINUTE": "500",
    "ITWIN_CALLS_PER_HOUR": "5000",
    "PACE_CONTAINER": "thumbnails-pace",
    "PACE_FALLBACK_INSTANCES": "40",
}

#: The suffixes of an identity-based connection, as Azure Functions defines them
#: (``{CONNECTION}__blobServiceUri`` and so on).
IDENTITY_SUFFIXES = ("blobServiceUri", "queueServiceUri", "credential", "clientId")

STORAGE_SETTING = "THUMBNAILS_STORAGE"

#: host.json's ``extensions.blobs.poisonBlobThreshold`` and ``functionTimeout`` (a test keeps them
#: equal to the file): after that many failed invocations the host parks a blob in the poison
#: queue, and it kills an invocation that runs longer.
POISON_BLOB_THRESHOLD = 5
FUNCTION_TIMEOUT_SECONDS = 600.0

#: Left between an invocation's deadline and ``functionTimeout``: the last move started before the
#: deadline must finish before the host kills the invocation.
DEADLINE_MARGIN_SECONDS = 60.0

#: The delivery record's lease (seconds): every request made while holding it must be shorter.
RECORD_LEASE_SECONDS = 60

#: An app setting that is still a Key Vault reference was not resolved by the platform (the app's
#: identity cannot read the vault, or the reference is misspelt).
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("

_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


__all__ = [
    "API_MAX_THUMBNAIL_BYTES",
    "DEFAULTS",
    "IDENTITY_SUFFIXES",
    "STORAGE_SETTING",
    "ImageLimits",
    "ItwinSettings",
    "RetrySettings",
    "SandboxSettings",
    "Secret",
    "Settings",
    "SettingsError",
    "StorageConnection",
    "load_image_limits",
    "load_itwin_settings",
    "load_pace_settings",
    "load_retry_settings",
    "load_sandbox_settings",
    "load_settings",
]


class SettingsError(ValueError):
    """A missing or malformed setting.  ``name`` is the setting to fix."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"setting {name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class Settings:
    storage: StorageConnection
    incoming_container: str
    processed_container: str
    deadletter_container: str
    itwin: ItwinSettings
    image: ImageLimits = field(default_factory=ImageLimits)
    retry: RetrySettings = field(default_factory=RetrySettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    state_container: str = "thumbnails-state"
    pace: PaceSettings = field(default_factory=PaceSettings)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise SettingsError naming the first bad one."""
    source = os.environ if env is None else env
    reader = _Reader(source)
    settings = Settings(
        storage=_storage(source),
        incoming_container=reader.container("THUMBNAILS_CONTAINER"),
        processed_container=reader.container("PROCESSED_CONTAINER"),
        deadletter_container=reader.container("DEADLETTER_CONTAINER"),
        itwin=load_itwin_settings(source),
        image=load_image_limits(source),
        retry=load_retry_settings(source),
        sandbox=load_sandbox_settings(source),
        state_container=reader.container("STATE_CONTAINER"),
        pace=load_pace_settings(source),
    )
    names = {
        settings.incoming_container,
        settings.processed_container,
        settings.deadletter_container,
        settings.state_container,
    }
    if len(names) != 4:
        raise SettingsError(
            "STATE_CONTAINER",
            "THUMBNAILS_CONTAINER, PROCESSED_CONTAINER, DEADLETTER_CONTAINER and STATE_CONTAINER must differ",
        )
    if settings.pace.container in names:
        raise SettingsError("PACE_CONTAINER", "must differ from the app's other four containers")
    return settings


def load_itwin_settings(env: Mapping[str, str] | None = None) -> ItwinSettings:
    """Only what talking to the iTwin Platform needs (``cli upload`` needs no storage)."""
    reader = _Reader(os.environ if env is None else env)
    connect, read = reader.number("HTTP_CONNECT_TIMEOUT_SECONDS"), reader.number("HTTP_READ_TIMEOUT_SECONDS")
    if connect + read >= RECORD_LEASE_SECONDS:
        raise SettingsError(
            "HTTP_READ_TIMEOUT_SECONDS",
            f"HTTP_CONNECT_TIMEOUT_SECONDS + HTTP_READ_TIMEOUT_SECONDS must stay under the delivery record's "
            f"{RECORD_LEASE_SECONDS} s lease (one PUT must end while the lease holds), got {connect + read:g}",
        )
    return ItwinSettings(
        api_url=reader.url("ITWIN_API_URL").rstrip("/"),
        token_url=reader.url("ITWIN_TOKEN_URL"),
        client_id=reader.required("ITWIN_CLIENT_ID"),
        client_secret=Secret(reader.required("ITWIN_CLIENT_SECRET")),
        scope=reader.required("ITWIN_SCOPE"),
        connect_timeout=connect,
        read_timeout=read,
    )


def load_image_limits(env: Mapping[str, str] | None = None) -> ImageLimits:
    """Only what the image stage needs (``cli normalize`` needs nothing else)."""
    reader = _Reader(os.environ if env is None else env)
    return ImageLimits(
        max_width=reader.integer("THUMBNAIL_MAX_WIDTH", minimum=16, maximum=4096),
        max_height=reader.integer("THUMBNAIL_MAX_HEIGHT", minimum=16, maximum=4096),
        max_input_bytes=reader.integer("MAX_BLOB_BYTES", minimum=1),
        max_pixels=reader.integer("MAX_IMAGE_PIXELS", minimum=1),
        allow_tiff=reader.boolean("ALLOW_TIFF"),
        memory_budget_bytes=reader.integer("IMAGE_MEMORY_BUDGET_MB", minimum=64) * 1024 * 1024,
        hdr_exposure_stops=reader.stops("HDR_EXPOSURE_STOPS"),
    )


def load_sandbox_settings(env: Mapping[str, str] | None = None) -> SandboxSettings:
    """Where images are decoded (worker processes, unless ``IMAGE_ISOLATION=false``) and for how long."""
    reader = _Reader(os.environ if env is None else env)
    return SandboxSettings(
        isolate=reader.boolean("IMAGE_ISOLATION"),
        timeout_seconds=reader.number("IMAGE_TIMEOUT_SECONDS"),
        workers=reader.integer("IMAGE_WORKERS", minimum=1, maximum=16),
    )


def load_retry_settings(env: Mapping[str, str] | None = None) -> RetrySettings:
    reader = _Reader(os.environ if env is None else env)
    latest = FUNCTION_TIMEOUT_SECONDS - DEADLINE_MARGIN_SECONDS
    deadline = reader.number("RETRY_BUDGET_SECONDS")
    if deadline > latest:
        raise SettingsError(
            "RETRY_BUDGET_SECONDS",
            f"is the invocation's deadline and must leave {DEADLINE_MARGIN_SECONDS:g} s of host.json's "
            f"functionTimeout ({FUNCTION_TIMEOUT_SECONDS:g} s): at most {latest:g}, got {deadline:g}",
        )
    attempts = reader.integer("MAX_DELIVERY_ATTEMPTS", minimum=1)
    if attempts > POISON_BLOB_THRESHOLD:
        raise SettingsError(
            "MAX_DELIVERY_ATTEMPTS",
            f"must be at most host.json's poisonBlobThreshold ({POISON_BLOB_THRESHOLD}), got {attempts}: above it the "
            "host parks blobs in the poison queue before the app dead-letters them",
        )
    return RetrySettings(
        budget_seconds=deadline,
        retry_after_cap_seconds=reader.number("RETRY_AFTER_CAP_SECONDS"),
        not_initialized_window_seconds=reader.number("NOT_INITIALIZED_WINDOW_MINUTES") * 60.0,
        max_delivery_attempts=attempts,
    )


def load_pace_settings(env: Mapping[str, str] | None = None) -> PaceSettings:
    """The iTwin client's tier (calls per minute, hourly cap or ``none``) and where the shared pace lives."""
    reader = _Reader(os.environ if env is None else env)
    hourly = (reader.raw("ITWIN_CALLS_PER_HOUR") or "").strip().lower()
    return PaceSettings(
        enabled=reader.boolean("ITWIN_SHARED_PACE"),
        calls_per_minute=reader.integer("ITWIN_CALLS_PER_MINUTE", minimum=1),
        calls_per_hour=None if hourly == "none" else reader.integer("ITWIN_CALLS_PER_HOUR", minimum=1),
        container=reader.container("PACE_CONTAINER"),
        fallback_instances=reader.integer("PACE_FALLBACK_INSTANCES", minimum=1, maximum=1000),
    )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or value.strip() == "":
            value = DEFAULTS[name]
        if value is not None and value.strip().startswith(KEY_VAULT_REFERENCE):
            raise SettingsError(
                name,
                "is still an unresolved Key Vault reference: give the app's identity 'Key Vault Secrets User' on "
                "the vault and check the reference's SecretUri (the portal's Environment variables page shows why)",
            )
        return None if value is None else value.strip()

    def required(self, name: str) -> str:
        value = self.raw(name)
        if value is None:
            raise SettingsError(name, "is required but not set")
        return value

    def integer(self, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.required(name)
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise SettingsError(name, f"must be a whole number, got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            upper = "" if maximum is None else f" and at most {maximum}"
            raise SettingsError(name, f"must be at least {minimum}{upper}, got {number}")
        return number

    def number(self, name: str) -> float:
        value = self.required(name)
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(name, f"must be a number, got {value!r}") from None
        if not number > 0:
            raise SettingsError(name, f"must be greater than 0, got {value!r}")
        return number

    def stops(self, name: str) -> float | None:
        """``auto`` (None) or an exposure in stops between -20 and +20."""
        value = self.required(name)
        if value.lower() == "auto":
            return None
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(name, f"must be auto or a number of stops, got {value!r}") from None
        if not -20.0 <= number <= 20.0:
            raise SettingsError(name, f"must be auto or between -20 and 20 stops, got {value!r}")
        return number

    def boolean(self, name: str) -> bool:
        value = self.required(name).lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"must be true or false, got {value!r}")

    def container(self, name: str) -> str:
        value = self.required(name)
        if not _CONTAINER_NAME.match(value):
            raise SettingsError(
                name, f"{value!r} is not a valid container name (3-63 lowercase letters, digits and single hyphens)"
            )
        return value

    def url(self, name: str) -> str:
        value = self.required(name)
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SettingsError(name, f"must be an absolute https URL, got {value!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise SettingsError(name, f"must use https (plain http is allowed only for loopback hosts), got {value!r}")
        return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _storage(env: Mapping[str, str]) -> StorageConnection:
    """Resolve ``THUMBNAILS_STORAGE`` the way the Functions host does: a connection string, or
    ``THUMBNAILS_STORAGE__*`` identity-based settings."""
    connection_string = (env.get(STORAGE_SETTING) or "").strip()
    if connection_string.startswith(KEY_VAULT_REFERENCE):
        raise SettingsError(
            STORAGE_SETTING,
            "is still an unresolved Key Vault reference: give the app's identity "
            "'Key Vault Secrets User' on the vault and check the reference's SecretUri",
        )
    identity = {suffix: (env.get(f"{STORAGE_SETTING}__{suffix}") or "").strip() or None for suffix in IDENTITY_SUFFIXES}
    if connection_string:
        if "AccountName=" not in connection_string and "UseDevelopmentStorage=true" not in connection_string:
            raise SettingsError(STORAGE_SETTING, "is not a storage connection string (no AccountName=)")
        return StorageConnection(connection_string=Secret(connection_string))
    blob_uri = identity["blobServiceUri"]
    if blob_uri is None:
        raise SettingsError(
            STORAGE_SETTING,
            f"is not set: give a connection string, or {STORAGE_SETTING}__blobServiceUri "
            f"(with {STORAGE_SETTING}__queueServiceUri, __credential=managedidentity, __clientId) "
            "for a managed identity",
        )
    parts = urlsplit(blob_uri)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        raise SettingsError(f"{STORAGE_SETTING}__blobServiceUri", f"must be an https URL, got {blob_uri!r}")
    credential = identity["credential"]
    if credential is not None and credential.lower() != "managedidentity":
        raise SettingsError(f"{STORAGE_SETTING}__credential", f"must be 'managedidentity', got {credential!r}")
    return StorageConnection(
        blob_service_uri=blob_uri,
        queue_service_uri=identity["queueServiceUri"],
        credential=credential,
        client_id=identity["clientId"],
    )
