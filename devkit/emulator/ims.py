"""The IMS token endpoint (``POST /connect/token``), client-credentials grant only.

It answers as IdentityServer does: the client is authenticated first (``invalid_client``), then the
grant type (``unsupported_grant_type``), then the scope (``invalid_scope``), all with status 400 and a
bare ``{"error": ...}`` body.  One deliberate strictness: a missing ``scope`` is ``invalid_scope`` (real
IdentityServer would grant the client's default scopes), because the app must always ask for
``itwin-platform`` and a local run should say so.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote_plus

import devkit.emulator.contract as contract
from devkit.emulator.contract import Reply, json_reply
from devkit.emulator.request import Request, media_type
from devkit.emulator.state import State

FORM = "application/x-www-form-urlencoded"


def token(state: State, request: Request) -> Reply:
    """Answer one token request (the caller holds ``state.lock``)."""
    state.count_token_request()
    fault = state.take_token_fault()
    if fault is not None:
        body = contract.TOKEN_TEMPORARILY_UNAVAILABLE if fault != 500 else {"error": "server_error"}
        return _reply(fault, body)
    if media_type(request.header("content-type") or "").lower() != FORM:
        return _reply(400, contract.TOKEN_INVALID_REQUEST)
    try:
        form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return _reply(400, contract.TOKEN_INVALID_REQUEST)
    if any(len(values) > 1 for values in form.values()):
        return _reply(400, contract.TOKEN_INVALID_REQUEST)  # OAuth2: parameters must not repeat
    fields = {name: values[0] for name, values in form.items()}

    credentials = _basic_credentials(request.header("authorization"))
    if credentials is None:
        credentials = (fields.get("client_id", ""), fields.get("client_secret", ""))
    client_id, client_secret = credentials
    if not client_id or not state.check_client(client_id, client_secret):
        return _reply(400, contract.TOKEN_INVALID_CLIENT)
    if fields.get("grant_type") != "client_credentials":
        return _reply(400, contract.TOKEN_UNSUPPORTED_GRANT_TYPE)
    scopes = fields.get("scope", "").split()
    if not scopes or any(scope != contract.SCOPE for scope in scopes):
        return _reply(400, contract.TOKEN_INVALID_SCOPE)
    access_token, ttl = state.issue_token(client_id)
    return _reply(200, contract.token_success(access_token, ttl))


def _reply(status: int, body: Mapping[str, object]) -> Reply:
    return json_reply(status, body, contract.TOKEN_HEADERS)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``client_secret_basic``: ``Authorization: Basic base64(urlencoded id ":" urlencoded secret)``."""
    if authorization is None:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, client_secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(client_secret)
