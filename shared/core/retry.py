"""When to try again, and for how long: pure decisions plus one small loop with injected time.

The decision (:func:`next_delay`) is a pure function of the failure, the attempt number and the
time already spent, so every branch is tested without waiting.  :func:`call_with_retries` runs an
operation under it with an injected ``clock`` and ``sleep``.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from shared.core.deadline import Deadline
from shared.core.errors import ErrorCode, ThumbnailError


@dataclass(frozen=True)
class RetrySettings:
    """Bounds on how long one invocation, and one blob across invocations, may keep trying.  Filled in
    by ``shared.settings.load_retry_settings`` from the settings' one declaration (no defaults here)."""

    budget_seconds: float
    retry_after_cap_seconds: float
    not_initialized_window_seconds: float
    max_delivery_attempts: int


T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for one invocation.  ``budget_seconds`` stays well under host.json's functionTimeout.

    The two bounds that are app settings (``RETRY_BUDGET_SECONDS``, ``RETRY_AFTER_CAP_SECONDS``) have
    no defaults here: :meth:`from_settings` takes them from the settings' one declaration.
    """

    budget_seconds: float
    retry_after_cap_seconds: float
    base_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    not_initialized_interval_seconds: float = 30.0
    max_attempts: int = 20

    @classmethod
    def from_settings(cls, retry: RetrySettings) -> RetryPolicy:
        """The policy for one invocation, bounded by the app settings."""
        return cls(budget_seconds=retry.budget_seconds, retry_after_cap_seconds=retry.retry_after_cap_seconds)


def parse_retry_after(value: str | None) -> float | None:
    """``retry-after`` in seconds (the API sends an integer); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def next_delay(
    error: ThumbnailError,
    attempt: int,
    elapsed: float,
    policy: RetryPolicy,
    random: Callable[[], float] = _random.random,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to stop trying in this invocation.

    - permanent failures: never retried;
    - 429: exactly what ``retry-after`` says; longer than the cap means "not in this invocation";
    - 409 iModelNotInitialized: a slow, jittered poll (initialization takes minutes);
    - everything else transient: exponential backoff with jitter (half fixed, half random), so a
      burst of failures does not come back in lockstep.
    The wait must also fit in what is left of the budget.
    """
    if not error.transient or attempt >= policy.max_attempts:
        return None
    if error.code is ErrorCode.TOO_MANY_REQUESTS:
        # A refusal by the shared pace (no API call made) carries its wait in ``details``.
        retry_after = error.api.retry_after if error.api else error.details.get("retry_after")
        delay = policy.base_backoff_seconds if retry_after is None else retry_after
        if delay > policy.retry_after_cap_seconds:
            return None
    elif error.code is ErrorCode.IMODEL_NOT_INITIALIZED:
        delay = policy.not_initialized_interval_seconds * (0.75 + 0.5 * random())
    else:
        ceiling = min(policy.max_backoff_seconds, policy.base_backoff_seconds * 2 ** (attempt - 1))
        delay = ceiling / 2 + random() * ceiling / 2
    if elapsed + delay > policy.budget_seconds:
        return None
    return delay


@dataclass
class Attempts:
    """How many calls one :func:`call_with_retries` made, and what each retry waited."""

    count: int = 0
    waits: list[float] | None = None


def call_with_retries(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    random: Callable[[], float] = _random.random,
    attempts: Attempts | None = None,
    on_retry: Callable[[ThumbnailError, float], None] | None = None,
    deadline: Deadline | None = None,
) -> T:
    """Run ``operation`` until it succeeds, fails permanently, or the policy says stop.

    ``deadline`` is the invocation's (one for every wait it makes): no wait is started that would
    end past it, whatever the policy's own budget says.  The last error is re-raised unchanged, so a
    transient one stays transient and the caller (the host, or ``drain``) decides what happens next.
    """
    record = attempts if attempts is not None else Attempts()
    record.waits = record.waits if record.waits is not None else []
    started = clock()
    while True:
        record.count += 1
        try:
            return operation()
        except ThumbnailError as error:
            delay = next_delay(error, record.count, clock() - started, policy, random)
            if delay is None or (deadline is not None and not deadline.allows(delay)):
                raise
            if on_retry is not None:
                on_retry(error, delay)
            record.waits.append(delay)
            sleep(delay)
