"""The client's subscription tier: an hourly cap over a sliding hour, and the tier header on every 429.

Bentley's rate-limit page (developer.bentley.com/apis/overview/rate-limits) gives Trial (also named
Community) clients 500 calls per minute plus a cap of 5,000 calls per hour, and says a 429 carries the
standard ``Retry-After`` (seconds to wait) and ``ITwinPlatform-RateLimited-Tier``.  The per-minute
window stays in :mod:`devkit.emulator.state`; this module adds the hour and the header, and is a knob
of its own (``State.set_tier``, admin ``tier``).  Like the real API, refused calls are not let through
but a client that ignores ``Retry-After`` keeps being refused.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

#: The header a real 429 names the client's tier in (spelling as on the rate-limit page).
TIER_HEADER = "ITwinPlatform-RateLimited-Tier"
HOUR_SECONDS = 3600.0


@dataclass
class Tier:
    """A tier name (None: no header) and an optional hourly cap, with one sliding hour per client."""

    name: str | None = None
    per_hour: int | None = None
    _hours: dict[str, deque[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.per_hour is not None and self.per_hour < 1:
            raise ValueError(f"per_hour must be at least 1, got {self.per_hour}")

    def check_hour(self, client_id: str, now: float) -> int | None:
        """``retry-after`` seconds if the client used its hourly cap, else None (the call is not counted yet)."""
        if self.per_hour is None:
            return None
        window = self._hours.setdefault(client_id, deque())
        while window and window[0] <= now - HOUR_SECONDS:
            window.popleft()
        if len(window) >= self.per_hour:
            return max(1, math.ceil(window[0] + HOUR_SECONDS - now))
        return None

    def count(self, client_id: str, now: float) -> None:
        """A call was let through: it counts against the hour."""
        if self.per_hour is not None:
            self._hours.setdefault(client_id, deque()).append(now)

    def headers(self, retry_after: int) -> tuple[tuple[str, str], ...]:
        """The headers of a 429: ``retry-after``, and the tier when one is set."""
        base = (("retry-after", str(retry_after)),)
        return base if self.name is None else (*base, (TIER_HEADER, self.name))
