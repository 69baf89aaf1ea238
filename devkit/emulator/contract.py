"""The iTwin Platform's answers, copied from the API contract so the emulator never reads it at run time.

Everything a client can observe is spelled here once: status codes, the exact error bodies (codes and
messages as Bentley documents them for ``PUT /imodels/{id}/thumbnail``), the IMS token endpoint's
OAuth2 errors, the limits and the magic bytes.  Where the contract is silent (a bad token, a server
error, a missing thumbnail) the body keeps the contract's shape and the choice is explained beside it.

Bodies are serialised compactly (``{"error":{"code":...}}``), as the real service sends them; the key
order is the contract's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: The one scope a token must be requested for (IMS ``scope`` form field).
SCOPE = "itwin-platform"
#: Lifetime of an IMS access token, in seconds (``expires_in``).
TOKEN_TTL_SECONDS = 3600
#: The contract's maximum thumbnail size: a body of more bytes is answered 413.
MAX_THUMBNAIL_BYTES = 5_242_880
#: What the contract recommends for ``Accept``.  The emulator never rejects a request for its Accept
#: header (the contract only *recommends* this value and the real API answers without it); it records
#: the header with each upload so tests can assert the client sends it.
RECOMMENDED_ACCEPT = "application/vnd.bentley.itwin-platform.v2+json"
#: Media types a thumbnail may be uploaded as (compared case-insensitively, parameters ignored).
SUPPORTED_MEDIA_TYPES = ("image/png", "image/jpeg")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, decided before anything is written, so the decision logic stays free of I/O.

    ``drop`` means: write nothing and close the socket (a fault injected to test client recovery).
    """

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False


def encode(obj: Any) -> bytes:
    """Serialise a JSON body the way the real service does: compact, UTF-8, keys in given order."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_reply(status: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status=status, body=encode(obj), content_type=JSON, headers=headers)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


# --- iModels API: bodies exactly as the contract shows them -------------------------------------------

HEADER_NOT_FOUND = _error("HeaderNotFound", "Header Authorization was not found in the request. Access denied.")
INSUFFICIENT_PERMISSIONS = _error(
    "InsufficientPermissions", "The user has insufficient permissions for the requested operation."
)
IMODEL_NOT_FOUND = _error("iModelNotFound", "Requested iModel is not available.")
IMODEL_NOT_INITIALIZED = _error("iModelNotInitialized", "iModel is not initialized.")
REQUEST_TOO_LARGE = _error(
    "RequestTooLarge", f"Request body is too large. Maximum allowed request body size is {MAX_THUMBNAIL_BYTES} bytes."
)
TOO_MANY_REQUESTS = _error("TooManyRequests", "More requests were received than the subscription rate-limit allows.")

#: The 422 detail entries.  A 422 carries the contract's outer error with only the one matching detail.
DETAIL_INVALID_THUMBNAIL_FORMAT: dict[str, Any] = {
    "code": "InvalidRequestBody",
    "message": "Invalid Thumbnail format. Please use one of the supported media formats: 'image/jpeg', 'image/png'.",
    "innerError": {"code": "InvalidThumbnailFormat"},
}
DETAIL_MISSING_CONTENT_TYPE: dict[str, Any] = {
    "code": "MissingRequiredHeader",
    "message": "Required header is missing.",
    "target": "content-type",
}


def detail_invalid_content_type(received: str) -> dict[str, Any]:
    """The InvalidHeaderValue detail, naming the media type received (as sent, parameters stripped)."""
    return {
        "code": "InvalidHeaderValue",
        "message": (
            f"'{received}' is not supported 'content-type'. Supported media types are 'image/jpeg', 'image/png'."
        ),
        "target": "content-type",
    }


def invalid_request(detail: dict[str, Any]) -> dict[str, Any]:
    """The contract's 422 outer error (InvalidiModelsRequest) around one detail."""
    return {"error": {"code": "InvalidiModelsRequest", "message": "Cannot upload Thumbnail.", "details": [detail]}}


# --- Where the contract is silent ---------------------------------------------------------------------

#: 401 for a token that is present but unknown, expired, revoked or not a Bearer token.  The contract
#: documents only HeaderNotFound (no header at all) while saying a 401 also covers tokens "issued by the
#: wrong issuer" or without the scope; we keep the same shape and pick the code ``InvalidToken`` so a
#: client can tell "sent nothing" from "sent something stale" (both mean: get a fresh token).
INVALID_TOKEN = _error("InvalidToken", "Access token is invalid or has expired. Access denied.")

#: GET /imodels/{id}/thumbnail when the iModel exists but nothing was uploaded yet (iModelNotFound-style).
THUMBNAIL_NOT_FOUND = _error("ThumbnailNotFound", "Requested Thumbnail is not available.")

#: Injected server faults.  The contract lists no 5xx; these follow the same error shape.
SERVER_ERRORS: dict[int, dict[str, Any]] = {
    500: _error("InternalServerError", "The server encountered an internal error. Please retry the request."),
    502: _error("BadGateway", "The server received an invalid response from an upstream server."),
    503: _error("ServiceUnavailable", "The service is temporarily unavailable. Please retry the request."),
    504: _error("GatewayTimeout", "The upstream server did not respond in time."),
}

#: Any other path or method (the gateway's answer, in the same shape).
RESOURCE_NOT_FOUND = _error("ResourceNotFound", "The requested resource was not found.")
METHOD_NOT_ALLOWED = _error("MethodNotAllowed", "The request method is not supported for this resource.")


# --- IMS token endpoint (OAuth2 / IdentityServer errors: a bare ``error`` string, status 400) ------------

TOKEN_INVALID_CLIENT = {"error": "invalid_client"}
TOKEN_INVALID_REQUEST = {"error": "invalid_request"}
TOKEN_UNSUPPORTED_GRANT_TYPE = {"error": "unsupported_grant_type"}
TOKEN_INVALID_SCOPE = {"error": "invalid_scope"}
#: Injected token-endpoint faults (RFC 6749's code for "try again later").
TOKEN_TEMPORARILY_UNAVAILABLE = {"error": "temporarily_unavailable"}
#: RFC 6749 section 5.1: token responses must not be cached.
TOKEN_HEADERS = (("cache-control", "no-store"), ("pragma", "no-cache"))


def token_success(access_token: str, expires_in: int) -> dict[str, Any]:
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in, "scope": SCOPE}


def sniff_image(data: bytes) -> str | None:
    """The media type the bytes really are (by magic bytes), or None if neither PNG nor JPEG."""
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    return None
