"""User strings in headers: percent-encoded to ASCII, decoded to exactly the same string."""

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.names import from_header, to_header, utf16_length
from shared.core.payload import MAX_BLOB_NAME, PAYLOAD_SUFFIX, payload_name

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(derandomize=True, max_examples=500)
@given(TEXT)
def test_any_string_becomes_printable_ascii_and_comes_back_unchanged(text):
    encoded = to_header(text)
    assert encoded.isascii()
    assert all(32 <= ord(c) < 127 for c in encoded)
    assert " " not in encoded
    assert from_header(encoded) == text


def test_examples_of_the_issue_round_trip_and_nfd_stays_nfd():
    for text in ["Ansicht Süd \u2013 東京.png", "emoji 🚀 render.png", "Su\u0308d.png", "a # b % c ? d & e + f.png"]:
        assert from_header(to_header(text)) == text
    assert to_header("Su\u0308d.png") != to_header("S\u00fcd.png")


@settings(derandomize=True, max_examples=200)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"), min_size=1, max_size=1100))
def test_a_payload_name_never_passes_the_blob_name_limit_and_stays_unique(name):
    name = name[:MAX_BLOB_NAME]
    while utf16_length(name) > MAX_BLOB_NAME:
        name = name[:-1]
    payload = payload_name(name)
    assert utf16_length(payload) <= MAX_BLOB_NAME
    assert payload.endswith(PAYLOAD_SUFFIX)
    if utf16_length(name + PAYLOAD_SUFFIX) <= MAX_BLOB_NAME:
        assert payload == name + PAYLOAD_SUFFIX
    else:
        assert payload != payload_name(name[:-1] + ("x" if not name.endswith("x") else "y"))
