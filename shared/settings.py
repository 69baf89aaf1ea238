"""The one place that declares and reads app settings.

Everything the app can be told comes from the environment (Azure app settings, or
``local.settings.json`` under Core Tools, or the CLI's ``--settings`` file).  Each setting is declared
once, in :data:`SETTINGS` (name, parser with its bounds, default, doc, local value); the loaders, the
README's settings table (:func:`markdown_table`) and ``local.settings.example.json``
(:func:`example_json`) all come from that declaration, and tests keep the committed files equal to
what it generates.  Settings are read once, validated at start-up, and handed to the code as frozen
dataclasses, so a typo in a setting fails the first invocation with a message naming it instead of
dead-lettering every blob.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from shared.core.pace import PACE_MAX_BATCH, PaceSettings
from shared.core.retry import RetrySettings
from shared.core.secret import Secret
from shared.edges.config import ItwinSettings, StorageConnection
from shared.imaging.limits import API_MAX_THUMBNAIL_BYTES, INSTANCE_MEMORY_SIZES_MB, ImageLimits, decode_cap_for
from shared.sandbox.config import MEMORY_MARGIN_BYTES, PROBE_ALLOWANCE_BYTES, SandboxSettings

STORAGE_SETTING = "THUMBNAILS_STORAGE"

#: The suffixes of an identity-based connection, as Azure Functions defines them
#: (``{CONNECTION}__blobServiceUri`` and so on).
IDENTITY_SUFFIXES = ("blobServiceUri", "queueServiceUri", "credential", "clientId")

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
KEY_VAULT_PROBLEM = (
    "is still an unresolved Key Vault reference: give the app's identity 'Key Vault Secrets User' on the vault "
    "and check the reference's SecretUri (the portal's Environment variables page shows why)"
)

_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class SettingsError(ValueError):
    """A missing or malformed setting.  ``name`` is the setting to fix."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"setting {name}: {problem}")
        self.name = name
        self.problem = problem


# -- parsers: text -> value, with the bounds they enforce and say -------------------------------------


class Parser(Protocol[T_co]):
    """Turns a setting's text into its value, or raises :class:`SettingsError` naming the setting."""

    def parse(self, name: str, text: str) -> T_co: ...

    def accepts(self) -> str:
        """What the parser accepts, for the docs table."""
        ...


@dataclass(frozen=True)
class Text:
    def parse(self, name: str, text: str) -> str:
        return text

    def accepts(self) -> str:
        return "text"


@dataclass(frozen=True)
class Integer:
    minimum: int
    maximum: int | None = None
    why: str = ""

    def parse(self, name: str, text: str) -> int:
        try:
            number = int(text.replace("_", ""))
        except ValueError:
            raise SettingsError(name, f"must be a whole number, got {text!r}") from None
        if number < self.minimum or (self.maximum is not None and number > self.maximum):
            upper = "" if self.maximum is None else f" and at most {self.maximum}"
            why = f": {self.why}" if self.why else ""
            raise SettingsError(name, f"must be at least {self.minimum}{upper}, got {number}{why}")
        return number

    def accepts(self) -> str:
        return f"whole number {self.minimum}..{self.maximum}" if self.maximum else f"whole number >= {self.minimum}"


@dataclass(frozen=True)
class Size:
    """A whole number from a fixed list (the Flex Consumption instance sizes, in MB)."""

    choices: tuple[int, ...]

    def parse(self, name: str, text: str) -> int:
        number = Integer(min(self.choices)).parse(name, text)
        if number not in self.choices:
            sizes = ", ".join(str(choice) for choice in self.choices)
            raise SettingsError(name, f"must be a Flex Consumption instance size ({sizes}), got {number}")
        return number

    def accepts(self) -> str:
        return " or ".join(f"`{choice}`" for choice in self.choices)


@dataclass(frozen=True)
class Positive:
    """A number greater than 0 (seconds, minutes), at most ``maximum`` when given."""

    maximum: float | None = None
    why: str = ""

    def parse(self, name: str, text: str) -> float:
        try:
            number = float(text)
        except ValueError:
            raise SettingsError(name, f"must be a number, got {text!r}") from None
        if not number > 0:  # also refuses NaN
            raise SettingsError(name, f"must be greater than 0, got {text!r}")
        if self.maximum is not None and not number <= self.maximum:
            raise SettingsError(name, f"{self.why}: at most {self.maximum:g}, got {number:g}")
        return number

    def accepts(self) -> str:
        return "number > 0" if self.maximum is None else f"number > 0, <= {self.maximum:g}"


