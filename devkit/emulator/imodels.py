"""The iModels API: ``PUT``/``GET /imodels/{id}/thumbnail`` and ``GET /imodels/{id}``.

For ``PUT`` (and, up to step 4, ``GET /imodels/{id}``) the checks run in the order a client can rely
on, each answering with the contract's exact body:

1. injected server faults (``drop_next``, ``fail_next``, random 503 on PUT): the server is "down", so
   they come before anything is looked at;
2. ``Authorization`` missing -> 401 HeaderNotFound; present but not a valid Bearer token -> 401
   InvalidToken (see ``contract.INVALID_TOKEN``);
3. rate limiting -> 429 TooManyRequests with ``retry-after`` (and the tier header, see
   :mod:`devkit.emulator.tier`);
4. the iModel: forbidden -> 403, unknown -> 404, not initialized -> 409 (PUT only);
5. (PUT) body over 5,242,880 bytes -> 413; Content-Type missing -> 422 MissingRequiredHeader; not
   image/png or image/jpeg -> 422 InvalidHeaderValue; bytes neither PNG nor JPEG -> 422
   InvalidRequestBody; else 201 with an empty body.

``Accept`` is never checked: the contract only recommends ``application/vnd.bentley.itwin-platform.v2+json``.
It is recorded with each upload instead.  A PNG body declared ``image/jpeg`` (or the reverse) is accepted
as the real API converts both; the declared type is what is recorded.
"""

from __future__ import annotations

import devkit.emulator.contract as contract
from devkit.emulator.config import normalize_id
from devkit.emulator.contract import Reply, json_reply
from devkit.emulator.request import Request, media_type
from devkit.emulator.state import Access, State, Upload

_ACCESS_ERRORS = {
    Access.FORBIDDEN: (403, contract.INSUFFICIENT_PERMISSIONS),
    Access.UNKNOWN: (404, contract.IMODEL_NOT_FOUND),
}


def put_thumbnail(state: State, request: Request, imodel_id: str) -> Reply:
    """Answer one upload (the caller holds ``state.lock``)."""
    state.count_put(imodel_id)
    gate = _gate(state, request, imodel_id, is_put=True)
    if isinstance(gate, Reply):
        return gate
    if request.body_length > contract.MAX_THUMBNAIL_BYTES:
        return json_reply(413, contract.REQUEST_TOO_LARGE)
    declared = media_type(request.header("content-type") or "")
    if not declared:
        return json_reply(422, contract.invalid_request(contract.DETAIL_MISSING_CONTENT_TYPE))
    if declared.lower() not in contract.SUPPORTED_MEDIA_TYPES:
        return json_reply(422, contract.invalid_request(contract.detail_invalid_content_type(declared)))
    if contract.sniff_image(request.body) is None:
        return json_reply(422, contract.invalid_request(contract.DETAIL_INVALID_THUMBNAIL_FORMAT))
    state.store_upload(
        Upload(
            imodel_id=normalize_id(imodel_id),
            data=request.body,
            content_type=declared.lower(),
            at=state.clock(),
            correlation_id=request.correlation_id,
            accept=request.header("accept"),
        )
    )
    return Reply(status=201)


def get_thumbnail(state: State, request: Request, imodel_id: str) -> Reply:
    """The latest upload's bytes: the emulator's read-back, for the demo and for people checking a run.

    Unlike the real API it needs no token and is never faulted or rate limited, so looking at a result
    does not use up a queued fault.  The bytes are served as uploaded, with the type their magic bytes
    show: the real API converts JPEG to PNG, the emulator (standard library only) cannot.
    """
    if state.access(imodel_id, attempt=False) is Access.UNKNOWN:
        return json_reply(404, contract.IMODEL_NOT_FOUND)
    upload = state.latest_upload(imodel_id)
    if upload is None:
        return json_reply(404, contract.THUMBNAIL_NOT_FOUND)
    return Reply(status=200, body=upload.data, content_type=contract.sniff_image(upload.data) or "image/png")


def get_imodel(state: State, request: Request, imodel_id: str) -> Reply:
    """Just enough of the iModel to check access (the CLI's ``doctor``)."""
    gate = _gate(state, request, imodel_id, is_put=False)
    if isinstance(gate, Reply):
        return gate
    key = normalize_id(imodel_id)
    body = {"iModel": {"id": key, "displayName": f"Local iModel {key[:8]}", "state": gate.value}}
    return json_reply(200, body)


def _gate(state: State, request: Request, imodel_id: str, *, is_put: bool) -> Reply | Access:
    """Steps 1-4 of the module docstring: the answer if the request stops here, else the iModel's
    access (asked once: for a PUT, asking uses up a not-initialized attempt)."""
    fault = state.take_api_fault(is_put)
    if fault is not None:
        if fault.drop:
            return Reply(status=0, drop=True)
        headers = () if fault.retry_after is None else (("retry-after", str(fault.retry_after)),)
        return json_reply(fault.status, contract.SERVER_ERRORS[fault.status], headers)

    authorization = request.header("authorization")
    if authorization is None:
        return json_reply(401, contract.HEADER_NOT_FOUND)
    scheme, _, token = authorization.strip().partition(" ")
    client_id = state.client_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if client_id is None:
        return json_reply(401, contract.INVALID_TOKEN)

    retry_after = state.check_rate(client_id, is_put)
    if retry_after is not None:
        return json_reply(429, contract.TOO_MANY_REQUESTS, state.rate_limit_headers(retry_after))

    access = state.access(imodel_id, attempt=is_put)
    if access in _ACCESS_ERRORS:
        status, body = _ACCESS_ERRORS[access]
        return json_reply(status, body)
    if access is Access.NOT_INITIALIZED and is_put:
        return json_reply(409, contract.IMODEL_NOT_INITIALIZED)
    return access
