"""The pace's slot arithmetic (pure): whatever the callers ask and whenever, the slots it hands out
keep every 60-second window under the per-minute limit and every hour under the cap, and a 429
(``Retry-After``, ``ITwinPlatform-RateLimited-Tier``) or a remaining-calls count slows it down.

The limits and headers are Bentley's (developer.bentley.com/apis/overview/rate-limits).
"""

from __future__ import annotations

import bisect
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.pace import (
    SLOT_GRACE,
    Grant,
    Limits,
    PaceState,
    burst,
    interval,
    rate_limited,
    remaining_calls,
    reserve,
)

TRIAL = Limits(500, 5000)
PAID = Limits(5000, None)


def most_in_any_window(times: list[float], width: float) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0)


def run(requests: list[tuple[float, int]], limits: Limits, state: PaceState | None = None) -> list[float]:
    """Callers arriving ``gap`` seconds apart, each asking for ``count`` slots; every slot taken."""
    state = state or PaceState(tat=0.0)
    now, slots = 1_000_000.0, list[float]()
    for gap, count in requests:
        now += gap
        got = reserve(state, limits, now, count, math.inf)
        assert isinstance(got, Grant)
        assert all(slot >= now for slot in got.slots)
        state = got.state
        slots += got.slots
    return slots


arrivals = st.lists(st.tuples(st.floats(0.0, 2.0), st.integers(1, 8)), min_size=1, max_size=400)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(arrivals, st.sampled_from([Limits(60, None), Limits(500, None), PAID, Limits(7, None)]))
def test_no_minute_holds_more_than_the_limit_even_with_late_calls(requests, limits) -> None:
    slots = run(requests, limits)
    # Each call may go up to SLOT_GRACE after its slot: the window is widened by that much.
    assert most_in_any_window(slots, 60.0 + SLOT_GRACE) <= limits.per_minute


@settings(max_examples=25, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 30.0), st.integers(1, 8)), min_size=50, max_size=600))
def test_no_hour_holds_more_than_the_cap(requests) -> None:
    limits = Limits(500, 300)
    slots = run(requests, limits)
    assert most_in_any_window(slots, 3600.0) <= 300
    assert most_in_any_window(slots, 60.0 + SLOT_GRACE) <= 500


def test_a_busy_pace_runs_close_to_the_limit() -> None:
    slots = run([(0.0, 4)] * 500, Limits(500, None))  # 2,000 calls asked for at once
    span = max(slots) - min(slots)
    assert span == pytest.approx((2000 - burst(TRIAL)) * interval(TRIAL))
    # 2,000 calls at 500 a minute take 240 s at best; the pace plans 95 % of the limit.
    assert 1.0 < span / 240.0 < 1.06


def test_the_hourly_cap_holds_back_slots_until_old_minutes_leave_the_hour() -> None:
    slots = run([(0.0, 8)] * 700, TRIAL)  # 5,600 calls, more than the 4,900 the pace plans per hour
    planned = math.floor(5000 * 0.98)
    first_hour = [s for s in slots if s < min(slots) + 3600.0]
    assert len(first_hour) == planned
    assert max(slots) - min(slots) > 3600.0


def test_a_slot_past_the_deadline_is_refused_and_nothing_is_written() -> None:
    state = PaceState(tat=2000.0)
    got = reserve(state, TRIAL, now=1000.0, count=1, latest=1500.0)
    assert isinstance(got, float)
    assert got == 2000.0 - (burst(TRIAL) - 1) * interval(TRIAL)


def test_a_429_pauses_everyone_until_retry_after_and_its_tier_lowers_the_limit() -> None:
    state = rate_limited(PaceState(tat=0.0), now=1000.0, retry_after=42.0, tier="Trial")
    assert state.paused_until == 1042.0
    assert state.limits(PAID) == TRIAL  # configured as a paid tier, but the API says Trial
    got = reserve(state, PAID, now=1001.0, count=3, latest=math.inf)
    assert isinstance(got, Grant)
    assert got.slots[0] == 1042.0
    # An unknown tier name changes no limit, and a later pause never shortens an earlier one.
    again = rate_limited(state, now=1002.0, retry_after=1.0, tier="Platinum-2099")
    assert again.paused_until == 1042.0
    assert again.limits(PAID) == TRIAL


def test_a_429_without_retry_after_still_pauses_a_second() -> None:
    assert rate_limited(PaceState(), now=10.0, retry_after=None, tier=None).paused_until == 11.0


def test_remaining_calls_shrink_the_burst() -> None:
    fresh = PaceState(tat=0.0)
    full = reserve(fresh, TRIAL, now=1000.0, count=burst(TRIAL), latest=1000.0)
    assert isinstance(full, Grant)
    assert len(full.slots) == burst(TRIAL)  # a quiet pace allows its whole burst at once
    shrunk = remaining_calls(fresh, TRIAL, now=1000.0, remaining=2)
    now_only = reserve(shrunk, TRIAL, now=1000.0, count=burst(TRIAL), latest=1000.0)
    assert isinstance(now_only, Grant)
    assert len(now_only.slots) == 2


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.binary(max_size=200))
def test_an_unreadable_store_starts_afresh(data: bytes) -> None:
    assert isinstance(PaceState.from_json(data), PaceState)


def test_the_state_survives_its_json() -> None:
    state = rate_limited(PaceState(tat=5.0, minutes=((1, 2), (3, 4))), now=7.0, retry_after=3.0, tier="Trial")
    assert PaceState.from_json(state.to_json()) == state
