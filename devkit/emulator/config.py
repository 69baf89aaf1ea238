"""How an emulator starts: which clients exist, which iModels misbehave, which faults are on.

The same settings can be changed later on a running emulator (``Emulator.state`` in Python, or the
``/_emulator/...`` admin endpoints); the config is what ``reset`` returns to.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from devkit.emulator.contract import TOKEN_TTL_SECONDS

DEFAULT_CLIENT_ID = "local-client"
DEFAULT_CLIENT_SECRET = "local-secret"  # noqa: S105 - a well-known local credential, like Azurite's key

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def is_guid(value: str) -> bool:
    """True for the canonical 8-4-4-4-12 form an iModel id takes (any letter case).

    ``fullmatch``, not ``match`` with ``$``: ``$`` also matches before a trailing newline, and
    ``<guid>%0A`` in a URL must be an unknown iModel, as for the real API.
    """
    return _GUID.fullmatch(value) is not None


def normalize_id(value: str) -> str:
    """iModel ids are GUIDs, so case does not matter: every id is kept and looked up in lowercase."""
    return value.strip().lower()


def is_loopback_host(host: str) -> bool:
    """True if binding ``host`` keeps the emulator on this machine (it has no real security)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class EmulatorConfig:
    """Start-up settings.  Every iModel id that is a well-formed GUID exists, is initialized and is
    allowed unless listed in ``unknown`` (404), ``forbidden`` (403) or ``not_initialized`` (409)."""

    host: str = "127.0.0.1"
    #: 0 picks a free port (the tests' choice); ``python -m devkit.emulator`` defaults to 8090.
    port: int = 0
    #: Binding anything but loopback is refused unless this is set: the emulator has no real security.
    allow_remote: bool = False
    #: client id -> client secret accepted by ``POST /connect/token``.
    clients: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
    token_ttl_seconds: int = TOKEN_TTL_SECONDS
    unknown: frozenset[str] = frozenset()
    forbidden: frozenset[str] = frozenset()
    not_initialized: frozenset[str] = frozenset()
    #: For the ``not_initialized`` ids: answer 409 to this many PUTs, then become initialized.
    initialize_after_attempts: int | None = None
    #: For the ``not_initialized`` ids: become initialized this many seconds (of the clock) after start.
    initialize_after_seconds: float | None = None
    #: A real per-client sliding-window limit on API calls (None: no limit, the default).
    rate_limit_per_minute: int | None = None
    #: The tier named in ``ITwinPlatform-RateLimited-Tier`` on every 429 (None: no such header), and its
    #: cap on API calls over a sliding hour (None: no cap).  Trial: ``"Trial"`` and 5,000.
    rate_limit_tier: str | None = None
    rate_limit_per_hour: int | None = None
    #: Probability that a PUT is answered 503 / 429 (drawn from an RNG seeded with ``seed``).
    fail_rate_503: float = 0.0
    fail_rate_429: float = 0.0
    #: The ``retry-after`` (seconds) sent with a random 429.
    random_retry_after: int = 1
    seed: int | None = None
    #: Delay before answering every token and API request (seconds, real time: for timeout tests).
    latency_seconds: float = 0.0
    #: Hold the first ``stall_count`` requests to ``stall_endpoint`` ("api", "token", "any") this many
    #: seconds (real time); one whose client has gone by then is dropped unapplied (see ``holds``).
    stall_seconds: float = 0.0
    stall_count: int = 0
    stall_endpoint: str = "api"
    #: Hold the first ``late_apply_count`` thumbnail PUTs this many seconds, then apply them even if the
    #: client has given up (see ``holds``).
    late_apply_seconds: float = 0.0
    late_apply_count: int = 0
    #: Log one line per request to stderr (the CLI turns this on).
    log_requests: bool = False

    def __post_init__(self) -> None:
        if ":" in self.host:
            raise ValueError(f"the emulator listens on IPv4 only, got {self.host!r}: use 127.0.0.1")
        if not self.allow_remote and not is_loopback_host(self.host):
            raise ValueError(f"refusing to listen on non-loopback host {self.host!r} without allow_remote")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if not self.clients:
            raise ValueError("at least one client is needed")
        if self.token_ttl_seconds < 1:
            raise ValueError(f"token_ttl_seconds must be at least 1, got {self.token_ttl_seconds}")
        for name in ("fail_rate_503", "fail_rate_429"):
            check_probability(name, getattr(self, name))
        if self.rate_limit_per_minute is not None and self.rate_limit_per_minute < 1:
            raise ValueError(f"rate_limit_per_minute must be at least 1, got {self.rate_limit_per_minute}")
        if self.rate_limit_per_hour is not None and self.rate_limit_per_hour < 1:
            raise ValueError(f"rate_limit_per_hour must be at least 1, got {self.rate_limit_per_hour}")
        if self.initialize_after_attempts is not None and self.initialize_after_attempts < 0:
            raise ValueError("initialize_after_attempts must not be negative")
        if self.initialize_after_seconds is not None:
            check_seconds("initialize_after_seconds", self.initialize_after_seconds)
        check_seconds("latency_seconds", self.latency_seconds)
        check_holds(self)
        if self.random_retry_after < 0:
            raise ValueError("random_retry_after must not be negative")


def check_holds(config: EmulatorConfig) -> None:
    """ValueError unless the stall and late-apply settings are usable (checked at start-up, not at reset)."""
    for name in ("stall", "late_apply"):
        check_seconds(f"{name}_seconds", getattr(config, f"{name}_seconds"))
        if getattr(config, f"{name}_count") < 0:
            raise ValueError(f"{name}_count must not be negative")
    if config.stall_endpoint not in ("api", "token", "any"):
        raise ValueError(f"stall_endpoint must be 'api', 'token' or 'any', got {config.stall_endpoint!r}")


def check_probability(name: str, value: float) -> None:
    """ValueError unless ``value`` is a probability (NaN fails the comparison, so it is refused)."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def check_seconds(name: str, value: float) -> None:
    """ValueError unless ``value`` is a finite, non-negative duration.

    Infinity would be accepted by a plain ``< 0`` check and then break every request (a wait of
    ``inf`` seconds raises OverflowError); NaN compares false with everything.
    """
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds, at least 0, got {value}")
