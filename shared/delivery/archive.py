"""Archive: keep an original in the processed container once its fate is settled (sent, or superseded).

The move is copy -> verify -> delete-if-unchanged, under a lease on the source, so duplicate
deliveries of one blob are serialized here.  **The uploader wins**: archiving an uploaded version
removes a dead-letter another worker made of that very version (:mod:`shared.delivery.deadletter`
refuses to dead-letter a version already archived).  Metadata holds no user string raw: names are
percent-encoded (:mod:`shared.core.names`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient

from shared.core.deadline import Deadline
from shared.core.names import to_header
from shared.core.payload import payload_name
from shared.delivery.source import LEASE_SECONDS, Source, etag_text, iso
from shared.edges import storage
from shared.edges.itwin import UploadReceipt
from shared.imaging import Thumbnail

#: Archive metadata: the drop time that orders this original (see :mod:`shared.delivery.record`).
DROPPED_METADATA = "dropped"


@dataclass(frozen=True)
class Sent:
    """What was sent for an archived original (None for one archived unsent)."""

    thumbnail: Thumbnail
    receipt: UploadReceipt | None  # None: sent by an earlier delivery, recorded, not sent again


class Archiver:
    def __init__(
        self,
        blobs: BlobServiceClient,
        processed_container: str,
        deadletter_container: str,
        *,
        now: Callable[[], datetime],
        sleep: Callable[[float], None],
    ) -> None:
        self._blobs = blobs
        self._processed = processed_container
        self._deadletter = deadletter_container
        self._now = now
        self._sleep = sleep

    def archive(
        self, source: Source, deadline: Deadline, *, sent: Sent | None, superseded_by: str | None = None
    ) -> str:
        """Keep the original, with what was sent recorded as metadata; then the source goes.

        Runs even when the source is already gone: the upload happened, so the archive must exist.
        """
        metadata = {
            "source_sha256": source.sha256,
            "source_etag": etag_text(source.etag),
            DROPPED_METADATA: source.key.dropped,
            "archived_at": iso(self._now()),
        }
        if sent is not None:
            metadata |= {
                "thumbnail_sha256": storage.sha256_hex(sent.thumbnail.data),
                "thumbnail_bytes": str(len(sent.thumbnail.data)),
                "correlation_id": to_header((sent.receipt.correlation_id if sent.receipt else None) or ""),
            }
        if superseded_by is not None:
            metadata["superseded_by"] = to_header(superseded_by)
        destination = self._blobs.get_blob_client(self._processed, source.blob.blob_name)
        copy = storage.Copy(
            data=source.data,
            size=len(source.data),
            content_type=source.props.content_settings.content_type,
            metadata=metadata,
            sha256=source.sha256,
        )
        where = f"{self._processed}/{source.blob.blob_name}"
        lease = storage.acquire_lease(
            source.blob, source.etag, seconds=LEASE_SECONDS, sleep=self._sleep, deadline=deadline
        )
        try:
            if lease is None and self._newer_archived(destination, source.key.dropped):
                # The source was replaced and the newer version already archived at this path:
                # keep that one (the user's own overwrite replaced our version's bytes).
                return where
            storage.write_copy(source.blob, source.etag, destination, copy)
            if sent is not None:
                self._drop_deadletter_of(source.blob.blob_name, source.etag)
            if lease is not None:
                storage.delete_if_unchanged(source.blob, source.etag, lease)
        finally:
            storage.release(lease)
        return where

    @staticmethod
    def _newer_archived(destination: BlobClient, dropped: str) -> bool:
        props = storage.properties_or_none(destination)
        return props is not None and (props.metadata or {}).get(DROPPED_METADATA, "") > dropped

    def _drop_deadletter_of(self, blob_name: str, etag: str) -> None:
        """Uploader wins: remove a dead-letter a concurrent worker made of this very version."""
        container = self._blobs.get_container_client(self._deadletter)
        payload_blob = container.get_blob_client(payload_name(blob_name))
        try:
            payload = storage.storage_call("check the dead-letter", lambda: payload_blob.download_blob().readall())
        except ResourceNotFoundError:
            return
        try:
            meta = json.loads(payload)
        except ValueError:
            return  # unreadable: not provably ours, so not ours to delete
        if not isinstance(meta, dict) or meta.get("etag") != etag:
            return
        for name in (blob_name, payload_name(blob_name)):
            with contextlib.suppress(ResourceNotFoundError):
                storage.storage_call("remove a stale dead-letter", container.get_blob_client(name).delete_blob)


def archived_version(blobs: BlobServiceClient, processed_container: str, blob_name: str) -> str | None:
    """The source ETag (unquoted) of what is archived at ``blob_name``, if anything."""
    props = storage.properties_or_none(blobs.get_blob_client(processed_container, blob_name))
    return (props.metadata or {}).get("source_etag") if props is not None else None
