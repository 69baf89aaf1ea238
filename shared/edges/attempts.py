"""Failed deliveries, counted exactly: one mark per failure, never a read-modify-write.

A delivery that fails transiently writes a mark of its own to the processed container,
``_attempts/{version}/{uuid}`` (create-only, empty), then counts the marks under ``_attempts/{version}/``.
The processed container, not the state container: that one fails closed when it is missing (a mark
must never recreate it empty), and the processed container's lifecycle rule ages the marks out.
Two duplicates failing at the same moment write two marks, so the count is exact: a counter kept on
the blob and updated with If-Match (or last-writer-wins) counts them once.  ``version`` is the
sha256 of the source's container, name and ETag: a newer upload at the same path starts from zero,
and the mark's name stays short whatever the blob is called.  Marks touch nothing on the source, so
counting never changes its ETag.

What counts: every delivery that ends ``retry``.  A delivery the host kills (functionTimeout, a
crash, a scale-in) writes no mark; the host counts it towards ``poisonBlobThreshold`` instead, and
``poison sweep`` dead-letters what that parks.  Marks of a version that was later settled stay
until the processed container's retention (``processedRetentionDays``) removes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from shared.edges import storage

PREFIX = "_attempts/"


def version_key(container: str, blob_name: str, etag: str) -> str:
    """The marks' folder for one version of one blob."""
    return hashlib.sha256(f"{container}\n{blob_name}\n{etag.strip(chr(34))}".encode()).hexdigest()


class AttemptMarks:
    """The failure marks in ``container`` (the processed container, created on first use)."""

    def __init__(self, blobs: BlobServiceClient, container: str) -> None:
        self._container: ContainerClient = blobs.get_container_client(container)

    def failed(self, container: str, blob_name: str, etag: str) -> int:
        """Mark one failed delivery of this version; how many have failed so far, this one included."""
        folder = f"{PREFIX}{version_key(container, blob_name, etag)}/"
        mark = self._container.get_blob_client(f"{folder}{uuid.uuid4().hex}")
        write = lambda: mark.upload_blob(b"", overwrite=False)  # noqa: E731
        try:
            storage.storage_call("mark a failed delivery", write, account=mark.account_name)
        except ResourceNotFoundError:  # the container does not exist yet (a fresh local setup)
            with contextlib.suppress(ResourceExistsError):  # another delivery created it meanwhile
                storage.storage_call("create the marks' container", self._container.create_container)
            storage.storage_call("mark a failed delivery", write, account=mark.account_name)
        return self._count(folder)

    def count(self, container: str, blob_name: str, etag: str) -> int:
        """How many deliveries of this version have failed (0 if the container is missing)."""
        try:
            return self._count(f"{PREFIX}{version_key(container, blob_name, etag)}/")
        except ResourceNotFoundError:
            return 0

    def _count(self, folder: str) -> int:
        return storage.storage_call(
            "count failed deliveries", lambda: sum(1 for _ in self._container.list_blobs(name_starts_with=folder))
        )
