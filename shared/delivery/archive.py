"""Archive: keep an original in the processed container once its fate is settled (sent, or superseded).

The move is copy -> verify -> delete-if-unchanged, under a lease on the source, so duplicate
deliveries of one blob are serialized here.  **Every version's original is kept**: the plain name
holds the current version's original; a different version found there is first copied aside to
``{name}@{etag}``, and a delivery of a version that is no longer current archives beside it under
that versioned name, so an archive step never replaces a different version's original.  **The
uploader wins**: archiving an uploaded version
removes a dead-letter another worker made of that very version (:mod:`shared.delivery.deadletter`
refuses to dead-letter a version already archived).  Metadata holds no user string raw: names are
percent-encoded (:mod:`shared.core.names`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from azure.storage.blob import BlobClient, BlobServiceClient

from shared.core.deadline import Deadline
from shared.core.lifecycle import DropKey, parse_instant
from shared.core.names import to_header
from shared.core.payload import payload_name
from shared.delivery.source import DROPPED_METADATA, LEASE_SECONDS, Source, etag_text, iso
from shared.edges import storage
from shared.edges.itwin import UploadReceipt
from shared.imaging import Thumbnail

#: Archive metadata: the (unquoted) ETag of the source version an archived original is a copy of.
SOURCE_ETAG_METADATA = "source_etag"


def versioned_name(blob_name: str, etag: str) -> str:
    """Where a version that does not hold the plain name is archived: the name carries the version."""
    return f"{blob_name}@{etag_text(etag)}"


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
            SOURCE_ETAG_METADATA: etag_text(source.etag),
            DROPPED_METADATA: iso(source.key.dropped),
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
        copy = storage.Copy(
            data=source.data,
            size=len(source.data),
            content_type=source.props.content_settings.content_type,
            metadata=metadata,
            sha256=source.sha256,
        )
        name = source.blob.blob_name
        lease = storage.acquire_lease(
            source.blob, source.etag, seconds=LEASE_SECONDS, sleep=self._sleep, deadline=deadline
        )
        try:
            destination = self._destination(name, etag_text(source.etag), current=lease is not None)
            storage.write_copy(source.blob, source.etag, destination, copy)
            if sent is not None:
                self._drop_deadletter_of(name, source.etag)
            if lease is not None:
                storage.delete_if_unchanged(source.blob, source.etag, lease)
        finally:
            storage.release(lease)
        return f"{self._processed}/{destination.blob_name}"

    def _destination(self, name: str, ours: str, *, current: bool) -> BlobClient:
        """The plain name for the current version (a different one there moves aside first); the
        versioned name for a version that is no longer current when another holds the plain name."""
        plain = self._blobs.get_blob_client(self._processed, name)
        there = storage.properties_or_none(plain)
        if there is None:
            return plain
        theirs = (there.metadata or {}).get(SOURCE_ETAG_METADATA) or etag_text(str(there.etag))
        if theirs == ours:
            return plain
        if not current:
            return self._blobs.get_blob_client(self._processed, versioned_name(name, ours))
        aside = self._blobs.get_blob_client(self._processed, versioned_name(name, theirs))
        storage.write_copy(
            plain,
            str(there.etag),
            aside,
            storage.Copy(
                data=None,
                size=int(there.size),
                content_type=there.content_settings.content_type,
                metadata=dict(there.metadata or {}),
            ),
        )
        return plain

    def newest_sent(self, imodel_id: str) -> DropKey | None:
        """The newest drop of this iModel archived as sent: what its record said before it was
        deleted, for as long as the archive keeps it (so a lost record never reads as "nothing")."""
        container = self._blobs.get_container_client(self._processed)
        newest: DropKey | None = None
        for item in storage.list_with_metadata(container, f"{imodel_id}/"):
            metadata = item.metadata or {}
            dropped = parse_instant(metadata.get(DROPPED_METADATA))
            etag = metadata.get(SOURCE_ETAG_METADATA)
            if "thumbnail_sha256" not in metadata or dropped is None or not etag:
                continue  # archived unsent (superseded), or not written by this code
            name = str(item.name).removesuffix(f"@{etag}")
            key = DropKey(dropped=dropped, name=name, etag=etag)
            if newest is None or key.order > newest.order:
                newest = key
        return newest

    def _drop_deadletter_of(self, blob_name: str, etag: str) -> None:
        """Uploader wins: remove a dead-letter a concurrent worker made of this very version."""
        container = self._blobs.get_container_client(self._deadletter)
        payload = storage.download_or_none(container.get_blob_client(payload_name(blob_name)), "check the dead-letter")
        if payload is None:
            return
        try:
            meta = json.loads(payload)
        except ValueError:
            return  # unreadable: not provably ours, so not ours to delete
        if not isinstance(meta, dict) or meta.get("etag") != etag:
            return
        for name in (blob_name, payload_name(blob_name)):
            storage.delete_if_exists(container.get_blob_client(name), "remove a stale dead-letter")


def archived_version(blobs: BlobServiceClient, processed_container: str, blob_name: str, etag: str) -> bool:
    """True when this version (unquoted ``etag``) of ``blob_name`` is archived, under either name."""
    for name in (blob_name, versioned_name(blob_name, etag)):
        props = storage.properties_or_none(blobs.get_blob_client(processed_container, name))
        if props is not None and (props.metadata or {}).get(SOURCE_ETAG_METADATA) == etag:
            return True
    return False
