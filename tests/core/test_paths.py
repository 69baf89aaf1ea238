import pytest

from shared.core.errors import ErrorCode, ThumbnailError
from shared.core.paths import canonical_guid, parse_blob_path

GUID = "5e19bee0-3aea-4355-a9f0-c6df9989ee7d"


def test_a_guid_folder_names_the_imodel():
    ref = parse_blob_path("thumbnails", f"{GUID}/render.png")
    assert (ref.imodel_id, ref.name, ref.blob_name) == (GUID, "render.png", f"{GUID}/render.png")
    assert ref.path == f"thumbnails/{GUID}/render.png"


def test_the_id_is_normalized_to_lower_case():
    assert parse_blob_path("c", f"{GUID.upper()}/a.png").imodel_id == GUID


@pytest.mark.parametrize(
    "folder",
    [
        "not-a-guid",
        GUID[:-1],
        "{" + GUID + "}",
        GUID.replace("-", ""),
        "..",
        f"{GUID[:-2]}?x",
        "urn:uuid:" + GUID,
    ],
)
def test_anything_but_a_canonical_guid_is_refused_before_a_url_is_built(folder):
    with pytest.raises(ThumbnailError) as caught:
        parse_blob_path("thumbnails", f"{folder}/render.png")
    assert caught.value.code is ErrorCode.INVALID_IMODEL_ID
    assert caught.value.stage.value == "path"
    assert not caught.value.transient


@pytest.mark.parametrize("name", ["render.png", f"{GUID}/sub/render.png", f"{GUID}/", f"/{GUID}"])
def test_a_blob_outside_exactly_one_imodel_folder_is_refused(name):
    with pytest.raises(ThumbnailError) as caught:
        parse_blob_path("thumbnails", name)
    assert caught.value.code in (ErrorCode.INVALID_BLOB_PATH, ErrorCode.INVALID_IMODEL_ID)


def test_canonical_guid():
    assert canonical_guid(GUID.upper()) == GUID
    assert canonical_guid("x" * 36) is None
