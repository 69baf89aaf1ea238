"""PUT /imodels/{id}/thumbnail answers exactly as the API contract documents, in the documented order."""

from __future__ import annotations

import pytest

from devkit.emulator import EmulatorConfig

from .conftest import GIF, IMODEL, JPEG, OTHER, PNG, Client, FakeClock, assert_correlation_id, assert_json

# The bodies below are copied from the contract, not imported from the emulator, so a typo there fails here.
HEADER_NOT_FOUND = {
    "error": {"code": "HeaderNotFound", "message": "Header Authorization was not found in the request. Access denied."}
}
INVALID_TOKEN = {"error": {"code": "InvalidToken", "message": "Access token is invalid or has expired. Access denied."}}
FORBIDDEN = {
    "error": {
        "code": "InsufficientPermissions",
        "message": "The user has insufficient permissions for the requested operation.",
    }
}
NOT_FOUND = {"error": {"code": "iModelNotFound", "message": "Requested iModel is not available."}}
NOT_INITIALIZED = {"error": {"code": "iModelNotInitialized", "message": "iModel is not initialized."}}
TOO_LARGE = {
    "error": {
        "code": "RequestTooLarge",
        "message": "Request body is too large. Maximum allowed request body size is 5242880 bytes.",
    }
}
TOO_MANY = {
    "error": {
        "code": "TooManyRequests",
        "message": "More requests were received than the subscription rate-limit allows.",
    }
}


def unprocessable(detail: dict[str, object]) -> dict[str, object]:
    return {"error": {"code": "InvalidiModelsRequest", "message": "Cannot upload Thumbnail.", "details": [detail]}}


BAD_FORMAT = unprocessable(
    {
        "code": "InvalidRequestBody",
        "message": "Invalid Thumbnail format. "
        "Please use one of the supported media formats: 'image/jpeg', 'image/png'.",
        "innerError": {"code": "InvalidThumbnailFormat"},
    }
)
MISSING_CONTENT_TYPE = unprocessable(
    {"code": "MissingRequiredHeader", "message": "Required header is missing.", "target": "content-type"}
)


def bad_content_type(received: str) -> dict[str, object]:
    return unprocessable(
        {
            "code": "InvalidHeaderValue",
            "message": f"'{received}' is not supported 'content-type'. "
            "Supported media types are 'image/jpeg', 'image/png'.",
            "target": "content-type",
        }
    )


LIMIT = 5_242_880
TOO_BIG = GIF + bytes(LIMIT)


def test_png_upload_is_created_and_stored(client: Client, clock: FakeClock) -> None:
    response = client.put(body=PNG)
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert "content-type" not in response.headers
    assert_correlation_id(response)
    [upload] = client.emu.state.uploads[IMODEL]
    assert upload.data == PNG
    assert upload.content_type == "image/png"
    assert upload.at == clock.now
    assert upload.correlation_id == response.headers["x-correlation-id"]
    assert upload.accept == "application/vnd.bentley.itwin-platform.v2+json"


def test_jpeg_upload_is_stored_as_sent_with_its_content_type(client: Client) -> None:
    assert client.put(body=JPEG, content_type="image/jpeg").status_code == 201
    [upload] = client.emu.state.uploads[IMODEL]
    assert (upload.data, upload.content_type) == (JPEG, "image/jpeg")


def test_content_type_parameters_and_case_are_ignored(client: Client) -> None:
    assert client.put(content_type="Image/PNG; charset=binary").status_code == 201
    assert client.emu.state.uploads[IMODEL][0].content_type == "image/png"


def test_accept_header_is_optional_and_recorded(client: Client) -> None:
    response = client.put(headers={"Accept": None})  # None: requests sends no Accept at all
    assert response.status_code == 201
    assert client.emu.state.uploads[IMODEL][0].accept is None


def test_ids_are_case_insensitive(client: Client) -> None:
    assert client.put(IMODEL.upper()).status_code == 201
    assert list(client.emu.state.uploads) == [IMODEL]
    assert client.emu.state.put_requests == {IMODEL: 1}


def test_missing_authorization_is_header_not_found(client: Client) -> None:
    assert_json(client.put(auth=False), 401, HEADER_NOT_FOUND)


@pytest.mark.parametrize("authorization", ["Bearer not-a-token", "Bearer", "bearer  ", "Basic bG9jYWw6c2VjcmV0"])
def test_bad_token_is_invalid_token(client: Client, authorization: str) -> None:
    assert_json(client.put(auth=False, headers={"Authorization": authorization}), 401, INVALID_TOKEN)


def test_expired_token_is_invalid_token(client: Client, clock: FakeClock) -> None:
    assert client.put().status_code == 201
    clock.advance(3599)
    assert client.put().status_code == 201
    clock.advance(1)
    assert_json(client.put(), 401, INVALID_TOKEN)


def test_forbidden_imodel(client: Client) -> None:
    client.emu.state.forbid(IMODEL)
    assert_json(client.put(), 403, FORBIDDEN)
    assert client.put(OTHER).status_code == 201


