"""Where a blob ends: archived after an upload, or dead-lettered beside a payload that says why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.storage.blob import BlobClient, BlobProperties, BlobServiceClient, ContentSettings

from shared import storage
from shared.errors import ThumbnailError
from shared.imaging import Thumbnail
from shared.itwin import UploadReceipt
from shared.payload import deadletter_payload, encode, payload_name
from shared.settings import Settings


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Disposer:
    """Moves a source blob to its final container: copy → verify → delete if unchanged."""

    def __init__(self, blobs: BlobServiceClient, settings: Settings, now: Callable[[], datetime]) -> None:
        self._blobs = blobs
        self._settings = settings
        self._now = now

    def archive(
        self,
        source: BlobClient,
        props: BlobProperties,
        original: bytes,
        *,
        thumbnail: Thumbnail,
        receipt: UploadReceipt,
    ) -> str:
        """Keep the original in the processed container, with what was sent recorded as metadata."""
        container = self._settings.processed_container
        metadata = {
            "source_sha256": storage.sha256_hex(original),
            "thumbnail_sha256": storage.sha256_hex(thumbnail.data),
            "thumbnail_bytes": str(len(thumbnail.data)),
            "uploaded_at": iso(self._now()),
            "correlation_id": receipt.correlation_id or "",
            "source_created": iso(props.creation_time) if props.creation_time else "",
        }
        destination = self._blobs.get_blob_client(container, source.blob_name)
        copy = storage.Copy(
            data=original,
            size=len(original),
            content_type=props.content_settings.content_type,
            metadata=metadata,
        )
        storage.write_copy(source, props.etag, destination, copy)
        storage.delete_if_unchanged(source, props.etag)
        return f"{container}/{source.blob_name}"

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
    ) -> str:
        """The original bytes, unchanged, plus ``{name}.error.json``; then the source goes."""
        container = self._settings.deadletter_container
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
        )
        payload_blob = self._blobs.get_blob_client(container, payload_name(source.blob_name))
        storage.storage_call(
            f"write {container}/{payload_name(source.blob_name)}",
            lambda: payload_blob.upload_blob(
                encode(payload),
                overwrite=True,
                content_settings=ContentSettings(content_type="application/json"),
            ),
        )
        storage.delete_if_unchanged(source, props.etag)
        return f"{container}/{source.blob_name}"
