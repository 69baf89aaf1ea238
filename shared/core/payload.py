"""The dead-letter payload: everything a person needs to see why a thumbnail did not arrive."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from shared.core.errors import ThumbnailError
from shared.core.names import utf16_length

PAYLOAD_SUFFIX = ".error.json"
PAYLOAD_VERSION = 1


def deadletter_payload(
    error: ThumbnailError,
    *,
    blob: str,
    etag: str | None,
    imodel_id: str | None,
    sha256: str | None,
    size: int | None,
    attempts: int,
    at: datetime,
    image: dict[str, Any] | None = None,
    last_error: dict[str, Any] | None = None,
    client_id: str | None = None,
    invocation_id: str | None = None,
    dropped: str | None = None,
) -> dict[str, Any]:
    """The JSON written beside a dead-lettered original.  Never holds a token or a secret.

    ``client_id`` fills the hint's ``{client id}``, so the fix can be copied as it stands;
    ``invocation_id`` (the Functions invocation that dead-lettered it) finds its log records.
    """
    hint = error.hint if client_id is None else error.hint.replace("{client id}", client_id)
    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "code": error.code.value,
        "message": error.message,
        "stage": error.stage.value,
        "kind": error.kind.value,
        "hint": hint,
        "blob": blob,
        "etag": etag,
        "imodelId": imodel_id,
        "sha256": sha256,
        "size": size,
        "attempts": attempts,
        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if invocation_id is not None:
        payload["invocationId"] = invocation_id
    if dropped:
        payload["droppedAt"] = dropped
    if image:
        payload["image"] = image
    if error.details and error.details != image:
        payload["details"] = error.details
    if error.api is not None:
        payload["api"] = {
            "status": error.api.status,
            "correlationId": error.api.correlation_id,
            "body": error.api.body,
        }
    if last_error is not None:
        payload["lastError"] = last_error
    return payload


def encode(payload: dict[str, Any]) -> bytes:
    return (json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8")


#: Azure's limit on a blob name, in UTF-16 code units.
MAX_BLOB_NAME = 1024


def payload_name(blob_name: str) -> str:
    """``{blob_name}.error.json``, or, when that would pass the 1,024-character limit (a drop with a
    name near the limit), the name cut short plus a hash of the whole, so it stays unique.  Readers
    find the original through the payload's own ``blob`` field, never by parsing this name."""
    name = blob_name + PAYLOAD_SUFFIX
    if utf16_length(name) <= MAX_BLOB_NAME:
        return name
    tail = "~" + hashlib.sha256(blob_name.encode("utf-8", "surrogatepass")).hexdigest()[:16] + PAYLOAD_SUFFIX
    keep = blob_name
    while utf16_length(keep + tail) > MAX_BLOB_NAME or keep.endswith((".", "/")):
        keep = keep[:-1]
    return keep + tail
