"""No blob name is too exotic: every name blob storage accepts goes end to end through real Azurite
and the emulator.  A valid ``{GUID}/{name}`` is uploaded and archived at exactly its name; any other
path is dead-lettered at exactly its name with a path code; nothing else happens to it.

The property test draws names from the whole legal space (every Unicode category but surrogates and
control characters, ``# % ? & +``, spaces, up to 1,024 characters), seeded so a failure reproduces.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.core.outcome import Status
from shared.core.paths import canonical_guid
from shared.core.payload import payload_name
from tests.conftest import new_imodel

#: Azure's limit on a blob name (counted here in UTF-16 code units, the stricter reading).
MAX_NAME = 1024

PATH_CODES = {"InvalidBlobPath", "InvalidImodelId"}


def tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (10, 200, 90)).save(buffer, "PNG")
    return buffer.getvalue()


ORIGINAL = tiny_png()


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# One path segment: any character storage accepts in a name except the separator.  Surrogates cannot
# be encoded, control characters are refused by the service, and a segment that ends in "." is one
# Azure documents as unreliable (dots are trimmed from the end of a URL path segment).
_CHARACTERS = st.characters(
    blacklist_categories=("Cs", "Cc"),
    blacklist_characters="/\\\ufffe\uffff",
)
_SEGMENT = st.text(_CHARACTERS, min_size=1, max_size=40).filter(lambda s: not s.endswith("."))
_LONG_SEGMENT = st.text(_CHARACTERS, min_size=900, max_size=1000).filter(lambda s: not s.endswith("."))


#: Stand-ins for a fresh iModel id, lower or upper case: each example gets an iModel of its own (a
#: reused id would bring the ordering rule into a test about names), filled in by :func:`fill`.
LOWER, UPPER = "\x00" * 36, "\x01" * 36


def _guid_folder() -> st.SearchStrategy[str]:
    return st.sampled_from([LOWER, UPPER])


def fill(path: str) -> str:
    imodel = str(uuid.uuid4())
    return path.replace(LOWER, imodel).replace(UPPER, imodel.upper())


@st.composite
def blob_paths(draw: st.DrawFn) -> tuple[str, bool]:
    """(blob name, whether it is a valid ``{GUID}/{name}``), within the 1,024-character limit."""
    shape = draw(st.sampled_from(["valid", "valid", "valid", "long", "root", "deep", "folder"]))
    if shape in ("valid", "long"):
        folder = draw(_guid_folder())
        name = draw(_LONG_SEGMENT if shape == "long" else _SEGMENT)
        path = f"{folder}/{name}"
    elif shape == "root":
        path = draw(_SEGMENT)
    elif shape == "deep":
        parts = draw(st.lists(_SEGMENT, min_size=2, max_size=4))
        path = "/".join([draw(_guid_folder()), *parts])
    else:
        folder = draw(_SEGMENT.filter(lambda s: canonical_guid(s) is None))
        path = f"{folder}/{draw(_SEGMENT)}"
    if units(path) > MAX_NAME:
        path = path[:MAX_NAME]
        while units(path) > MAX_NAME or path.endswith("."):
            path = path[:-1]
        if "/" not in path or path.endswith("/"):
            path = draw(_guid_folder()) + "/x.png"
    return path, shape in ("valid", "long") and path.count("/") == 1


def deliver_and_check(pipeline, containers, emulator, path: str, valid: bool) -> None:
    containers.incoming.upload_blob(path, ORIGINAL, overwrite=True)
    outcome = pipeline.process(containers.incoming.get_blob_client(path))

    assert not containers.incoming.get_blob_client(path).exists(), f"{path!r} left behind: {outcome}"
    if valid:
        assert outcome.status is Status.UPLOADED, (path, outcome.code, outcome.message)
        assert containers.read(containers.processed, path) == ORIGINAL
        assert not containers.deadletter.get_blob_client(path).exists()
        imodel = canonical_guid(path.split("/")[0])
        assert emulator.state.uploads.get(imodel), "no thumbnail PUT for the iModel"
    else:
        assert outcome.status is Status.DEADLETTERED, (path, outcome.code, outcome.message)
        assert outcome.code in PATH_CODES
        assert containers.read(containers.deadletter, path) == ORIGINAL
        payload = json.loads(containers.read(containers.deadletter, payload_name(path)))
        assert payload["blob"] == f"{containers.incoming.container_name}/{path}"
        assert payload["code"] == outcome.code
        assert not containers.processed.get_blob_client(path).exists()


EXAMPLES = [
    "Ansicht Süd – 東京.png",  # noqa: RUF001 - the en dash is the point
    "emoji 🚀 render.png",
    "Su\u0308d.png",  # NFD: a distinct name from the NFC "Süd.png", and kept as such
    "Süd.png",
    "a # b % c ? d & e + f = g ; h , i.png",
    "100%25 done+%2F not a slash.png",
    "  leading and trailing spaces  .png",
    "'quotes' \"double\" <angle> {brace} [square] `tick` ~ ! @ $ ^ *.png",
    "zero\u200bwidth\u00a0nbsp\u2028line-separator.png",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 family \U0001f1e9\U0001f1ea.png",
]


@pytest.mark.parametrize("name", EXAMPLES)
def test_a_named_example_is_uploaded_and_archived_at_its_exact_name(pipeline, containers, emulator, name):
    deliver_and_check(pipeline, containers, emulator, f"{new_imodel()}/{name}", True)


def test_a_name_of_exactly_1024_characters_is_uploaded_and_archived(pipeline, containers, emulator):
    folder = new_imodel()
    path = f"{folder}/" + "東" * (MAX_NAME - len(folder) - 5) + ".png"
    assert len(path) == MAX_NAME
    deliver_and_check(pipeline, containers, emulator, path, True)


def test_a_1024_character_path_outside_any_imodel_is_dead_lettered_with_its_payload(pipeline, containers, emulator):
    path = "東" * (MAX_NAME - 4) + ".png"
    deliver_and_check(pipeline, containers, emulator, path, False)


@settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=blob_paths())
def test_every_legal_blob_name_ends_uploaded_or_dead_lettered_at_its_exact_name(pipeline, containers, emulator, case):
    path, valid = case
    path = fill(path)
    deliver_and_check(pipeline, containers, emulator, path, valid)
