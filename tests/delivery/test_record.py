"""The ordering rule, pure: a total, deterministic order over drops, ties and redrives included."""

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.delivery.record import DeliveryRecord, DropKey, Verdict, verdict

KEYS = st.builds(
    DropKey,
    dropped=st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-02T00:00:00Z"]),
    name=st.sampled_from(["m/a.png", "m/b.png", "m/é.png", "m/東.png"]),
    etag=st.sampled_from(["0x1", "0x2"]),
)


def test_nothing_recorded_means_send():
    assert verdict(DropKey("2026-01-01T00:00:00Z", "m/a.png", "0x1"), None) is Verdict.SEND


def test_the_same_version_is_never_sent_twice():
    key = DropKey("2026-01-01T00:00:00Z", "m/a.png", "0x1")
    assert verdict(key, key) is Verdict.ALREADY_SENT


def test_same_second_ties_go_to_the_greater_name():
    a = DropKey("2026-01-01T00:00:00Z", "m/a.png", "0x1")
    b = DropKey("2026-01-01T00:00:00Z", "m/b.png", "0x1")
    assert verdict(a, b) is Verdict.SUPERSEDED
    assert verdict(b, a) is Verdict.SEND


def test_a_new_version_of_the_recorded_path_is_sent_even_in_the_same_second():
    old = DropKey("2026-01-01T00:00:00Z", "m/a.png", "0x1")
    new = DropKey("2026-01-01T00:00:00Z", "m/a.png", "0x2")
    assert verdict(new, old) is Verdict.SEND


@settings(derandomize=True, max_examples=300)
@given(KEYS, KEYS)
def test_of_two_different_drops_exactly_one_order_wins(x, y):
    """Whatever order two drops are delivered in, the one that ends on the iModel is the same."""
    if (x.name, x.etag) == (y.name, y.etag) or (x.order == y.order):
        return
    x_after_y = verdict(x, y) is Verdict.SEND  # y recorded, x arrives
    y_after_x = verdict(y, x) is Verdict.SEND
    assert x_after_y != y_after_x
    assert x_after_y == (x.order > y.order)


@settings(derandomize=True, max_examples=200)
@given(KEYS, st.text(max_size=40) | st.none())
def test_a_record_survives_its_json(key, correlation):
    record = DeliveryRecord(imodel_id="m", key=key, thumbnail_sha256="ab", sent_at="t", correlation_id=correlation)
    data = record.to_json()
    assert data.isascii()
    assert DeliveryRecord.from_json(data) == record


def test_an_empty_or_unreadable_record_is_nothing_recorded():
    assert DeliveryRecord.from_json(b"") is None
    assert DeliveryRecord.from_json(b"{not json") is None
