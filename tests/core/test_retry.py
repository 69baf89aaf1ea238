import pytest

from shared.core.errors import ApiFailure, ErrorCode, ThumbnailError
from shared.core.retry import Attempts, RetryPolicy, call_with_retries, next_delay, parse_retry_after

POLICY = RetryPolicy(budget_seconds=120, retry_after_cap_seconds=30, base_backoff_seconds=1, max_backoff_seconds=16)


def error(code, retry_after=None):
    api = ApiFailure(status=429, body=None, retry_after=retry_after) if retry_after is not None else None
    return ThumbnailError(code, "x", api=api)


def test_permanent_errors_are_never_retried():
    assert next_delay(error(ErrorCode.INSUFFICIENT_PERMISSIONS), 1, 0, POLICY) is None


def test_429_waits_exactly_retry_after():
    assert next_delay(error(ErrorCode.TOO_MANY_REQUESTS, retry_after=7), 1, 0, POLICY) == 7


def test_429_longer_than_the_cap_ends_the_invocation():
    assert next_delay(error(ErrorCode.TOO_MANY_REQUESTS, retry_after=31), 1, 0, POLICY) is None


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    low = [next_delay(error(ErrorCode.API_SERVER_ERROR), n, 0, POLICY, random=lambda: 0.0) for n in (1, 2, 3, 4, 5, 6)]
    high = [next_delay(error(ErrorCode.API_SERVER_ERROR), n, 0, POLICY, random=lambda: 1.0) for n in (1, 2, 3, 4, 5, 6)]
    assert low == [0.5, 1, 2, 4, 8, 8]
    assert high == [1, 2, 4, 8, 16, 16]


def test_no_wait_runs_past_the_budget():
    assert next_delay(error(ErrorCode.API_SERVER_ERROR), 1, 119.9, POLICY, random=lambda: 1.0) is None
    assert next_delay(error(ErrorCode.API_SERVER_ERROR), 1, 118.0, POLICY, random=lambda: 1.0) == 1


def test_not_initialized_polls_slowly():
    delay = next_delay(error(ErrorCode.IMODEL_NOT_INITIALIZED), 1, 0, POLICY, random=lambda: 0.5)
    assert delay == POLICY.not_initialized_interval_seconds


@pytest.mark.parametrize(("raw", "seconds"), [("5", 5.0), (" 0 ", 0.0), ("-1", None), ("soon", None), (None, None)])
def test_parse_retry_after(raw, seconds):
    assert parse_retry_after(raw) == seconds


def test_call_with_retries_sleeps_between_attempts_and_returns_the_result():
    slept = []
    now = [0.0]
    failures = [error(ErrorCode.TOO_MANY_REQUESTS, retry_after=3), error(ErrorCode.API_UNREACHABLE)]

    def operation():
        if failures:
            raise failures.pop(0)
        return "done"

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    attempts = Attempts()
    result = call_with_retries(
        operation, POLICY, clock=lambda: now[0], sleep=sleep, random=lambda: 0.0, attempts=attempts
    )
    assert result == "done"
    assert attempts.count == 3
    assert slept == [3, 1.0]


def test_call_with_retries_reraises_a_permanent_error_at_once():
    calls = []

    def operation():
        calls.append(1)
        raise error(ErrorCode.IMODEL_NOT_FOUND)

    with pytest.raises(ThumbnailError) as caught:
        call_with_retries(operation, POLICY, clock=lambda: 0.0, sleep=lambda s: None)
    assert caught.value.code is ErrorCode.IMODEL_NOT_FOUND
    assert len(calls) == 1


def test_call_with_retries_gives_up_when_the_budget_is_spent_and_keeps_the_error_transient():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    with pytest.raises(ThumbnailError) as caught:
        call_with_retries(
            lambda: (_ for _ in ()).throw(error(ErrorCode.API_SERVER_ERROR)),
            POLICY,
            clock=lambda: now[0],
            sleep=sleep,
            random=lambda: 1.0,
        )
    assert caught.value.transient
    assert now[0] <= POLICY.budget_seconds
