"""The shared pace at the edge: slots for iTwin calls from one blob that every instance updates.

The state (:class:`shared.core.pace.PaceState`) is a small JSON blob, ``{PACE_CONTAINER}/{client
id}.json``, changed only by ETag-conditional writes: one read and one write reserve a batch of slots
for the calls waiting in this instance, and each call then sleeps locally until its slot.  A 429
(``Retry-After``, ``ITwinPlatform-RateLimited-Tier``) and a remaining-calls header are written back
so that every instance slows down, not just the one that was refused.

The store is advisory: when it cannot be reached, or stays contended, this instance falls back to
its own share of the limit (``calls_per_minute / fallback_instances``) for that batch and tries the
store again a little later.  Lost conditional writes are retried with randomized exponential backoff
for up to ``CONTENTION_BUDGET_SECONDS`` before a batch falls back.  A blob never fails because of the
pace; one that cannot get a slot soon enough fails *transiently* (``TooManyRequests``, with the wait)
and is retried later.
"""

from __future__ import annotations

import contextlib
import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from shared.core import pace as core
from shared.core.deadline import Deadline
from shared.core.errors import ErrorCode, Stage, ThumbnailError
from shared.core.retry import parse_retry_after

#: The header a 429 names the client's tier in (developer.bentley.com/apis/overview/rate-limits).
TIER_HEADER = "ITwinPlatform-RateLimited-Tier"
#: The header the rate-limit docs list for the calls left before the limit (sent by some services).
REMAINING_HEADER = "iTwinPlatform-RateLimit-RemainingCalls"

#: The longest wait for a slot inside one attempt.  The caller holds the iModel's delivery record
#: (a 60 s lease) and the PUT itself may take HTTP_CONNECT + HTTP_READ_TIMEOUT; a later slot is
#: refused with its wait, and the retry loop sleeps it and renews the lease before asking again.
MAX_SLOT_WAIT_SECONDS = 20.0
#: Losing conditional writes for this long (seconds) makes this batch fall back to the per-instance
#: pace.  Contention means the store works and other instances are getting slots, so back off and
#: try again for a while rather than drop to a 1/N share at once.
CONTENTION_BUDGET_SECONDS = 15.0
#: After the store fails, this instance paces itself for this long before asking the store again.
STORE_RETRY_SECONDS = 5.0
#: One store request may take this long (connect, and read) before the store counts as unreachable.
STORE_TIMEOUT_SECONDS = 5.0


