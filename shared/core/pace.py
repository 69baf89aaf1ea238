"""The pace of iTwin calls for one client: pure slot arithmetic shared by every instance.

The iTwin Platform limits calls per OAuth client (developer.bentley.com/apis/overview/rate-limits:
Trial/Community 500 per minute plus a cap of 5,000 per hour, paid tiers 5,000 per minute; a 429
carries ``Retry-After`` in seconds and ``ITwinPlatform-RateLimited-Tier``).  Every refused call
still counts, so many instances that only react to 429s burn the quota on refusals.  Instead, each
call takes a *slot*: a wall-clock time at which it may go.  The slots come from a generic cell rate
algorithm (GCRA) whose one number, ``tat`` (the theoretical arrival time of the next slot), lives in
a store every instance reaches (:mod:`shared.edges.pace`); taking a batch of slots is one
conditional write, and the wait for a slot happens locally, so nobody polls the store.

Bounds, for a limit of ``L`` calls per minute: slots are ``interval = 60 / (L * RATE_SHARE)`` apart
with a burst of ``burst`` slots, so any 60-second window holds at most ``(60 + SLOT_GRACE) /
interval + burst <= L`` calls even when each call goes up to ``SLOT_GRACE`` seconds after its slot.
The hourly cap counts slots per minute and keeps any 61 consecutive minutes under
``HOUR_SHARE * cap``.  Everything here is pure: the store, the clock and the sleeping are the edge's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

#: The share of the per-minute limit the pace plans to use (the rest absorbs clock skew and bursts).
RATE_SHARE = 0.95
#: The share of the hourly cap the pace plans to use.
HOUR_SHARE = 0.98
#: A slot may be used this long after its time; later, it is dropped (never used late in a bunch).
SLOT_GRACE = 1.0
#: Bentley's documented tiers: calls per minute and the hourly cap (None: no cap).  The docs have
#: named the entry tier both "Trial" and "Community" and the next "Basic" and "Standard".
TIER_LIMITS: dict[str, tuple[int, int | None]] = {
    "trial": (500, 5000),
    "community": (500, 5000),
    "basic": (5000, None),
    "standard": (5000, None),
    "premium": (5000, None),
    "custom": (5000, None),
}


#: Slots one store write may reserve for the calls waiting in one instance: a policy constant.
PACE_MAX_BATCH = 4


@dataclass(frozen=True)
class PaceSettings:
    """How fast one iTwin client may call: the tier's limits, where the shared pace lives, the fallback."""

    enabled: bool
    calls_per_minute: int
    calls_per_hour: int | None
    container: str
    #: Without the store, each instance assumes this many instances share the limit.
    fallback_instances: int
    #: Slots one store write may reserve for the calls waiting in one instance (:data:`PACE_MAX_BATCH`).
    max_batch: int