@dataclass(frozen=True)
class Cap:
    """A whole number of at least ``minimum``, or ``none`` (no cap: None)."""

    minimum: int = 1

    def parse(self, name: str, text: str) -> int | None:
        if text.strip().lower() == "none":
            return None
        return Integer(self.minimum).parse(name, text)

    def accepts(self) -> str:
        return f"whole number >= {self.minimum}, or `none`"


@dataclass(frozen=True)
class Stops:
    """``auto`` (None) or an exposure in stops between -limit and +limit."""

    limit: float = 20.0

    def parse(self, name: str, text: str) -> float | None:
        if text.lower() == "auto":
            return None
        try:
            number = float(text)
        except ValueError:
            raise SettingsError(name, f"must be auto or a number of stops, got {text!r}") from None
        if not -self.limit <= number <= self.limit:
            raise SettingsError(name, f"must be auto or between {-self.limit:g} and {self.limit:g} stops, got {text!r}")
        return number

    def accepts(self) -> str:
        return f"`auto` or {-self.limit:g}..{self.limit:g}"


@dataclass(frozen=True)
class Boolean:
    def parse(self, name: str, text: str) -> bool:
        value = text.lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"must be true or false, got {text!r}")

    def accepts(self) -> str:
        return "`true` or `false`"


@dataclass(frozen=True)
class Container:
    def parse(self, name: str, text: str) -> str:
        if not _CONTAINER_NAME.match(text):
            raise SettingsError(
                name, f"{text!r} is not a valid container name (3-63 lowercase letters, digits and single hyphens)"
            )
        return text

    def accepts(self) -> str:
        return "container name"


