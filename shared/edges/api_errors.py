"""Map an iTwin API (or IMS) response to the error taxonomy: pure, one table, every contract status."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.core.errors import ApiFailure, ErrorCode, Stage, ThumbnailError
from shared.core.retry import parse_retry_after

#: What each status of the upload contract means to us.  409 is handled by body code (below).
_BY_STATUS: dict[int, ErrorCode] = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.INSUFFICIENT_PERMISSIONS,
    404: ErrorCode.IMODEL_NOT_FOUND,
    413: ErrorCode.REQUEST_TOO_LARGE,
    422: ErrorCode.INVALID_IMODELS_REQUEST,
    429: ErrorCode.TOO_MANY_REQUESTS,
}

_BODY_LIMIT = 8192


def decode_body(content: bytes) -> Any:
    """The body as JSON when it is JSON, else as (truncated) text: kept verbatim for the payload."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content[:_BODY_LIMIT].decode("utf-8", "replace")


def error_field(body: Any, name: str) -> str | None:
    """``error.{name}`` (``code``, ``message``) of an iTwin error body, if the body has one."""
    error = body.get("error") if isinstance(body, dict) else None
    value = error.get(name) if isinstance(error, dict) else None
    return value if isinstance(value, str) else None


def failure_of(status: int, headers: Mapping[str, str], content: bytes) -> ApiFailure:
    return ApiFailure(
        status=status,
        body=decode_body(content),
        correlation_id=headers.get("x-correlation-id"),
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def upload_error(status: int, headers: Mapping[str, str], content: bytes) -> ThumbnailError:
    """The error for a non-201 answer to ``PUT /imodels/{id}/thumbnail``."""
    api = failure_of(status, headers, content)
    api_code = error_field(api.body, "code")
    message = error_field(api.body, "message") or f"The iTwin API answered {status}."
    code: ErrorCode
    if status == 409:
        code = (
            ErrorCode.IMODEL_NOT_INITIALIZED
            if api_code == ErrorCode.IMODEL_NOT_INITIALIZED.value
            else ErrorCode.UNEXPECTED_API_RESPONSE
        )
    elif status in _BY_STATUS:
        code = _BY_STATUS[status]
    elif status == 408 or status >= 500:
        code = ErrorCode.API_SERVER_ERROR
    else:
        code = ErrorCode.UNEXPECTED_API_RESPONSE
    stage = Stage.AUTH if status == 401 else Stage.UPLOAD
    return ThumbnailError(code, message, stage=stage, api=api)


def token_error(status: int, headers: Mapping[str, str], content: bytes) -> ThumbnailError:
    """The error for a failed IMS token request: refused credentials are permanent, outages transient."""
    api = failure_of(status, headers, content)
    if status in (400, 401, 403):
        detail = api.body.get("error") if isinstance(api.body, dict) else None
        return ThumbnailError(
            ErrorCode.TOKEN_REQUEST_REJECTED,
            f"IMS refused the token request ({status} {detail or 'no error code'}).",
            api=api,
        )
    return ThumbnailError(ErrorCode.TOKEN_SERVICE_UNAVAILABLE, f"The IMS token endpoint answered {status}.", api=api)
