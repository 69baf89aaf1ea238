"""Dead-letter: the original bytes, unchanged, beside ``{name}.error.json`` that says why; then the
source goes.  Under a lease on the source, like the archive, and never for a version already
archived (the uploader wins, see :mod:`shared.delivery.archive`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.core.deadline import Deadline
from shared.core.errors import ThumbnailError
from shared.core.payload import deadletter_payload, encode, payload_name
from shared.delivery.archive import archived_version
from shared.delivery.log import current_invocation_id
from shared.delivery.source import DROPPED_METADATA, LEASE_SECONDS, Arrival, etag_text
from shared.edges import storage


class DeadLetterer:
    def __init__(
        self,
        blobs: BlobServiceClient,
        deadletter_container: str,
        processed_container: str,
        *,
        client_id: str,
        now: Callable[[], datetime],
        sleep: Callable[[float], None],
    ) -> None:
        self._blobs = blobs
        self._container = deadletter_container
        self._processed = processed_container
        self._client_id = client_id
        self._now = now
        self._sleep = sleep

    def deadletter(
        self,
        arrival: Arrival,
        data: bytes | None,
        error: ThumbnailError,
        deadline: Deadline,
        *,
        imodel_id: str | None,
        image: dict[str, Any] | None,
        last_error: dict[str, Any] | None,
        attempts: int,
    ) -> str | None:
        """Where the original went; None when there was nothing to dead-letter: the source is gone
        or was replaced (another delivery handled it), or this version was already archived."""
        source, etag = arrival.blob, arrival.etag
        lease = storage.acquire_lease(source, etag, seconds=LEASE_SECONDS, sleep=self._sleep, deadline=deadline)
        try:
            if lease is None or archived_version(self._blobs, self._processed, source.blob_name, etag_text(etag)):
                if lease is not None:
                    storage.delete_if_unchanged(source, etag, lease)
                return None
            destination = self._blobs.get_blob_client(self._container, source.blob_name)
            copy = storage.Copy(
                data=data,
                size=int(arrival.props.size),
                content_type=arrival.props.content_settings.content_type,
                # The drop time rides along, so a redrive keeps its place in the iModel's order.
                metadata={"error_code": error.code.value, DROPPED_METADATA: arrival.dropped},
            )
            sha256 = storage.write_copy(source, etag, destination, copy)
            payload = deadletter_payload(
                error,
                blob=arrival.path,
                etag=etag,
                imodel_id=imodel_id,
                sha256=sha256,
                size=int(arrival.props.size),
                attempts=attempts,
                at=self._now(),
                image=image,
                last_error=last_error,
                client_id=self._client_id,
                dropped=arrival.dropped,
                invocation_id=current_invocation_id(),
            )
            name = payload_name(source.blob_name)
            payload_blob = self._blobs.get_blob_client(self._container, name)
            storage.storage_call(
                f"write {self._container}/{name}",
                lambda: payload_blob.upload_blob(
                    encode(payload), overwrite=True, content_settings=ContentSettings(content_type="application/json")
                ),
                account=payload_blob.account_name,
            )
            storage.delete_if_unchanged(source, etag, lease)
        finally:
            storage.release(lease)
        return f"{self._container}/{source.blob_name}"