@dataclass(frozen=True)
class Url:
    """An absolute https URL; plain http only for a loopback host (Azurite, the emulator)."""

    def parse(self, name: str, text: str) -> str:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SettingsError(name, f"must be an absolute https URL, got {text!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise SettingsError(name, f"must use https (plain http is allowed only for loopback hosts), got {text!r}")
        return text

    def accepts(self) -> str:
        return "https URL (http: loopback only)"


@dataclass(frozen=True)
class OneOf:
    choices: tuple[str, ...]

    def parse(self, name: str, text: str) -> str:
        if text.lower() not in self.choices:
            raise SettingsError(name, f"must be {' or '.join(repr(c) for c in self.choices)}, got {text!r}")
        return text

    def accepts(self) -> str:
        return " or ".join(f"`{choice}`" for choice in self.choices)


# -- the declaration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One app setting.  ``default`` is its text when unset (None: it has none); ``required``: start-up
    refuses to run without it; ``local``: its value in ``local.settings.example.json`` when that is
    not the default (``""`` leaves it out of the file)."""

    name: str
    parser: Parser[T]
    default: str | None
    doc: str
    required: bool = True
    local: str | None = None

    def default_text(self) -> str:
        if self.default is not None:
            return f"`{self.default}`"
        return "(required)" if self.required else ""


_IDENTITY = f"{STORAGE_SETTING}__"
_LEASE = f"the delivery record's {RECORD_LEASE_SECONDS} s lease"
_LATEST_DEADLINE = FUNCTION_TIMEOUT_SECONDS - DEADLINE_MARGIN_SECONDS

#: Every setting, once.  To add one: add an entry here, read it in the loader of the dataclass it
#: belongs to, and run ``python -m devkit.settings_docs`` (README table and example file).
SETTINGS: tuple[Setting[Any], ...] = (
    Setting(
        STORAGE_SETTING,
        Text(),
        None,
        "connection string of the storage account (Azurite locally); in Azure use the identity-based "
        f"`{_IDENTITY}*` settings below instead",
        local="UseDevelopmentStorage=true",
    ),
    Setting(
        f"{_IDENTITY}blobServiceUri",
        Url(),
        None,
        "identity-based connection: the account's blob endpoint",
        required=False,
        local="",
    ),
    Setting(
        f"{_IDENTITY}queueServiceUri",
        Url(),
        None,
        "identity-based connection: the queue endpoint (the blob trigger needs it)",
        required=False,
        local="",
    ),
    Setting(
        f"{_IDENTITY}credential",
        OneOf(("managedidentity",)),
        None,
        "identity-based connection: the credential kind",
        required=False,
        local="",
    ),
    Setting(
        f"{_IDENTITY}clientId",
        Text(),
        None,
        "client id of the user-assigned managed identity",
        required=False,
        local="",
    ),
    Setting("THUMBNAILS_CONTAINER", Container(), "thumbnails", "where renders are dropped, as `{imodelId}/{name}`"),
    Setting("PROCESSED_CONTAINER", Container(), "thumbnails-processed", "originals of uploaded thumbnails"),
    Setting(
        "DEADLETTER_CONTAINER",
        Container(),
        "thumbnails-deadletter",
        "originals that could not be uploaded, with `{name}.error.json`",
    ),
    Setting(
        "STATE_CONTAINER",
        Container(),
        "thumbnails-state",
        "one delivery record per iModel, `{imodelId}.json`, and the failure marks; no lifecycle rule; infra, "
        "`make run` and `doctor` create it, and a missing one fails closed (`DeliveryRecordUnreadable`); all four "
        "containers must differ",
    ),
    Setting(
        "REASSERT_QUEUE",
        Container(),
        "thumbnail-reassert",
        "storage queue of delayed re-asserts: one message per in-doubt send, due when that send can no longer land",
    ),
    Setting(
        "ITWIN_API_URL", Url(), "https://api.bentley.com", "iTwin Platform API base", local="http://127.0.0.1:8090"
    ),
    Setting(
        "ITWIN_TOKEN_URL",
        Url(),
        "https://ims.bentley.com/connect/token",
        "Bentley IMS token endpoint",
        local="http://127.0.0.1:8090/connect/token",
    ),
    Setting("ITWIN_CLIENT_ID", Text(), None, "service client id", local="local-client"),
    Setting(
        "ITWIN_CLIENT_SECRET",
        Text(),
        None,
        "service client secret (a Key Vault reference in Azure)",
        local="local-secret",
    ),
    Setting("ITWIN_SCOPE", Text(), "itwin-platform", "token scope"),
    Setting(
        "THUMBNAIL_MAX_WIDTH", Integer(16, 4096), "800", "thumbnail box width (the iTwin UI's large size is 800x500)"
    ),
    Setting("THUMBNAIL_MAX_HEIGHT", Integer(16, 4096), "500", "thumbnail box height"),
    Setting(
        "MAX_BLOB_BYTES",
        Integer(1),
        str(256 * 1024 * 1024),
        "larger blobs are dead-lettered without being downloaded (default 256 MiB)",
    ),
    Setting(
        "MAX_IMAGE_PIXELS",
        Integer(1),
        "140000000",
        "larger images are refused from the header (a 16K render, 15360x8640, passes)",
    ),
    Setting(
        "ALLOW_TIFF", Boolean(), "true", "accept TIFF (`false` turns it off, e.g. while a TIFF decoder CVE is open)"
    ),
    Setting(
        "HDR_EXPOSURE_STOPS",
        Stops(),
        "auto",
        "exposure for tone-mapping EXR and float-TIFF renders, in stops; `auto`: from the image's "
        "log-average luminance",
    ),
    Setting("IMAGE_MEMORY_BUDGET_MB", Integer(64), "1024", "decode memory admitted at once per process; more waits"),
    Setting(
        "INSTANCE_MEMORY_MB",
        Size(INSTANCE_MEMORY_SIZES_MB),
        "2048",
        "the Flex Consumption instance size; one decode may use at most half of it, a bigger one is `ImageTooComplex`",
    ),
    Setting(
        "IMAGE_ISOLATION",
        Boolean(),
        "true",
        "decode in limited worker processes; `false` decodes in the host process (debugging only)",
    ),
    Setting(
        "IMAGE_TIMEOUT_SECONDS",
        Positive(),
        "20",
        "wall-clock limit of one image's probe or decode; over it: `ImageTooComplex`",
    ),
    Setting("IMAGE_WORKERS", Integer(1, 16), "2", "image worker processes per host process: images decoded at once"),
    Setting(
        "RETRY_BUDGET_SECONDS",
        Positive(
            _LATEST_DEADLINE,
            f"is the invocation's deadline and must leave {DEADLINE_MARGIN_SECONDS:g} s "
            f"of host.json's functionTimeout ({FUNCTION_TIMEOUT_SECONDS:g} s)",
        ),
        "300",
        "the invocation's deadline, computed when the blob arrives: API retries, lease waits and the start "
        f"of a PUT all end by it; at most host.json `functionTimeout` ({FUNCTION_TIMEOUT_SECONDS:g} s) minus "
        f"{DEADLINE_MARGIN_SECONDS:g} s",
    ),
    Setting(
        "RETRY_AFTER_CAP_SECONDS",
        Positive(),
        "60",
        "longest `retry-after` waited inside an invocation; longer ones end it",
    ),
    Setting(
        "NOT_INITIALIZED_WINDOW_MINUTES",
        Positive(),
        "15",
        "how long after the drop a 409 `iModelNotInitialized` is retried",
    ),
    Setting(
        "MAX_DELIVERY_ATTEMPTS",
        Integer(
            1,
            POISON_BLOB_THRESHOLD,
            f"at most host.json's poisonBlobThreshold ({POISON_BLOB_THRESHOLD}); "
            "above it the host parks blobs in the poison queue before the app dead-letters them",
        ),
        str(POISON_BLOB_THRESHOLD),
        f"at most host.json `poisonBlobThreshold` ({POISON_BLOB_THRESHOLD}; start-up refuses more): the last "
        "attempt dead-letters `RetriesExhausted`",
    ),
    Setting("HTTP_CONNECT_TIMEOUT_SECONDS", Positive(), "5", "connect timeout of each request"),
    Setting(
        "HTTP_READ_TIMEOUT_SECONDS",
        Positive(),
        "30",
        f"read timeout of each request; connect + read must stay under {_LEASE}",
    ),
    Setting(
        "ITWIN_SHARED_PACE",
        Boolean(),
        "true",
        "pace every instance's iTwin calls through one shared store (docs/rate-limit.md); `false`: by 429s only",
    ),
    Setting(
        "ITWIN_CALLS_PER_MINUTE",
        Integer(1),
        "500",
        "the client's tier: calls a minute (Trial 500, paid tiers 5000); a 429's tier header lowers it",
    ),
    Setting("ITWIN_CALLS_PER_HOUR", Cap(), "5000", "the tier's hourly cap (Trial 5000); `none` for paid tiers"),
    Setting(
        "PACE_CONTAINER",
        Container(),
        "thumbnails-pace",
        "where the shared pace lives, one small blob per client; the app creates it if missing",
    ),
    Setting(
        "PACE_FALLBACK_INSTANCES",
        Integer(1, 1000),
        "40",
        "when the pace store is out of reach, each instance takes this share of the limit (the instance cap)",
    ),
)

_BY_NAME: dict[str, Setting[Any]] = {setting.name: setting for setting in SETTINGS}

#: Every setting name the app reads by itself, with its default text (``None``: required, or
#: optional with no default).  ``infra/`` must set or deliberately default each one; a test keeps
#: them in step.  The identity-based ``THUMBNAILS_STORAGE__*`` parts are listed in ``SETTINGS`` only.
DEFAULTS: dict[str, str | None] = {s.name: s.default for s in SETTINGS if not s.name.startswith(_IDENTITY)}


def setting(name: str) -> Setting[Any]:
    """The declaration of ``name`` (KeyError for a name nobody declared)."""
    return _BY_NAME[name]


# -- what the code is handed ------------------------------------------------------------------------


@dataclass(frozen=True)
class StorageSettings:
    """What the storage-only commands need (``deadletter``, ``status``, ``poison sweep``): no API client."""

    storage: StorageConnection
    incoming_container: str
    processed_container: str
    deadletter_container: str
    state_container: str
    reassert_queue: str


@dataclass(frozen=True)
class Settings(StorageSettings):
    """Everything the pipeline needs."""

    itwin: ItwinSettings
    image: ImageLimits
    retry: RetrySettings
    sandbox: SandboxSettings
    pace: PaceSettings


# -- loaders ----------------------------------------------------------------------------------------


def load_settings(env: Mapping[str, str] | None = None, *, needs_api: bool = True) -> Settings:
    """Read and validate every setting; raise SettingsError naming the first bad one.

    ``needs_api=False`` (``poison sweep``: it settles blobs but never calls the API) lets
    ``ITWIN_CLIENT_ID`` and ``ITWIN_CLIENT_SECRET`` be unset; they are then empty.
    """
    source = os.environ if env is None else env
    storage = load_storage_settings(source)
    return Settings(
        **{f.name: getattr(storage, f.name) for f in dataclasses.fields(StorageSettings)},
        itwin=load_itwin_settings(source, needs_api=needs_api),
        image=load_image_limits(source),
        retry=load_retry_settings(source),
        sandbox=load_sandbox_settings(source),
        pace=load_pace_settings(source),
    )


def load_storage_settings(env: Mapping[str, str] | None = None) -> StorageSettings:
    """The storage connection and the four containers: no iTwin client id or secret needed."""
    source = os.environ if env is None else env
    reader = _Reader(source)
    settings = StorageSettings(
        storage=_storage(reader),
        incoming_container=reader.get("THUMBNAILS_CONTAINER", str),
        processed_container=reader.get("PROCESSED_CONTAINER", str),
        deadletter_container=reader.get("DEADLETTER_CONTAINER", str),
        state_container=reader.get("STATE_CONTAINER", str),
        reassert_queue=reader.get("REASSERT_QUEUE", str),
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
    if reader.get("PACE_CONTAINER", str) in names:
        raise SettingsError("PACE_CONTAINER", "must differ from the app's other four containers")
    return settings


def load_itwin_settings(env: Mapping[str, str] | None = None, *, needs_api: bool = True) -> ItwinSettings:
    """Only what talking to the iTwin Platform needs (``cli upload`` needs no storage)."""
    reader = _Reader(os.environ if env is None else env)
    client_id = reader.text("ITWIN_CLIENT_ID", required=needs_api) or ""
    client_secret = reader.text("ITWIN_CLIENT_SECRET", required=needs_api) or ""
    connect = reader.get("HTTP_CONNECT_TIMEOUT_SECONDS", float)
    read = reader.get("HTTP_READ_TIMEOUT_SECONDS", float)
    if connect + read >= RECORD_LEASE_SECONDS:
        raise SettingsError(
            "HTTP_READ_TIMEOUT_SECONDS",
            f"HTTP_CONNECT_TIMEOUT_SECONDS + HTTP_READ_TIMEOUT_SECONDS must stay under {_LEASE} "
            f"(one PUT must end while the lease holds), got {connect + read:g}",
        )
    return ItwinSettings(
        api_url=reader.get("ITWIN_API_URL", str).rstrip("/"),
        token_url=reader.get("ITWIN_TOKEN_URL", str),
        client_id=client_id,
        client_secret=Secret(client_secret),
        scope=reader.get("ITWIN_SCOPE", str),
        connect_timeout=connect,
        read_timeout=read,
    )


def load_image_limits(env: Mapping[str, str] | None = None) -> ImageLimits:
    """Only what the image stage needs (``cli normalize`` needs nothing else)."""
    reader = _Reader(os.environ if env is None else env)
    return ImageLimits(
        max_width=reader.get("THUMBNAIL_MAX_WIDTH", int),
        max_height=reader.get("THUMBNAIL_MAX_HEIGHT", int),
        max_output_bytes=API_MAX_THUMBNAIL_BYTES,
        max_input_bytes=reader.get("MAX_BLOB_BYTES", int),
        max_pixels=reader.get("MAX_IMAGE_PIXELS", int),
        allow_tiff=reader.get("ALLOW_TIFF", bool),
        memory_budget_bytes=reader.get("IMAGE_MEMORY_BUDGET_MB", int) * 1024 * 1024,
        decode_cap_bytes=decode_cap_for(reader.get("INSTANCE_MEMORY_MB", int)),
        hdr_exposure_stops=reader.optional("HDR_EXPOSURE_STOPS", float),
    )


def load_sandbox_settings(env: Mapping[str, str] | None = None) -> SandboxSettings:
    """Where images are decoded (worker processes, unless ``IMAGE_ISOLATION=false``) and for how long."""
    reader = _Reader(os.environ if env is None else env)
    return SandboxSettings(
        isolate=reader.get("IMAGE_ISOLATION", bool),
        timeout_seconds=reader.get("IMAGE_TIMEOUT_SECONDS", float),
        workers=reader.get("IMAGE_WORKERS", int),
        memory_margin_bytes=MEMORY_MARGIN_BYTES,
        probe_allowance_bytes=PROBE_ALLOWANCE_BYTES,
    )


def load_retry_settings(env: Mapping[str, str] | None = None) -> RetrySettings:
    reader = _Reader(os.environ if env is None else env)
    return RetrySettings(
        budget_seconds=reader.get("RETRY_BUDGET_SECONDS", float),
        retry_after_cap_seconds=reader.get("RETRY_AFTER_CAP_SECONDS", float),
        not_initialized_window_seconds=reader.get("NOT_INITIALIZED_WINDOW_MINUTES", float) * 60.0,
        max_delivery_attempts=reader.get("MAX_DELIVERY_ATTEMPTS", int),
    )


def default_limits(**overrides: Any) -> ImageLimits:
    """The deployed app's image limits (every setting at its default), with ``overrides``: what tests
    and benches use, so they run the configuration the app runs."""
    return dataclasses.replace(load_image_limits({}), **overrides)


def default_sandbox(**overrides: Any) -> SandboxSettings:
    """The deployed app's sandbox settings, with ``overrides`` (tests and benches)."""
    return dataclasses.replace(load_sandbox_settings({}), **overrides)


def default_pace(**overrides: Any) -> PaceSettings:
    """The deployed app's pace settings, with ``overrides`` (tests and benches)."""
    return dataclasses.replace(load_pace_settings({}), **overrides)


def load_pace_settings(env: Mapping[str, str] | None = None) -> PaceSettings:
    """The iTwin client's tier (calls per minute, hourly cap or ``none``) and where the shared pace lives."""
    reader = _Reader(os.environ if env is None else env)
    return PaceSettings(
        enabled=reader.get("ITWIN_SHARED_PACE", bool),
        calls_per_minute=reader.get("ITWIN_CALLS_PER_MINUTE", int),
        calls_per_hour=reader.optional("ITWIN_CALLS_PER_HOUR", int),
        container=reader.get("PACE_CONTAINER", str),
        fallback_instances=reader.get("PACE_FALLBACK_INSTANCES", int),
        max_batch=PACE_MAX_BATCH,
    )


class _Reader:
    """Reads declared settings from one environment: blank is unset, unset is the default."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, *, required: bool | None = None) -> str | None:
        """The setting's text, its default when unset; ``required`` overrides the declaration's."""
        declared = _BY_NAME[name]
        value = (self._env.get(name) or "").strip() or declared.default
        if value is None:
            if declared.required if required is None else required:
                raise SettingsError(name, "is required but not set")
            return None
        if value.startswith(KEY_VAULT_REFERENCE):
            raise SettingsError(name, KEY_VAULT_PROBLEM)
        return value

    def value(self, name: str) -> object:
        text = self.text(name)
        return None if text is None else _BY_NAME[name].parser.parse(name, text)

    def get(self, name: str, kind: type[T]) -> T:
        value = self.optional(name, kind)
        if value is None:
            raise SettingsError(name, "is required but not set")
        return value

    def optional(self, name: str, kind: type[T]) -> T | None:
        value = self.value(name)
        if value is not None and not isinstance(value, kind):
            raise TypeError(f"{name} is declared with a parser that does not give {kind.__name__}")
        return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _storage(reader: _Reader) -> StorageConnection:
    """Resolve ``THUMBNAILS_STORAGE`` the way the Functions host does: a connection string, or
    ``THUMBNAILS_STORAGE__*`` identity-based settings."""
    identity = {suffix: reader.optional(f"{_IDENTITY}{suffix}", str) for suffix in IDENTITY_SUFFIXES}
    connection_string = reader.text(STORAGE_SETTING, required=False)
    if connection_string is not None:
        if "AccountName=" not in connection_string and "UseDevelopmentStorage=true" not in connection_string:
            raise SettingsError(STORAGE_SETTING, "is not a storage connection string (no AccountName=)")
        return StorageConnection(connection_string=Secret(connection_string))
    if identity["blobServiceUri"] is None:
        raise SettingsError(
            STORAGE_SETTING,
            f"is not set: give a connection string, or {_IDENTITY}blobServiceUri "
            f"(with {_IDENTITY}queueServiceUri, __credential=managedidentity, __clientId) "
            "for a managed identity",
        )
    return StorageConnection(
        blob_service_uri=identity["blobServiceUri"],
        queue_service_uri=identity["queueServiceUri"],
        credential=identity["credential"],
        client_id=identity["clientId"],
    )


# -- generated documents ----------------------------------------------------------------------------


def markdown_table() -> str:
    """The README's settings table (a test keeps the README equal to it)."""
    rows = ["| setting | default | accepts | meaning |", "|---|---|---|---|"]
    rows += [f"| `{s.name}` | {s.default_text()} | {s.parser.accepts()} | {s.doc} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


#: The Functions host's own settings in a local.settings.json (not the app's).
_HOST_VALUES = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def example_values() -> dict[str, str]:
    """``local.settings.example.json``'s ``Values``: Azurite, the emulator on :8090, every default."""
    values = dict(_HOST_VALUES)
    for s in SETTINGS:
        text = s.local if s.local is not None else s.default
        if text:
            values[s.name] = text
    return values


def example_json() -> str:
    """``local.settings.example.json`` as committed (a test keeps the file equal to it)."""
    return json.dumps({"IsEncrypted": False, "Values": example_values()}, indent=2) + "\n"
