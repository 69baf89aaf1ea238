"""Everything the emulator remembers, and every fault knob, behind one lock.

Tests and the admin endpoints change the knobs while handler threads read them, so all access goes
through :class:`State` and its re-entrant lock; a handler holds the lock for the whole decision about
one request (no I/O happens under it), so counters and "next K" queues never race.

Time comes from the injected ``clock`` (token expiry, rate-limit windows, not-initialized timers), so
tests move time forward instead of sleeping.  Only ``latency`` is real time: it exists to make clients
time out.
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from devkit.emulator.config import EmulatorConfig, check_probability, check_seconds, is_guid, normalize_id
from devkit.emulator.contract import SERVER_ERRORS
from devkit.emulator.holds import Hold, Holds
from devkit.emulator.tier import Tier

#: The sliding window of the per-client rate limit.
RATE_WINDOW_SECONDS = 60.0


class Access(StrEnum):
    """What the API answers for an iModel id, in the order the checks run."""

    FORBIDDEN = "forbidden"  # 403
    UNKNOWN = "unknown"  # 404
    NOT_INITIALIZED = "notInitialized"  # 409 on PUT
    OK = "initialized"


@dataclass(frozen=True)
class Upload:
    """One accepted thumbnail.  ``at`` is the emulator's clock; ``accept`` is the request's Accept header
    (None if absent) so tests can check the client sends the recommended one."""

    imodel_id: str
    data: bytes
    content_type: str
    at: float
    correlation_id: str
    accept: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
            "content_type": self.content_type,
            "at": self.at,
            "correlation_id": self.correlation_id,
            "accept": self.accept,
        }


@dataclass(frozen=True)
class ServerFault:
    """An injected API failure: a status with an optional ``retry-after``, or a dropped connection."""

    status: int = 0
    retry_after: int | None = None
    drop: bool = False


_T = TypeVar("_T")


@dataclass
class _Run(Generic[_T]):
    item: _T
    remaining: int


class _Repeats(Generic[_T]):
    """A first-in, first-out queue of items, each to be served ``count`` times.

    An item queued ``count`` times is stored once with its count, so ``fail_next(503, count=10**9)``
    costs one entry, not a billion (built under the lock every handler waits for).
    """

    def __init__(self) -> None:
        self._runs: deque[_Run[_T]] = deque()

    def add(self, item: _T, count: int) -> None:
        if self._runs and self._runs[-1].item == item:
            self._runs[-1].remaining += count
        else:
            self._runs.append(_Run(item, count))

    def take(self) -> _T | None:
        """The next item, used up once; None when nothing is queued."""
        if not self._runs:
            return None
        run = self._runs[0]
        run.remaining -= 1
        if run.remaining == 0:
            self._runs.popleft()
        return run.item

    def runs(self) -> list[tuple[_T, int]]:
        """What is queued, in order, as (item, times left)."""
        return [(run.item, run.remaining) for run in self._runs]

    def __len__(self) -> int:
        return sum(run.remaining for run in self._runs)


@dataclass
class _NotInitialized:
    attempts_left: int | None
    ready_at: float | None


@dataclass(frozen=True)
class _Token:
    client_id: str
    expires_at: float


class State:
    """The emulator's memory and knobs.  Safe to use from any thread.

    Knob methods (``forbid``, ``fail_next``, ...) are the Python face of the ``/_emulator/...`` admin
    endpoints; the ``take_*``/``check_*``/``record_*`` methods are what the request handlers call.
    """

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.config = config
        self.clock = clock
        # Tokens survive reset(): a running app keeps its cached token across test cases.
        # Use revoke_tokens() to invalidate them.
        self._tokens: dict[str, _Token] = {}
        self.reset()

    # --- knobs ------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the config: counters, uploads, queued faults and iModel overrides cleared."""
        with self.lock:
            config = self.config
            self._clients = dict(config.clients)
            self._access: dict[str, Access] = {}
            for imodel_id in config.unknown:
                self._access[normalize_id(imodel_id)] = Access.UNKNOWN
            for imodel_id in config.forbidden:
                self._access[normalize_id(imodel_id)] = Access.FORBIDDEN
            self._not_initialized: dict[str, _NotInitialized] = {}
            for imodel_id in config.not_initialized:
                self.not_initialized(imodel_id, config.initialize_after_attempts, config.initialize_after_seconds)
            self._rate_limit_per_minute = config.rate_limit_per_minute
            self._windows: dict[str, deque[float]] = {}
            self._tier = Tier(config.rate_limit_tier, config.rate_limit_per_hour)
            self._fail_rate_503 = config.fail_rate_503
            self._fail_rate_429 = config.fail_rate_429
            self._rng = random.Random(config.seed)
            self._latency = config.latency_seconds
            self._faults: _Repeats[ServerFault] = _Repeats()
            self._rate_limit_next: _Repeats[int] = _Repeats()
            self._token_faults: _Repeats[int] = _Repeats()
            self._token_requests = 0
            self._tokens_issued = 0
            self._put_requests: Counter[str] = Counter()
            self._statuses: Counter[int] = Counter()
            self._dropped = 0
            self._uploads: dict[str, list[Upload]] = {}
            self._holds = _configured_holds(config)

    def forbid(self, imodel_id: str) -> None:
        """The iModel answers 403 InsufficientPermissions."""
        with self.lock:
            self._access[normalize_id(imodel_id)] = Access.FORBIDDEN

    def forget(self, imodel_id: str) -> None:
        """The iModel answers 404 iModelNotFound."""
        with self.lock:
            self._access[normalize_id(imodel_id)] = Access.UNKNOWN

    def allow(self, imodel_id: str) -> None:
        """Undo forbid/forget/not_initialized: the iModel is known, initialized and allowed again."""
        with self.lock:
            self._access.pop(normalize_id(imodel_id), None)
            self._not_initialized.pop(normalize_id(imodel_id), None)

    def not_initialized(self, imodel_id: str, attempts: int | None = None, seconds: float | None = None) -> None:
        """PUTs answer 409 iModelNotInitialized: for the next ``attempts`` PUTs, or until ``seconds`` of
        the clock have passed (whichever comes first), or for good if both are None."""
        if attempts is not None and attempts < 0:
            raise ValueError("attempts must not be negative")
        if seconds is not None:
            check_seconds("seconds", seconds)
        with self.lock:
            ready_at = None if seconds is None else self.clock() + seconds
            self._not_initialized[normalize_id(imodel_id)] = _NotInitialized(attempts, ready_at)

    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``count`` API requests with ``status`` (500, 502, 503 or 504), before any other
        check; queued after faults already pending.  ``retry_after`` (seconds) is sent if given."""
        _check_server_error(status)
        _check_count(count)
        if retry_after is not None:
            _check_retry_after(retry_after)
        with self.lock:
            self._faults.add(ServerFault(status=status, retry_after=retry_after), count)

    def drop_next(self, count: int = 1) -> None:
        """Close the connection without answering the next ``count`` API requests (body read first)."""
        _check_count(count)
        with self.lock:
            self._faults.add(ServerFault(drop=True), count)

    def rate_limit_next(self, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``count`` authenticated API requests 429 with ``retry-after: retry_after``."""
        _check_count(count)
        _check_retry_after(retry_after)
        with self.lock:
            self._rate_limit_next.add(retry_after, count)

    def set_rate_limit(self, per_minute: int | None) -> None:
        """A real per-client sliding window of ``per_minute`` API calls per 60 s; None turns it off."""
        if per_minute is not None and per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        with self.lock:
            self._rate_limit_per_minute = per_minute
            self._windows.clear()

    def set_tier(self, name: str | None, per_hour: int | None = None) -> None:
        """Name the tier in every 429's ``ITwinPlatform-RateLimited-Tier`` and cap calls per sliding hour."""
        tier = Tier(name, per_hour)
        with self.lock:
            self._tier = tier

    def rate_limit_headers(self, retry_after: int) -> tuple[tuple[str, str], ...]:
        """The headers of a 429 (``retry-after``, and the tier header when a tier is set)."""
        return self._tier.headers(retry_after)

    def set_fail_rates(self, p503: float = 0.0, p429: float = 0.0, seed: int | None = None) -> None:
        """Answer each PUT 503 with probability ``p503`` and 429 with ``p429``; ``seed`` reseeds the RNG."""
        check_probability("p503", p503)
        check_probability("p429", p429)
        with self.lock:
            self._fail_rate_503 = p503
            self._fail_rate_429 = p429
            if seed is not None:
                self._rng = random.Random(seed)

    def set_latency(self, seconds: float) -> None:
        """Wait ``seconds`` (real time) before answering each token and API request."""
        check_seconds("seconds", seconds)
        with self.lock:
            self._latency = seconds

    def fail_next_token(self, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` token requests with ``status`` (500, 502, 503 or 504)."""
        _check_server_error(status)
        _check_count(count)
        with self.lock:
            self._token_faults.add(status, count)

    def revoke_tokens(self) -> int:
        """Invalidate every token issued so far (the next API call with one gets 401); returns how many."""
        with self.lock:
            revoked = len(self._tokens)
            self._tokens.clear()
            return revoked

    def stall_next(self, seconds: float, count: int = 1, endpoint: str = "api") -> None:
        """Hold the next ``count`` requests to ``endpoint`` ("api", "token" or "any") ``seconds`` (real
        time) before handling them; one whose client has gone by then is dropped unapplied."""
        with self.lock:
            self._holds.stall_next(seconds, count, endpoint)

    def late_apply_next(self, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` thumbnail PUTs ``seconds`` (real time), then apply them even if the
        client gave up meanwhile (the server kept the request after the client's read timeout)."""
        with self.lock:
            self._holds.late_apply_next(seconds, count)

    # --- what tests read ---------------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        with self.lock:
            return self._latency

    @property
    def holds(self) -> dict[str, Any]:
        """Pending stalls and late applies, and counts of held, abandoned and late-applied requests."""
        with self.lock:
            return self._holds.summary()

    @property
    def token_requests(self) -> int:
        with self.lock:
            return self._token_requests

    @property
    def tokens_issued(self) -> int:
        with self.lock:
            return self._tokens_issued

    @property
    def put_requests(self) -> Counter[str]:
        """PUT requests received per iModel id (every one, whatever it was answered)."""
        with self.lock:
            return Counter(self._put_requests)

    @property
    def put_total(self) -> int:
        with self.lock:
            return self._put_requests.total()

    @property
    def statuses(self) -> Counter[int]:
        """Statuses served by the token and API endpoints (not the admin ones)."""
        with self.lock:
            return Counter(self._statuses)

    @property
    def dropped(self) -> int:
        """Connections closed without an answer (``drop_next``)."""
        with self.lock:
            return self._dropped

    @property
    def uploads(self) -> dict[str, list[Upload]]:
        """Accepted thumbnails per iModel id, oldest first."""
        with self.lock:
            return {imodel_id: list(items) for imodel_id, items in self._uploads.items()}

    def summary(self) -> dict[str, Any]:
        """The JSON summary ``GET /_emulator/state`` returns (uploads without their bytes)."""
        with self.lock:
            return {
                "token_requests": self._token_requests,
                "tokens_issued": self._tokens_issued,
                "tokens_valid": sum(1 for token in self._tokens.values() if token.expires_at > self.clock()),
                "put_requests": {"total": self._put_requests.total(), "by_imodel": dict(self._put_requests)},
                "statuses": {str(status): n for status, n in sorted(self._statuses.items())},
                "dropped": self._dropped,
                "uploads": {
                    imodel_id: [upload.summary() for upload in items] for imodel_id, items in self._uploads.items()
                },
                "imodels": {
                    "forbidden": sorted(i for i, a in self._access.items() if a is Access.FORBIDDEN),
                    "unknown": sorted(i for i, a in self._access.items() if a is Access.UNKNOWN),
                    "not_initialized": {
                        imodel_id: {"attempts_left": entry.attempts_left, "ready_at": entry.ready_at}
                        for imodel_id, entry in self._not_initialized.items()
                    },
                },
                "knobs": {
                    "rate_limit_per_minute": self._rate_limit_per_minute,
                    "rate_limit_tier": self._tier.name,
                    "rate_limit_per_hour": self._tier.per_hour,
                    "fail_rate_503": self._fail_rate_503,
                    "fail_rate_429": self._fail_rate_429,
                    "latency_seconds": self._latency,
                    "pending_faults": [
                        {"fault": "drop" if fault.drop else fault.status, "count": count}
                        for fault, count in self._faults.runs()
                    ],
                    "pending_rate_limits": len(self._rate_limit_next),
                    "pending_token_faults": [
                        {"status": status, "count": count} for status, count in self._token_faults.runs()
                    ],
                    **self._holds.summary(),
                },
            }

    # --- what the handlers call (always under ``lock``) ----------------------------------------------------

    def check_client(self, client_id: str, client_secret: str) -> bool:
        expected = self._clients.get(client_id)
        return expected is not None and secrets.compare_digest(expected.encode(), client_secret.encode())

    def issue_token(self, client_id: str) -> tuple[str, int]:
        """A fresh opaque token for the client and its lifetime in seconds."""
        token = secrets.token_urlsafe(32)
        ttl = self.config.token_ttl_seconds
        self._tokens[token] = _Token(client_id, self.clock() + ttl)
        self._tokens_issued += 1
        return token, ttl

    def client_for_token(self, token: str) -> str | None:
        """The client a token was issued to, or None if unknown, revoked or expired."""
        entry = self._tokens.get(token)
        if entry is None:
            return None
        if self.clock() >= entry.expires_at:
            del self._tokens[token]
            return None
        return entry.client_id

    def count_token_request(self) -> None:
        self._token_requests += 1

    def take_token_fault(self) -> int | None:
        return self._token_faults.take()

    def count_put(self, imodel_id: str) -> None:
        self._put_requests[normalize_id(imodel_id)] += 1

    def take_api_fault(self, is_put: bool) -> ServerFault | None:
        """The injected failure for this API request, checked before authentication (the server is down)."""
        fault = self._faults.take()
        if fault is not None:
            return fault
        if is_put and self._fail_rate_503 > 0 and self._rng.random() < self._fail_rate_503:
            return ServerFault(status=503)
        return None

    def check_rate(self, client_id: str, is_put: bool) -> int | None:
        """``retry-after`` seconds if this authenticated call is rate limited, else None.

        Only calls let through count towards the sliding window, so ``retry-after`` is exactly when the
        oldest counted call leaves it (rounded up, at least 1).
        """
        queued = self._rate_limit_next.take()
        if queued is not None:
            return queued
        if is_put and self._fail_rate_429 > 0 and self._rng.random() < self._fail_rate_429:
            return self.config.random_retry_after
        now = self.clock()
        hour = self._tier.check_hour(client_id, now)
        if hour is not None:
            return hour
        limit = self._rate_limit_per_minute
        if limit is not None:
            window = self._windows.setdefault(client_id, deque())
            while window and window[0] <= now - RATE_WINDOW_SECONDS:
                window.popleft()
            if len(window) >= limit:
                return max(1, math.ceil(window[0] + RATE_WINDOW_SECONDS - now))
            window.append(now)
        self._tier.count(client_id, now)
        return None

    def access(self, imodel_id: str, *, attempt: bool) -> Access:
        """How the API treats the iModel; ``attempt`` (a PUT) uses up one of its not-initialized attempts."""
        if not is_guid(imodel_id):
            return Access.UNKNOWN
        key = normalize_id(imodel_id)
        listed = self._access.get(key)
        if listed is not None:
            return listed
        entry = self._not_initialized.get(key)
        if entry is None:
            return Access.OK
        expired = entry.ready_at is not None and self.clock() >= entry.ready_at
        if expired or (entry.attempts_left is not None and entry.attempts_left <= 0):
            del self._not_initialized[key]
            return Access.OK
        if attempt and entry.attempts_left is not None:
            entry.attempts_left -= 1
        return Access.NOT_INITIALIZED

    def store_upload(self, upload: Upload) -> None:
        self._uploads.setdefault(upload.imodel_id, []).append(upload)

    def latest_upload(self, imodel_id: str) -> Upload | None:
        items = self._uploads.get(normalize_id(imodel_id))
        return items[-1] if items else None

    def record_status(self, status: int) -> None:
        self._statuses[status] += 1

    def record_drop(self) -> None:
        self._dropped += 1

    def take_hold(self, *, is_token: bool, is_put: bool) -> Hold | None:
        """The stall or late apply queued for this request, if any (counted as held)."""
        hold = self._holds.take(is_token=is_token, is_put=is_put)
        if hold is not None:
            self._holds.held += 1
        return hold

    def record_abandoned(self) -> None:
        """A stalled request whose client had gone: dropped, never applied."""
        self._holds.abandoned += 1

    def record_late_applied(self) -> None:
        self._holds.late_applied += 1


def _configured_holds(config: EmulatorConfig) -> Holds:
    """The stalls and late applies the start-up config queues (again on every ``reset``)."""
    holds = Holds()
    if config.stall_count:
        holds.stall_next(config.stall_seconds, config.stall_count, config.stall_endpoint)
    if config.late_apply_count:
        holds.late_apply_next(config.late_apply_seconds, config.late_apply_count)
    return holds


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")


def _check_retry_after(seconds: int) -> None:
    """A ``retry-after`` header is a non-negative number of seconds; a client would choke on less."""
    if seconds < 0:
        raise ValueError(f"retry_after must not be negative, got {seconds}")


def _check_server_error(status: int) -> None:
    if status not in SERVER_ERRORS:
        raise ValueError(f"status must be one of {sorted(SERVER_ERRORS)}, got {status}")
