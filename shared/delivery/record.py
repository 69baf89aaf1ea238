"""One delivery record per iModel: which drop the iModel's thumbnail came from, kept under a lease.

The record lives in a container of its own (``STATE_CONTAINER``, ``thumbnails-state``), one JSON blob
per iModel, ``{imodelId}.json``.  No lifecycle rule touches that container, so the record outlives
the 30-day archive.  Its shape follows AWS Lambda Powertools' idempotency ``DataRecord``: one key (the
iModel), a status, the ordering key of what was sent, and a hash of the payload (the thumbnail's
sha256).

**The rule** (:func:`verdict`, pure): a drop is identified by its :class:`DropKey`
``(dropped, name, etag)``.  ``dropped`` is the source blob's creation time in whole seconds (what
storage reports), or, for a redriven blob, the original drop time carried in its
``thumbnaildrop_dropped`` metadata.  Drops are ordered by ``(dropped, name)``: the later drop wins, and
of two drops in the same second the one whose name sorts last (by code point) wins.  Two versions of
one path are told apart by ETag: only the current version of a path is ever sent (checked under the
lease), so a different version than the recorded one is the newer.

**The protocol** (:meth:`RecordStore.hold`): lease the record (waiting, within the invocation's
deadline, while another delivery of the same iModel holds it) -> read it -> decide -> PUT (the lease
is renewed before every request of the PUT, and each request is shorter than the lease) -> write the
record with the lease -> release.  A lease lost on the way means the result is not recorded and the
blob is retried; a crash anywhere leaves a record that is at worst one send behind, so the next
delivery sends the same bytes once more.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient, ContentSettings

from shared.core.deadline import Deadline
from shared.core.errors import ErrorCode, ThumbnailError
from shared.delivery.log import LOGGER_NAME
from shared.edges import storage

# Azure allows 15-60 s.  Every single request made while holding it (a PUT: connect + read timeout)
# must be shorter; settings check that the HTTP timeouts fit.
from shared.settings import RECORD_LEASE_SECONDS

#: Waits between tries while another delivery of the same iModel holds the record: from 50 ms,
#: doubling up to 1 s (a send holds it for about a PUT's time; a crashed holder's lease ends in 60 s).
LEASE_WAIT_FIRST_SECONDS = 0.05
LEASE_WAIT_LONGEST_SECONDS = 1.0

RECORD_VERSION = 1

logger = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True, order=True)
class DropKey:
    """What identifies one drop, and orders drops of one iModel: ``(dropped, name)``, then ETag."""

    dropped: str  # ISO UTC, whole seconds: 2026-11-29T08:00:00Z
    name: str  # the blob name inside the incoming container, ``{imodelId}/{name}``
    etag: str

    @property
    def order(self) -> tuple[str, str]:
        return (self.dropped, self.name)


class Verdict(StrEnum):
    SEND = "send"  # newer than what the iModel shows (or nothing recorded): send it
    ALREADY_SENT = "already-sent"  # this very version was sent and recorded: archive, do not send again
    SUPERSEDED = "superseded"  # an older drop than the recorded one: archive unsent


def verdict(ours: DropKey, recorded: DropKey | None) -> Verdict:
    """The ordering rule, pure (see the module docstring)."""
    if recorded is None:
        return Verdict.SEND
    if (ours.name, ours.etag) == (recorded.name, recorded.etag):
        return Verdict.ALREADY_SENT
    if ours.order < recorded.order:
        return Verdict.SUPERSEDED
    return Verdict.SEND


@dataclass(frozen=True)
class DeliveryRecord:
    """The iModel's current thumbnail: from which drop, which bytes, when, and the API's receipt."""

    imodel_id: str
    key: DropKey
    thumbnail_sha256: str
    sent_at: str
    correlation_id: str | None = None
    status: str = "uploaded"

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "version": RECORD_VERSION,
            "imodelId": self.imodel_id,
            "status": self.status,
            "key": {"dropped": self.key.dropped, "blob": self.key.name, "etag": self.key.etag},
            "thumbnailSha256": self.thumbnail_sha256,
            "sentAt": self.sent_at,
            "correlationId": self.correlation_id,
        }
        return json.dumps(body, ensure_ascii=True, indent=1).encode("ascii")

    @classmethod
    def from_json(cls, data: bytes) -> DeliveryRecord | None:
        """None for an empty (just created) or unreadable record: nothing recorded yet."""
        if not data.strip():
            return None
        try:
            body = json.loads(data)
            key = body["key"]
            return cls(
                imodel_id=str(body["imodelId"]),
                key=DropKey(dropped=str(key["dropped"]), name=str(key["blob"]), etag=str(key["etag"])),
                thumbnail_sha256=str(body.get("thumbnailSha256", "")),
                sent_at=str(body.get("sentAt", "")),
                correlation_id=body.get("correlationId"),
                status=str(body.get("status", "uploaded")),
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("unreadable delivery record ignored: %r", data[:200])
            return None


def record_name(imodel_id: str) -> str:
    return f"{imodel_id}.json"


@dataclass
class Hold:
    """The record of one iModel while this delivery holds its lease."""

    blob: BlobClient
    lease: BlobLeaseClient
    recorded: DeliveryRecord | None

    def renew(self) -> None:
        """Extend the lease before a request that must finish while we hold it; lost: not ours to send."""
        self._while_held(f"renew the lease on {self.blob.container_name}/{self.blob.blob_name}", self.lease.renew)

    def write(self, record: DeliveryRecord) -> None:
        """Record what was sent, only while the lease is still ours."""
        data = record.to_json()
        self._while_held(
            f"write the delivery record {self.blob.container_name}/{self.blob.blob_name}",
            lambda: self.blob.upload_blob(
                data,
                overwrite=True,
                lease=self.lease,
                content_settings=ContentSettings(content_type="application/json"),
            ),
        )

    def _while_held(self, what: str, call: Callable[[], object]) -> None:
        """One request that needs the lease: a lease that is gone or taken (409/412) means it was lost."""
        try:
            storage.storage_call(what, call, account=self.blob.account_name)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as exc:
            raise lost(self.blob, exc) from exc
        except ThumbnailError as error:
            if error.details.get("status") in (409, 412):
                raise lost(self.blob, error) from error
            raise


def lost(blob: BlobClient, cause: Exception) -> ThumbnailError:
    return ThumbnailError(
        ErrorCode.DELIVERY_RECORD_BUSY,
        f"The lease on {blob.container_name}/{blob.blob_name} was lost while sending; the send is not recorded "
        f"and the blob is retried ({type(cause).__name__}).",
    )


class RecordStore:
    """The delivery records of every iModel, in their own container."""

    def __init__(
        self,
        blobs: BlobServiceClient,
        container: str,
        *,
        sleep: Callable[[float], None],
        now: Callable[[], datetime],
    ) -> None:
        self._container = blobs.get_container_client(container)
        self._sleep = sleep
        self._now = now

    def read(self, imodel_id: str) -> DeliveryRecord | None:
        """The record as it stands (no lease): for ``status``-like readers and tests."""
        blob = self._container.get_blob_client(record_name(imodel_id))
        try:
            data = storage.storage_call(
                f"read the delivery record of {imodel_id}",
                lambda: blob.download_blob().readall(),
                account=blob.account_name,
            )
        except ResourceNotFoundError:
            return None
        return DeliveryRecord.from_json(data)

    @contextmanager
    def hold(self, imodel_id: str, deadline: Deadline) -> Iterator[Hold]:
        """Lease the iModel's record (creating it empty the first time), read it, release on exit."""
        blob = self._container.get_blob_client(record_name(imodel_id))
        lease = self._acquire(blob, deadline)
        try:
            data = storage.storage_call(
                f"read the delivery record of {imodel_id}",
                lambda: blob.download_blob().readall(),
                account=blob.account_name,
            )
            yield Hold(blob=blob, lease=lease, recorded=DeliveryRecord.from_json(data))
        finally:
            # Expired or taken over already: it ends on its own within RECORD_LEASE_SECONDS.
            with contextlib.suppress(AzureError):
                lease.release()

    def _acquire(self, blob: BlobClient, deadline: Deadline) -> BlobLeaseClient:
        wait = LEASE_WAIT_FIRST_SECONDS
        while True:
            try:
                return storage.storage_call(
                    f"lease the delivery record {blob.container_name}/{blob.blob_name}",
                    lambda: blob.acquire_lease(RECORD_LEASE_SECONDS),
                    account=blob.account_name,
                )
            except ResourceNotFoundError:
                self._create(blob)
            except ResourceExistsError as exc:  # leased by another delivery of this iModel
                if not deadline.allows(wait):
                    raise ThumbnailError(
                        ErrorCode.DELIVERY_RECORD_BUSY,
                        f"Another delivery held {blob.container_name}/{blob.blob_name} until this invocation's "
                        "deadline; the blob is retried.",
                    ) from exc
                self._sleep(wait)
                wait = min(LEASE_WAIT_LONGEST_SECONDS, wait * 2)

    def _create(self, blob: BlobClient) -> None:
        """An empty record (nothing sent yet), created once; a concurrent creator's record is as good.

        The app creates its own state container the first time it needs it (infra, ``make run`` and
        the tests create it too), so a deployment that predates it keeps working.
        """
        create = lambda: blob.upload_blob(b"", overwrite=False)  # noqa: E731
        where = f"create the delivery record {blob.container_name}/{blob.blob_name}"
        try:
            storage.storage_call(where, create, account=blob.account_name)
        except ResourceExistsError:
            pass
        except ResourceNotFoundError:  # the container itself is missing
            with contextlib.suppress(ResourceExistsError):
                storage.storage_call(
                    f"create the container {blob.container_name}",
                    self._container.create_container,
                    account=blob.account_name,
                )
            with contextlib.suppress(ResourceExistsError):
                storage.storage_call(where, create, account=blob.account_name)
