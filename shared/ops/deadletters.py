"""Reading dead-letters and re-driving them, once the cause is fixed.

Layout of the dead-letter container: the original at ``{blob}``, its payload at
``{blob}.error.json``, and payloads of re-driven entries under ``_redriven/{time}/`` (the audit
trail; never re-listed as dead-letters).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient

from shared.core.payload import PAYLOAD_SUFFIX, payload_name
from shared.delivery.source import DROPPED_METADATA
from shared.edges import storage
from shared.settings import StorageSettings

AUDIT_PREFIX = "_redriven/"


@dataclass(frozen=True)
class DeadLetter:
    blob: str  # the original's name inside the dead-letter container
    payload: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.payload.get("code", ""))

    @property
    def imodel_id(self) -> str:
        return str(self.payload.get("imodelId") or "")

    def row(self) -> tuple[str, str, str, str, str]:
        api = self.payload.get("api") or {}
        status = str(api.get("status", "")) if isinstance(api, dict) else ""
        return (self.blob, self.code, status, str(self.payload.get("at", "")), str(self.payload.get("attempts", "")))


class DeadLetters:
    def __init__(self, blobs: BlobServiceClient, settings: StorageSettings, now: Callable[[], datetime]) -> None:
        self._container = blobs.get_container_client(settings.deadletter_container)
        self._incoming = blobs.get_container_client(settings.incoming_container)
        self._now = now

    def list(self, *, imodel_id: str | None = None, code: str | None = None) -> list[DeadLetter]:
        found = []
        for item in self._container.list_blobs():
            if not item.name.endswith(PAYLOAD_SUFFIX) or item.name.startswith(AUDIT_PREFIX):
                continue
            payload = self._payload(item.name)
            if payload is None:
                continue
            entry = DeadLetter(blob=self._original_of(item.name, payload), payload=payload)
            if imodel_id and entry.imodel_id.lower() != imodel_id.lower():
                continue
            if code and entry.code.lower() != code.lower():
                continue
            found.append(entry)
        return found

    def show(self, blob: str) -> DeadLetter | None:
        name = self.name_of(blob)
        payload = self._payload(payload_name(name))
        return None if payload is None else DeadLetter(blob=name, payload=payload)

    def _payload(self, payload_blob: str) -> dict[str, Any] | None:
        client = self._container.get_blob_client(payload_blob)
        try:
            data = storage.storage_call(f"read {payload_blob}", lambda: client.download_blob().readall())
        except ResourceNotFoundError:
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            payload = {"code": "?", "message": "unreadable payload"}
        return payload if isinstance(payload, dict) else {}

    def _original_of(self, payload_blob: str, payload: dict[str, Any]) -> str:
        """The original's name, from the payload's ``blob`` (a payload of a near-1,024-character name
        is stored under a shortened name, so its own name is not always the original's plus suffix)."""
        blob = payload.get("blob")
        prefix = self._incoming.container_name + "/"
        if isinstance(blob, str) and blob.startswith(prefix) and payload_name(blob[len(prefix) :]) == payload_blob:
            return blob[len(prefix) :]
        return payload_blob[: -len(PAYLOAD_SUFFIX)]

    def redrive(self, entry: DeadLetter) -> str:
        """Put the original back where the trigger sees it, keep the payload in the audit trail.

        Order matters for crash safety and for a fast re-failure: the original is written to the
        incoming container first, then the dead-letter copies are deleted only if unchanged, so a new
        dead-letter written meanwhile by the trigger survives.
        """
        original = self._container.get_blob_client(entry.blob)
        payload = self._container.get_blob_client(payload_name(entry.blob))
        original_props = storage.properties_or_none(original)
        payload_props = storage.properties_or_none(payload)
        if original_props is None:
            raise FileNotFoundError(f"{entry.blob} is not in the dead-letter container")
        data = storage.download(original, original_props.etag)
        if data is None:
            raise FileNotFoundError(f"{entry.blob} changed while being read; try again")
        stamp = self._now().strftime("%Y%m%dT%H%M%SZ")
        audit = self._container.get_blob_client(f"{AUDIT_PREFIX}{stamp}/{payload_name(entry.blob)}")
        storage.storage_call(
            "write the audit copy", lambda: audit.upload_blob(json.dumps(entry.payload, indent=2), overwrite=True)
        )
        target = self._incoming.get_blob_client(entry.blob)
        # The original drop time goes back with it: a redrive is not a new drop, so it keeps its
        # place in the iModel's order (an old render redriven late never replaces a newer one).
        dropped = (original_props.metadata or {}).get(DROPPED_METADATA) or str(entry.payload.get("droppedAt") or "")
        metadata = {DROPPED_METADATA: dropped} if dropped else {}
        try:
            storage.storage_call(
                f"write {self._incoming.container_name}/{entry.blob}",
                lambda: target.upload_blob(
                    data, overwrite=False, content_settings=original_props.content_settings, metadata=metadata
                ),
            )
        except ResourceExistsError:
            if _same_bytes(target, data):
                pass  # an earlier redrive got this far: finish it
            else:
                raise FileExistsError(
                    f"{self._incoming.container_name}/{entry.blob} exists (a newer drop?): not overwritten; "
                    "let it be processed or move it, then redrive again"
                ) from None
        for client, props in ((payload, payload_props), (original, original_props)):
            if props is None:
                continue
            # Gone already, or re-written by a newer failure: keep that one.
            storage.delete_if_unchanged(client, props.etag)
        return f"{self._incoming.container_name}/{entry.blob}"

    def name_of(self, blob: str) -> str:
        """Accept ``container/path``, ``path`` or the payload's own name."""
        prefix = self._container.container_name + "/"
        name = blob[len(prefix) :] if blob.startswith(prefix) else blob
        return name[: -len(PAYLOAD_SUFFIX)] if name.endswith(PAYLOAD_SUFFIX) else name


def _same_bytes(blob: BlobClient, data: bytes) -> bool:
    props = storage.properties_or_none(blob)
    stored = props.content_settings.content_md5 if props is not None else None
    return stored is not None and bytes(stored) == storage.content_md5(data)
