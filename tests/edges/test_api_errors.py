"""Every response of the upload contract maps to a deliberate outcome."""

import json

import pytest

from shared.core.errors import ErrorCode, Kind, Stage
from shared.edges.api_errors import token_error, upload_error


def body(code, message="m"):
    return json.dumps({"error": {"code": code, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "api_code", "ours", "kind"),
    [
        (401, "HeaderNotFound", ErrorCode.UNAUTHORIZED, Kind.PERMANENT),
        (403, "InsufficientPermissions", ErrorCode.INSUFFICIENT_PERMISSIONS, Kind.PERMANENT),
        (404, "iModelNotFound", ErrorCode.IMODEL_NOT_FOUND, Kind.PERMANENT),
        (409, "iModelNotInitialized", ErrorCode.IMODEL_NOT_INITIALIZED, Kind.TRANSIENT),
        (409, "SomethingElse", ErrorCode.UNEXPECTED_API_RESPONSE, Kind.PERMANENT),
        (413, "RequestTooLarge", ErrorCode.REQUEST_TOO_LARGE, Kind.PERMANENT),
        (422, "InvalidiModelsRequest", ErrorCode.INVALID_IMODELS_REQUEST, Kind.PERMANENT),
        (429, "TooManyRequests", ErrorCode.TOO_MANY_REQUESTS, Kind.TRANSIENT),
        (500, "InternalServerError", ErrorCode.API_SERVER_ERROR, Kind.TRANSIENT),
        (503, "ServiceUnavailable", ErrorCode.API_SERVER_ERROR, Kind.TRANSIENT),
        (400, "BadRequest", ErrorCode.UNEXPECTED_API_RESPONSE, Kind.PERMANENT),
    ],
)
def test_each_status_maps_to_one_code_and_kind(status, api_code, ours, kind):
    error = upload_error(status, {"x-correlation-id": "abc"}, body(api_code, "said"))
    assert error.code is ours
    assert error.kind is kind
    assert error.api is not None
    assert error.api.status == status
    assert error.api.correlation_id == "abc"
    assert error.api.body == {"error": {"code": api_code, "message": "said"}}
    assert error.message == "said"
    assert error.stage is (Stage.AUTH if status == 401 else Stage.UPLOAD)


def test_429_keeps_retry_after():
    error = upload_error(429, {"retry-after": "12"}, body("TooManyRequests"))
    assert error.api is not None
    assert error.api.retry_after == 12


def test_a_non_json_body_is_kept_as_text():
    error = upload_error(502, {}, b"<html>Bad gateway</html>")
    assert error.api is not None
    assert error.api.body == "<html>Bad gateway</html>"
    assert error.message == "The iTwin API answered 502."


@pytest.mark.parametrize(
    ("status", "code"), [(400, ErrorCode.TOKEN_REQUEST_REJECTED), (503, ErrorCode.TOKEN_SERVICE_UNAVAILABLE)]
)
def test_token_errors(status, code):
    error = token_error(status, {}, json.dumps({"error": "invalid_client"}).encode())
    assert error.code is code
    assert error.stage is Stage.AUTH