@dataclass(frozen=True)
class Limits:
    per_minute: int
    per_hour: int | None

    def share(self, instances: int) -> Limits:
        """One instance's part when ``instances`` share the limit (the fallback pace), never below 1."""
        hour = None if self.per_hour is None else max(1, self.per_hour // instances)
        return Limits(max(1, self.per_minute // instances), hour)

    def lowered_to(self, other: Limits) -> Limits:
        hours = [h for h in (self.per_hour, other.per_hour) if h is not None]
        return Limits(min(self.per_minute, other.per_minute), min(hours) if hours else None)


def interval(limits: Limits) -> float:
    """Seconds between two slots."""
    return 60.0 / (limits.per_minute * RATE_SHARE)


def burst(limits: Limits) -> int:
    """Slots that may go at once after a quiet spell, while any minute stays under the limit."""
    planned = limits.per_minute * RATE_SHARE * (60.0 + SLOT_GRACE) / 60.0
    return max(1, math.floor(limits.per_minute - planned))


def tier_limits(tier: str | None) -> Limits | None:
    """The limits of a tier named by ``ITwinPlatform-RateLimited-Tier`` (None if unknown)."""
    if not tier:
        return None
    known = TIER_LIMITS.get(tier.strip().lower())
    return None if known is None else Limits(*known)


@dataclass(frozen=True)
class PaceState:
    """What the store holds for one client: the next slot, a pause, learned limits, slots per minute."""

    tat: float = 0.0
    paused_until: float = 0.0
    learned: Limits | None = None
    minutes: tuple[tuple[int, int], ...] = ()

    def limits(self, configured: Limits) -> Limits:
        return configured if self.learned is None else configured.lowered_to(self.learned)

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "tat": self.tat,
            "pausedUntil": self.paused_until,
            "minutes": [list(m) for m in self.minutes],
        }
        if self.learned is not None:
            body["learned"] = {"perMinute": self.learned.per_minute, "perHour": self.learned.per_hour}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PaceState:
        """The stored state; anything unreadable starts afresh (the pace is advisory, the 429 is the law)."""
        try:
            body = json.loads(data)
            learned = body.get("learned")
            return cls(
                tat=float(body["tat"]),
                paused_until=float(body.get("pausedUntil", 0.0)),
                learned=None if learned is None else Limits(int(learned["perMinute"]), learned.get("perHour")),
                minutes=tuple((int(m), int(n)) for m, n in body.get("minutes", [])),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()


@dataclass(frozen=True)
class Grant:
    """Slots (wall-clock times, earliest first) a caller may use, and the state to store for them."""

    slots: tuple[float, ...]
    state: PaceState


def reserve(state: PaceState, configured: Limits, now: float, count: int, latest: float) -> Grant | float:
    """Take up to ``count`` slots no later than ``latest``; or, if not even one fits, the first slot's time.

    Returning the time (and no new state) means nothing is written: a refused caller costs the store
    one read, and the blob is retried later.
    """
    limits = state.limits(configured)
    step = interval(limits)
    tolerance = (burst(limits) - 1) * step
    minutes = dict(m for m in state.minutes if m[0] >= math.floor(now / 60.0) - 61)
    tat = state.tat
    slots: list[float] = []
    for _ in range(count):
        slot = max(now, tat - tolerance, state.paused_until)
        slot = _within_hourly_cap(slot, minutes, limits)
        if slot > latest:
            break
        slots.append(slot)
        minute = math.floor(slot / 60.0)
        minutes[minute] = minutes.get(minute, 0) + 1
        tat = max(tat, slot) + step
    if not slots:
        first = max(now, state.tat - tolerance, state.paused_until)
        return _within_hourly_cap(first, minutes, limits)
    return Grant(tuple(slots), replace(state, tat=tat, minutes=tuple(sorted(minutes.items()))))


def _within_hourly_cap(slot: float, minutes: dict[int, int], limits: Limits) -> float:
    """The earliest time at or after ``slot`` at which 61 consecutive minutes hold room for one more."""
    if limits.per_hour is None:
        return slot
    cap = max(1, math.floor(limits.per_hour * HOUR_SHARE))
    while True:
        minute = math.floor(slot / 60.0)
        used = sorted((m, n) for m, n in minutes.items() if minute - 60 <= m <= minute)
        if sum(n for _, n in used) < cap:
            return slot
        slot = (used[0][0] + 61) * 60.0


def rate_limited(state: PaceState, now: float, retry_after: float | None, tier: str | None) -> PaceState:
    """A 429 arrived: nobody sends before ``Retry-After`` ends, and a named tier lowers the limits."""
    learned = tier_limits(tier)
    if learned is not None and state.learned is not None:
        learned = state.learned.lowered_to(learned)
    pause = now + (retry_after if retry_after is not None else 1.0)
    return replace(
        state,
        paused_until=max(state.paused_until, pause),
        tat=max(state.tat, pause),
        learned=learned if learned is not None else state.learned,
    )


def remaining_calls(state: PaceState, configured: Limits, now: float, remaining: int) -> PaceState:
    """The API said only ``remaining`` calls are left: the burst available from ``now`` shrinks to that."""
    limits = state.limits(configured)
    step = interval(limits)
    tolerance = (burst(limits) - 1) * step
    return replace(state, tat=max(state.tat, now + tolerance - (remaining - 1) * step))
