"""The emulator's tier knob: an hourly cap over a sliding hour, and ``ITwinPlatform-RateLimited-Tier``
on every 429 next to ``retry-after``.

The real part is the iTwin Platform's rate limiting as developer.bentley.com/apis/overview/rate-limits
describes it: Trial clients have 500 calls per minute plus a cap of 5,000 calls per hour; a 429 carries
the standard ``Retry-After`` (seconds to wait) and ``ITwinPlatform-RateLimited-Tier``.  Like the real
API, a client that keeps calling while refused keeps being refused.
"""

from __future__ import annotations

import pytest

from devkit.emulator import EmulatorConfig
from tests.devkit.emulator.conftest import Client, FakeClock, assert_json

TOO_MANY = {
    "error": {
        "code": "TooManyRequests",
        "message": "More requests were received than the subscription rate-limit allows.",
    }
}


@pytest.mark.parametrize(
    "config", [EmulatorConfig(rate_limit_tier="Trial", rate_limit_per_hour=3, token_ttl_seconds=86400)]
)
def test_the_hourly_cap_holds_over_a_sliding_hour(client: Client, clock: FakeClock) -> None:
    for _ in range(3):
        assert client.put().status_code == 201
        clock.advance(600)  # calls at t = 0, 600, 1200
    response = client.put()  # t = 1800: the first call leaves the hour at t = 3600
    assert_json(response, 429, TOO_MANY)
    assert response.headers["retry-after"] == "1800"
    assert response.headers["ITwinPlatform-RateLimited-Tier"] == "Trial"
    clock.advance(1800)
    assert client.put().status_code == 201
    assert client.put().status_code == 429  # the call at t = 600 is still inside the hour


@pytest.mark.parametrize("config", [EmulatorConfig(rate_limit_per_minute=2, rate_limit_tier="Trial")])
def test_a_minute_429_names_the_tier_too(client: Client) -> None:
    assert [client.put().status_code for _ in range(2)] == [201, 201]
    response = client.put()
    assert_json(response, 429, TOO_MANY)
    assert response.headers["retry-after"] == "60"
    assert response.headers["ITwinPlatform-RateLimited-Tier"] == "Trial"


def test_without_a_tier_a_429_has_no_tier_header(client: Client) -> None:
    client.emu.state.set_rate_limit(1)
    assert client.put().status_code == 201
    response = client.put()
    assert response.status_code == 429
    assert "ITwinPlatform-RateLimited-Tier" not in response.headers


def test_the_tier_knob_is_an_admin_endpoint(client: Client, clock: FakeClock) -> None:
    assert client.admin("tier", {"name": "Community", "per_hour": 1}).status_code < 300
    assert client.put().status_code == 201
    response = client.put()
    assert response.status_code == 429
    assert response.headers["ITwinPlatform-RateLimited-Tier"] == "Community"
    assert client.emu.state.summary()["knobs"]["rate_limit_per_hour"] == 1
    assert client.admin("tier", {"per_hour": 0}).status_code == 400
