"""The ordering rule and the record, pure: a total, deterministic order over drops, ties and
redrives included; a record that round-trips; and a record that fails closed."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import ThumbnailError
from shared.core.lifecycle import Action, DropKey, Facts, decide, parse_instant
from shared.delivery.record import DeliveryRecord, Pending, SentDrop

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEYS = st.builds(
    DropKey,
    dropped=st.sampled_from([T0, T0.replace(second=1), T0.replace(day=2)]),
    name=st.sampled_from(["m/a.png", "m/b.png", "m/é.png", "m/東.png"]),
    etag=st.sampled_from(["0x1", "0x2"]),
)


def verdict(ours, recorded):
    return decide(Facts(ours=ours, recorded=recorded))


def test_nothing_recorded_means_send():
    assert verdict(DropKey(T0, "m/a.png", "0x1"), None) is Action.SEND


def test_the_same_version_is_never_sent_twice():
    key = DropKey(T0, "m/a.png", "0x1")
    assert verdict(key, key) is Action.ALREADY_SENT


def test_same_second_ties_go_to_the_greater_name():
    a = DropKey(T0, "m/a.png", "0x1")
    b = DropKey(T0, "m/b.png", "0x1")
    assert verdict(a, b) is Action.SUPERSEDED
    assert verdict(b, a) is Action.SEND


def test_a_new_version_of_the_recorded_path_is_sent_even_in_the_same_second():
    old = DropKey(T0, "m/a.png", "0x1")
    new = DropKey(T0, "m/a.png", "0x2")
    assert verdict(new, old) is Action.SEND


def test_a_blob_replaced_since_it_was_read_is_left_to_its_own_event():
    assert decide(Facts(ours=DropKey(T0, "m/a.png", "0x1"), recorded=None, still_current=False)) is Action.REPLACED


@pytest.mark.parametrize("final", [True, False])
def test_a_sent_blob_is_never_dead_lettered(final):
    assert decide(Facts(failed=True, final=final, sent=True)) is Action.RETRY
    assert decide(Facts(failed=True, final=final, sent=False)) is (Action.DEADLETTER if final else Action.RETRY)


@settings(derandomize=True, max_examples=300)
@given(KEYS, KEYS)
def test_of_two_different_drops_exactly_one_order_wins(x, y):
    """Whatever order two drops are delivered in, the one that ends on the iModel is the same."""
    if (x.name, x.etag) == (y.name, y.etag) or (x.order == y.order):
        return
    x_after_y = verdict(x, y) is Action.SEND  # y recorded, x arrives
    y_after_x = verdict(y, x) is Action.SEND
    assert x_after_y != y_after_x
    assert x_after_y == (x.order > y.order)


@settings(derandomize=True, max_examples=100)
@given(KEYS, st.text(max_size=40) | st.none(), st.binary(max_size=64) | st.none(), st.lists(KEYS, max_size=3))
def test_a_record_survives_its_json(key, correlation, thumbnail, pending):
    record = DeliveryRecord(
        imodel_id="m",
        sent=SentDrop(key, "ab", "t", correlation, thumbnail, "image/png"),
        pending=tuple(Pending(p, T0, scheduled=i % 2 == 0) for i, p in enumerate(pending)),
    )
    data = record.to_json()
    assert data.isascii()
    assert DeliveryRecord.from_json(data) == record


def test_a_version_1_record_is_read():
    data = (
        b'{"version": 1, "imodelId": "m", "key": {"dropped": "2026-01-01T00:00:00Z", "blob": "m/a.png", "etag": "0x1"}}'
    )
    record = DeliveryRecord.from_json(data)
    assert record is not None
    assert record.key == DropKey(T0, "m/a.png", "0x1")


def test_an_empty_record_is_nothing_recorded():
    assert DeliveryRecord.from_json(b"") is None


@pytest.mark.parametrize(
    "data",
    [b"{not json", b'{"version": 99, "imodelId": "m"}', b'{"version": 2}', b"[]", b'{"version": 1, "imodelId": "m"}'],
)
def test_an_unreadable_or_unknown_record_fails_closed(data):
    with pytest.raises(ThumbnailError) as raised:
        DeliveryRecord.from_json(data)
    assert raised.value.code.value == "DeliveryRecordUnreadable"


@settings(derandomize=True, max_examples=200)
@given(st.text(max_size=80))
def test_any_carried_drop_time_parses_to_an_instant_or_to_nothing(text):
    """Any upload tool can set the metadata: it never raises, and what it returns is a UTC instant."""
    moment = parse_instant(text)
    assert moment is None or (moment.tzinfo is UTC and moment.microsecond == 0)


@pytest.mark.parametrize("text", ["n/a", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "", "9" * 100])
def test_invalid_drop_times_are_refused(text):
    assert parse_instant(text) is None


def test_valid_drop_times_compare_as_instants():
    assert parse_instant("2026-01-01T01:00:00+01:00") == parse_instant("2026-01-01T00:00:00Z") == T0