@pytest.mark.parametrize(
    "imodel_id",
    ["not-a-guid", "5e19bee0-3aea-4355-a9f0-c6df9989ee7", "{" + IMODEL + "}", IMODEL + "%0A", IMODEL + "%0a"],
)
def test_malformed_ids_are_not_found(client: Client, imodel_id: str) -> None:
    assert_json(client.put(imodel_id), 404, NOT_FOUND)


def test_a_trailing_newline_is_not_part_of_a_valid_id(client: Client) -> None:
    # A regex ``$`` matches before a final newline: the id "<guid>\n" must still be unknown.
    assert_json(client.get(f"/imodels/{IMODEL}%0A"), 404, NOT_FOUND)
    assert client.emu.state.uploads == {}


def test_forgotten_imodel_is_not_found(client: Client) -> None:
    client.emu.state.forget(IMODEL)
    assert_json(client.put(), 404, NOT_FOUND)


def test_not_initialized_imodel_is_conflict(client: Client) -> None:
    client.emu.state.not_initialized(IMODEL)
    for _ in range(3):
        assert_json(client.put(), 409, NOT_INITIALIZED)
    client.emu.state.allow(IMODEL)
    assert client.put().status_code == 201


@pytest.mark.parametrize(
    "config",
    [EmulatorConfig(forbidden=frozenset({IMODEL}), unknown=frozenset({OTHER.upper()}))],
)
def test_configured_forbidden_and_unknown(client: Client) -> None:
    assert_json(client.put(IMODEL), 403, FORBIDDEN)
    assert_json(client.put(OTHER), 404, NOT_FOUND)
    client.emu.state.allow(OTHER)
    assert client.put(OTHER).status_code == 201


def test_exactly_the_limit_is_accepted(client: Client) -> None:
    body = PNG + bytes(LIMIT - len(PNG))
    assert client.put(body=body).status_code == 201
    assert client.emu.state.uploads[IMODEL][0].data == body


def test_one_byte_over_the_limit_is_too_large(client: Client) -> None:
    assert_json(client.put(body=PNG + bytes(LIMIT + 1 - len(PNG))), 413, TOO_LARGE)
    assert client.emu.state.uploads == {}


def test_chunked_body_over_the_limit_is_too_large(client: Client) -> None:
    chunks = (PNG + bytes(1 << 20) for _ in range(6))  # a generator: requests sends it chunked
    assert_json(client.put(body=chunks), 413, TOO_LARGE)
    assert client.put(body=iter([PNG[:4], PNG[4:]])).status_code == 201  # same connection still works
    assert client.emu.state.uploads[IMODEL][0].data == PNG


def test_missing_content_type(client: Client) -> None:
    assert_json(client.put(content_type=None), 422, MISSING_CONTENT_TYPE)


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("image/gif", "image/gif"),
        ("image/webp; q=1", "image/webp"),
        ("application/octet-stream", "application/octet-stream"),
    ],
)
def test_unsupported_content_type_is_named(client: Client, content_type: str, named: str) -> None:
    assert_json(client.put(content_type=content_type), 422, bad_content_type(named))


@pytest.mark.parametrize(
    ("body", "content_type"), [(GIF, "image/png"), (b"", "image/png"), (b"\xff\xd8", "image/jpeg")]
)
def test_bytes_that_are_not_png_or_jpeg(client: Client, body: bytes, content_type: str) -> None:
    assert_json(client.put(body=body, content_type=content_type), 422, BAD_FORMAT)
    assert client.emu.state.uploads == {}


def test_checks_run_in_contract_order(client: Client) -> None:
    """Each pair: the earlier check wins over the later one."""
    state = client.emu.state
    state.forbid(IMODEL)
    assert client.put(auth=False).status_code == 401  # auth before permissions
    state.rate_limit_next(1)
    assert client.put().status_code == 429  # rate limit before permissions
    assert client.put(body=TOO_BIG).status_code == 403  # permissions before size
    state.not_initialized(OTHER)
    assert client.put(OTHER, content_type=None).status_code == 409  # initialization before the body
    assert client.put(OTHER[::-1], body=TOO_BIG, content_type=None).status_code == 404
    oversized = client.put(IMODEL.replace("5", "6"), body=TOO_BIG, content_type=None)
    assert oversized.status_code == 413  # size before content type
    assert client.put(OTHER.replace("0", "1"), body=GIF, content_type=None).json() == MISSING_CONTENT_TYPE
    assert client.put(OTHER.replace("0", "1"), body=GIF, content_type="image/gif").json() == bad_content_type(
        "image/gif"
    )


def test_every_response_has_a_fresh_correlation_id(client: Client) -> None:
    responses = [client.put(), client.put(auth=False), client.put(content_type=None), client.get("/nothing")]
    ids = {r.headers["x-correlation-id"] for r in responses}
    assert len(ids) == len(responses)