class _Answer(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


R = TypeVar("R", bound=_Answer)


class Unpaced:
    """No shared pace (``ITWIN_SHARED_PACE=false``): calls go at once and only 429s slow them down."""

    def paced(self, deadline: Deadline | None, send: Callable[[], R]) -> R:
        return send()


@dataclass
class PaceCounters:
    """What the pace did in this process (read by the load run and the tests; never decided on)."""

    store_writes: int = 0
    conflicts: int = 0
    fallback_batches: int = 0
    store_failures: int = 0
    contention_fallbacks: int = 0
    refused: int = 0
    corrections: int = 0


class SharedPace:
    """Slots for one iTwin client's calls, shared through ``blob`` (None: the per-instance pace only)."""

    def __init__(
        self,
        settings: core.PaceSettings,
        blob: BlobClient | None,
        *,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        contention_budget: float = CONTENTION_BUDGET_SECONDS,
    ) -> None:
        self._settings = settings
        self._contention_budget = contention_budget
        self._blob = blob
        self._wall = wall
        self._sleep = sleep
        self._random = random
        self._configured = core.Limits(settings.calls_per_minute, settings.calls_per_hour)
        self._fallback_limits = self._configured.share(settings.fallback_instances)
        self._local = core.PaceState()
        self._slots: list[float] = []
        self._waiting = 0
        self._store_down_until = 0.0
        self._lock = threading.Lock()
        self.counters = PaceCounters()

    # -- the one call the iTwin client makes ------------------------------------------------------

    def paced(self, deadline: Deadline | None, send: Callable[[], R]) -> R:
        """Wait for a slot, make the call, and learn from its answer."""
        self.wait_for_slot(deadline)
        response = send()
        self.observe(response.status_code, response.headers)
        return response

    def wait_for_slot(self, deadline: Deadline | None) -> float:
        """Sleep until this call's slot (returned); a transient ``TooManyRequests`` carrying the wait if
        none comes within ``MAX_SLOT_WAIT_SECONDS`` and before ``deadline``."""
        now = self._wall()
        latest = now + MAX_SLOT_WAIT_SECONDS
        if deadline is not None:
            latest = min(latest, now + deadline.remaining())
        with self._lock:
            self._waiting += 1
        try:
            with self._lock:
                slot = self._take(latest)
        finally:
            with self._lock:
                self._waiting -= 1
        wait = slot - self._wall()
        if wait > 0:
            self._sleep(wait)
        return slot

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Correct the pace from an answer: a 429's ``Retry-After`` and tier, or a remaining-calls count."""
        now = self._wall()
        if status == 429:
            retry_after = parse_retry_after(headers.get("retry-after"))
            tier = headers.get(TIER_HEADER)
            self._update(lambda state: core.rate_limited(state, now, retry_after, tier))
            with self._lock:
                pause = now + (retry_after if retry_after is not None else 1.0)
                self._slots = [slot for slot in self._slots if slot >= pause]
            return
        remaining = _integer(headers.get(REMAINING_HEADER))
        if remaining is not None and remaining < core.burst(self._configured):
            self._update(lambda state: core.remaining_calls(state, self._configured, now, max(remaining, 0)))

    # -- slots ----------------------------------------------------------------------------------

    def _take(self, latest: float) -> float:
        """The earliest usable slot, reserving a batch when none is left (called under the lock)."""
        now = self._wall()
        self._slots = [slot for slot in self._slots if slot >= now - core.SLOT_GRACE]
        if not self._slots:
            got = self._reserve(min(self._settings.max_batch, max(1, self._waiting)), now, latest)
            if isinstance(got, float):
                self.counters.refused += 1
                raise _no_slot(got - now)
            self._slots = sorted(got)
        slot = self._slots[0]
        if slot > latest:
            self.counters.refused += 1
            raise _no_slot(slot - now)
        return self._slots.pop(0)

    def _reserve(self, count: int, now: float, latest: float) -> tuple[float, ...] | float:
        if self._blob is None or now < self._store_down_until:
            return self._reserve_locally(count, now, latest)
        give_up_at = self._wall() + self._contention_budget
        conflicts = 0
        while True:
            try:
                state, etag = self._read()
            except AzureError:
                return self._store_failed(count, self._wall(), latest)
            now = self._wall()  # after the read: a slot is never earlier than the state it was taken from
            got = core.reserve(state, self._configured, now, count, latest)
            if isinstance(got, float):
                return got
            try:
                self._write(got.state, etag)
            except (ResourceModifiedError, ResourceExistsError):
                self.counters.conflicts += 1
                conflicts += 1
                if self._wall() >= give_up_at:
                    self.counters.contention_fallbacks += 1
                    return self._reserve_locally(count, self._wall(), latest)
                self._back_off(conflicts)
                continue
            except AzureError:
                return self._store_failed(count, now, latest)
            self.counters.store_writes += 1
            return got.slots

    def _back_off(self, conflicts: int) -> None:
        """Randomized exponential backoff after a lost write, so contending instances spread out."""
        ceiling = min(1.0, 0.01 * 2**conflicts)
        self._sleep(ceiling * (0.5 + self._random()))

    def _store_failed(self, count: int, now: float, latest: float) -> tuple[float, ...] | float:
        self.counters.store_failures += 1
        self._store_down_until = now + STORE_RETRY_SECONDS
        return self._reserve_locally(count, now, latest)

    def _reserve_locally(self, count: int, now: float, latest: float) -> tuple[float, ...] | float:
        """This instance's own share of the limit: slower, but safe with ``fallback_instances`` running."""
        self.counters.fallback_batches += 1
        got = core.reserve(self._local, self._fallback_limits, now, count, latest)
        if isinstance(got, float):
            return got
        self._local = got.state
        return got.slots

    def _update(self, change: Callable[[core.PaceState], core.PaceState]) -> None:
        """Apply a correction to the shared state (best effort) and to the local fallback state."""
        self.counters.corrections += 1
        with self._lock:
            self._local = change(self._local)
        if self._blob is None:
            return
        give_up_at = self._wall() + self._contention_budget
        conflicts = 0
        while self._wall() < give_up_at:
            try:
                state, etag = self._read()
                self._write(change(state), etag)
                return
            except (ResourceModifiedError, ResourceExistsError):
                self.counters.conflicts += 1
                conflicts += 1
                self._back_off(conflicts)
            except AzureError:
                return

    # -- the store ------------------------------------------------------------------------------

    def _read(self) -> tuple[core.PaceState, str | None]:
        assert self._blob is not None
        try:
            download = self._blob.download_blob(**_QUICK)
            data = download.readall()
        except ResourceNotFoundError:
            return core.PaceState(), None
        return core.PaceState.from_json(data), download.properties.etag

    def _write(self, state: core.PaceState, etag: str | None) -> None:
        assert self._blob is not None
        if etag is None:
            self._blob.upload_blob(state.to_json(), overwrite=False, **_QUICK)
        else:
            self._blob.upload_blob(
                state.to_json(), overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified, **_QUICK
            )


#: Per-request options for the pace blob: fail fast and do not let the SDK retry (the fallback is ours).
_QUICK: dict[str, Any] = {
    "retry_total": 0,
    "connection_timeout": STORE_TIMEOUT_SECONDS,
    "read_timeout": STORE_TIMEOUT_SECONDS,
}


def pace_blob(container: ContainerClient, client_id: str) -> BlobClient:
    """The one blob that holds the pace of ``client_id`` (creating the container if it is missing)."""
    # It may exist already; or the store is down, which the pace survives.
    with contextlib.suppress(AzureError):
        container.create_container(**_QUICK)
    return container.get_blob_client(f"{_safe(client_id)}.json")


def _safe(client_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in client_id) or "client"


def _integer(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None


def _no_slot(wait: float) -> ThumbnailError:
    return ThumbnailError(
        ErrorCode.TOO_MANY_REQUESTS,
        f"The shared iTwin pace has no slot within {MAX_SLOT_WAIT_SECONDS:.0f} s or before this invocation's "
        f"deadline (next in {wait:.0f} s); waited for in the retry loop if it fits, else the blob is retried later.",
        stage=Stage.UPLOAD,
        details={"paced": True, "retry_after": round(max(wait, 0.0), 3)},
    )


def shared_pace(
    settings: core.PaceSettings,
    blobs: BlobServiceClient,
    client_id: str,
    *,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SharedPace | Unpaced:
    """The pace one process's iTwin client uses: shared through the store, or none when disabled.

    ``wall`` is seconds on a clock every instance shares (the epoch), ``sleep`` how this process waits.
    """
    if not settings.enabled:
        return Unpaced()
    blob = pace_blob(blobs.get_container_client(settings.container), client_id)
    return SharedPace(settings, blob, wall=wall, sleep=sleep)
