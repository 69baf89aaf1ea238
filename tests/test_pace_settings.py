"""The pace's settings: the tier's limits, the hourly cap that paid tiers turn off, the store's name."""

from __future__ import annotations

import pytest

from shared.settings import SettingsError, load_settings

BASE = {
    "THUMBNAILS_STORAGE": "UseDevelopmentStorage=true",
    "ITWIN_CLIENT_ID": "client",
    "ITWIN_CLIENT_SECRET": "secret",
}


def test_the_defaults_are_the_trial_tier_shared_through_the_store() -> None:
    pace = load_settings(BASE).pace
    assert (pace.enabled, pace.calls_per_minute, pace.calls_per_hour) == (True, 500, 5000)
    assert (pace.container, pace.fallback_instances) == ("thumbnails-pace", 40)


def test_a_paid_tier_has_no_hourly_cap() -> None:
    pace = load_settings({**BASE, "ITWIN_CALLS_PER_MINUTE": "5000", "ITWIN_CALLS_PER_HOUR": "None"}).pace
    assert (pace.calls_per_minute, pace.calls_per_hour) == (5000, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ITWIN_CALLS_PER_MINUTE", "0"),
        ("ITWIN_CALLS_PER_HOUR", "lots"),
        ("ITWIN_SHARED_PACE", "maybe"),
        ("PACE_FALLBACK_INSTANCES", "0"),
        ("PACE_CONTAINER", "thumbnails-state"),
    ],
)
def test_a_bad_pace_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, name: value})
    assert caught.value.name == name
