"""Where a blob ends: archived after an upload, or dead-lettered beside a payload that says why.

Both moves hold a lease on the source while they run, so duplicate or concurrent deliveries of the
same blob are serialized here, and the rule between them is simple: **the uploader wins**.  A worker
that uploaded archives the blob and removes a dead-letter another worker made of the same version;
a worker about to dead-letter first checks that no one archived that version.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobProperties, BlobServiceClient, ContentSettings

from shared.core.errors import ThumbnailError
from shared.core.payload import deadletter_payload, encode, payload_name
from shared.delivery.log import LOGGER_NAME, current_invocation_id
from shared.edges import storage
from shared.edges.itwin import UploadReceipt
from shared.imaging import Thumbnail
from shared.settings import Settings

#: Long enough for the slowest copy (a streamed 256 MiB original); a crashed holder's lease ends then.
LEASE_SECONDS = 60

#: Per-iModel marker in the processed container: the creation time of the newest upload.
LATEST_PREFIX = "_latest/"
LATEST_METADATA = "source_created"


logger = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class LatestUpload:
    created: str  # the source blob's creation time, ISO UTC
    blob: str  # its name inside the incoming (and processed) container


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def etag_text(etag: str) -> str:
    """An ETag without its quotes, as kept in metadata."""
    return etag.strip('"')


class Disposer:
    """Moves a source blob to its final container: copy → verify → delete if unchanged."""

    def __init__(
        self,
        blobs: BlobServiceClient,
        settings: Settings,
        now: Callable[[], datetime],
        sleep: Callable[[float], None],
    ) -> None:
        self._blobs = blobs
        self._settings = settings
        self._now = now
        self._sleep = sleep

    @contextlib.contextmanager
    def _claim(self, source: BlobClient, etag: str) -> Iterator[BlobLeaseClient | None]:
        lease = storage.acquire_lease(source, etag, seconds=LEASE_SECONDS, sleep=self._sleep)
        try:
            yield lease
        finally:
            storage.release(lease)

    # -- archive ----------------------------------------------------------------------------------

    def archive(
        self,
        source: BlobClient,
        props: BlobProperties,
        original: bytes,
        *,
        thumbnail: Thumbnail | None,
        receipt: UploadReceipt | None,
        superseded_by: str | None = None,
    ) -> str:
        """Keep the original in the processed container, with what was sent recorded as metadata.

        Runs even when the source is already gone: the upload happened, so the archive must exist.
        """
        container = self._settings.processed_container
        metadata = {
            "source_sha256": storage.sha256_hex(original),
            "source_etag": etag_text(props.etag),
            "source_created": iso(props.creation_time) if props.creation_time else "",
            "archived_at": iso(self._now()),
        }
        if thumbnail is not None and receipt is not None:
            metadata |= {
                "thumbnail_sha256": storage.sha256_hex(thumbnail.data),
                "thumbnail_bytes": str(len(thumbnail.data)),
                "correlation_id": receipt.correlation_id or "",
            }
        if superseded_by is not None:
            metadata["superseded_by"] = superseded_by
        destination = self._blobs.get_blob_client(container, source.blob_name)
        copy = storage.Copy(
            data=original,
            size=len(original),
            content_type=props.content_settings.content_type,
            metadata=metadata,
            sha256=metadata["source_sha256"],
        )
        with self._claim(source, props.etag) as lease:
            if lease is None and self._newer_archived(destination, metadata["source_created"]):
                # The source was replaced and the newer version already archived at this path:
                # keep that one (the user's own overwrite replaced our version's bytes).
                return f"{container}/{source.blob_name}"
            storage.write_copy(source, props.etag, destination, copy)
            if superseded_by is None:
                self._drop_deadletter_of(source.blob_name, props.etag)
            if lease is not None:
                storage.delete_if_unchanged(source, props.etag, lease)
        return f"{container}/{source.blob_name}"

    def _drop_deadletter_of(self, blob_name: str, etag: str) -> None:
        """Uploader wins: remove a dead-letter a concurrent worker made of this very version."""
        container = self._blobs.get_container_client(self._settings.deadletter_container)
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

    # -- dead-letter --------------------------------------------------------------------------------

    def deadletter(
        self,
        source: BlobClient,
        props: BlobProperties,
        original: bytes | None,
        error: ThumbnailError,
        *,
        imodel_id: str | None,
        attempts: int,
        image: dict[str, Any] | None,
        last_error: dict[str, Any] | None,
    ) -> str | None:
        """The original bytes, unchanged, plus ``{name}.error.json``; then the source goes.

        None when there is nothing to dead-letter: the source is gone or was replaced (another
        delivery handled it), or this version was already uploaded and archived.
        """
        container = self._settings.deadletter_container
        with self._claim(source, props.etag) as lease:
            if lease is None or self._archived(source.blob_name, props.etag):
                if lease is not None:
                    storage.delete_if_unchanged(source, props.etag, lease)
                return None
            destination = self._blobs.get_blob_client(container, source.blob_name)
            copy = storage.Copy(
                data=original,
                size=int(props.size),
                content_type=props.content_settings.content_type,
                metadata={"error_code": error.code.value},
            )
            sha256 = storage.write_copy(source, props.etag, destination, copy)
            payload = deadletter_payload(
                error,
                blob=f"{source.container_name}/{source.blob_name}",
                etag=props.etag,
                imodel_id=imodel_id,
                sha256=sha256,
                size=int(props.size),
                attempts=attempts,
                at=self._now(),
                image=image,
                last_error=last_error,
                client_id=self._settings.itwin.client_id,
                invocation_id=current_invocation_id(),
            )
            payload_blob = self._blobs.get_blob_client(container, payload_name(source.blob_name))
            storage.storage_call(
                f"write {container}/{payload_name(source.blob_name)}",
                lambda: payload_blob.upload_blob(
                    encode(payload), overwrite=True, content_settings=ContentSettings(content_type="application/json")
                ),
            )
            storage.delete_if_unchanged(source, props.etag, lease)
        return f"{container}/{source.blob_name}"

    @staticmethod
    def _newer_archived(destination: BlobClient, created: str) -> bool:
        props = storage.properties_or_none(destination)
        return props is not None and (props.metadata or {}).get("source_created", "") > created

    def _archived(self, blob_name: str, etag: str) -> bool:
        archived = self._blobs.get_blob_client(self._settings.processed_container, blob_name)
        props = storage.properties_or_none(archived)
        return props is not None and (props.metadata or {}).get("source_etag") == etag_text(etag)

    # -- newest upload per iModel -------------------------------------------------------------------

    def latest_upload(self, imodel_id: str) -> LatestUpload | None:
        """The newest source uploaded for this iModel (creation time, ISO UTC, and blob), if any."""
        marker = self._blobs.get_blob_client(self._settings.processed_container, LATEST_PREFIX + imodel_id)
        props = storage.properties_or_none(marker)
        metadata = (props.metadata or {}) if props is not None else {}
        if LATEST_METADATA not in metadata:
            return None
        return LatestUpload(created=metadata[LATEST_METADATA], blob=metadata.get("blob", ""))

    def find_original(self, blob_name: str) -> bytes | None:
        """An original by name: archived in the processed container, or still in the incoming one."""
        for container in (self._settings.processed_container, self._settings.incoming_container):
            blob = self._blobs.get_blob_client(container, blob_name)
            props = storage.properties_or_none(blob)
            data = storage.download(blob, props.etag) if props is not None else None
            if data is not None:
                return data
        return None

    def record_upload(self, imodel_id: str, created: str, blob_name: str) -> None:
        """Move the marker forward (never back), with optimistic concurrency on its ETag."""
        marker = self._blobs.get_blob_client(self._settings.processed_container, LATEST_PREFIX + imodel_id)
        metadata = {LATEST_METADATA: created, "blob": blob_name, "uploaded_at": iso(self._now())}
        for _ in range(5):
            props = storage.properties_or_none(marker)
            if props is not None and (props.metadata or {}).get(LATEST_METADATA, "") >= created:
                return
            try:
                if props is None:
                    storage.storage_call(
                        "create the latest-upload marker",
                        lambda: marker.upload_blob(b"", metadata=metadata, overwrite=False),
                    )
                else:
                    _move_marker(marker, metadata, props.etag)
                return
            except (ResourceExistsError, ResourceModifiedError):
                continue  # someone moved it meanwhile: look again
        logger.warning("the newest-upload marker of %s kept changing; not moved to %s", imodel_id, created)


def _move_marker(marker: BlobClient, metadata: dict[str, str], etag: str) -> None:
    storage.storage_call(
        "move the latest-upload marker",
        lambda: marker.set_blob_metadata(metadata, etag=etag, match_condition=MatchConditions.IfNotModified),
    )
