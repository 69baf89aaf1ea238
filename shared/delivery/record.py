"""One delivery record per iModel: which drop its thumbnail came from, and which sends are in doubt.

The record lives in a container of its own (``STATE_CONTAINER``, ``thumbnails-state``), one JSON blob
per iModel, ``{imodelId}.json``, written only under a lease.  No lifecycle rule touches that
container, so the record outlives the 30-day archive.  It holds:

- ``sent``: the newest drop a PUT was answered 201 for, with the thumbnail bytes that were sent (a
  re-assert PUTs them again);
- ``pending``: the sends whose outcome is not known yet.  A delivery records its intent here, under
  the lease, before its PUT, and removes it when the PUT is answered.  An entry left behind (a
  timeout, a crash, a lease lost mid-send, a stale holder) is in doubt until the bound of
  :func:`shared.core.lifecycle.in_doubt_bound` has passed; ``scheduled`` says a re-assert for it is
  queued already, so each in-doubt send costs one re-assert, no more.

The ordering rule and the decisions are in :mod:`shared.core.lifecycle`.  The record **fails
closed**: a record that cannot be parsed, has a version this code does not know, or whose container
is gone raises ``DeliveryRecordUnreadable`` (retried, then dead-lettered with that code), never
"nothing recorded"; and it is only ever written in :data:`RECORD_VERSION`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient, ContentSettings

from shared.core.deadline import Deadline
from shared.core.errors import ErrorCode, ThumbnailError
from shared.core.lifecycle import DropKey, iso, parse_instant
from shared.delivery.log import LOGGER_NAME
from shared.edges import storage

# Azure allows 15-60 s.  Every single request made while holding it (a PUT: connect + read timeout)
# must be shorter; settings check that the HTTP timeouts fit.
from shared.settings import RECORD_LEASE_SECONDS

#: Waits between tries while another delivery of the same iModel holds the record: from 50 ms,
#: doubling up to 1 s (a send holds it for about a PUT's time; a crashed holder's lease ends in 60 s).
LEASE_WAIT_FIRST_SECONDS = 0.05
LEASE_WAIT_LONGEST_SECONDS = 1.0

#: The schema written.  Version 1 (no thumbnail, no pending sends) is still read.
RECORD_VERSION = 2
READABLE_VERSIONS = (1, 2)

logger = logging.getLogger(LOGGER_NAME)

__all__ = ["DeliveryRecord", "DropKey", "Hold", "Pending", "RecordStore", "SentDrop", "record_name"]


@dataclass(frozen=True)
class SentDrop:
    """The drop on the iModel: its key, the bytes sent (None in a version-1 record) and the receipt."""

    key: DropKey
    thumbnail_sha256: str
    sent_at: str
    correlation_id: str | None = None
    thumbnail: bytes | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Pending:
    """A send recorded before its PUT and not yet answered: in doubt once its sender is gone."""

    key: DropKey
    at: datetime
    scheduled: bool = False


@dataclass(frozen=True)
class DeliveryRecord:
    """The iModel's current thumbnail and its pending sends."""

    imodel_id: str
    sent: SentDrop | None = None
    pending: tuple[Pending, ...] = ()

    @property
    def key(self) -> DropKey | None:
        return self.sent.key if self.sent is not None else None

    @property
    def correlation_id(self) -> str | None:
        return self.sent.correlation_id if self.sent is not None else None

    def orphans(self) -> tuple[Pending, ...]:
        """Pending sends no re-assert is queued for (whoever holds the lease now, their senders are gone)."""
        return tuple(p for p in self.pending if not p.scheduled)

    def all_scheduled(self) -> DeliveryRecord:
        """Every pending send marked as covered by a queued re-assert."""
        return replace(self, pending=tuple(replace(p, scheduled=True) for p in self.pending))

    def with_intent(self, key: DropKey, at: datetime) -> DeliveryRecord:
        """Our intent added; every earlier pending send marked scheduled (the caller queued its re-assert)."""
        earlier = tuple(replace(p, scheduled=True) for p in self.pending)
        return replace(self, pending=(*earlier, Pending(key, at)))

    def resolved(self, key: DropKey, at: datetime, *, sent: SentDrop | None = None) -> DeliveryRecord:
        """Our pending send answered (or its re-assert queued): removed, and the drop recorded if sent."""
        rest = tuple(p for p in self.pending if not (p.key == key and p.at == at))
        return replace(self, sent=sent if sent is not None else self.sent, pending=rest)

    def expired(self, now: datetime, bound: float) -> DeliveryRecord:
        """Scheduled pending sends that can no longer land, dropped (keeps the record small)."""
        keep = tuple(p for p in self.pending if not p.scheduled or (now - p.at).total_seconds() <= bound)
        return replace(self, pending=keep)

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"version": RECORD_VERSION, "imodelId": self.imodel_id, "sent": None, "pending": []}
        if self.sent is not None:
            sent = self.sent
            body["sent"] = {
                "key": _key_json(sent.key),
                "thumbnailSha256": sent.thumbnail_sha256,
                "sentAt": sent.sent_at,
                "correlationId": sent.correlation_id,
                "contentType": sent.content_type,
                "thumbnail": base64.b64encode(sent.thumbnail).decode("ascii") if sent.thumbnail is not None else None,
            }
        body["pending"] = [{"key": _key_json(p.key), "at": iso(p.at), "scheduled": p.scheduled} for p in self.pending]
        return json.dumps(body, ensure_ascii=True, indent=1).encode("ascii")

    @classmethod
    def from_json(cls, data: bytes, *, where: str = "the delivery record") -> DeliveryRecord | None:
        """None for an empty record (created, nothing sent yet); raises when unreadable or unknown."""
        if not data.strip():
            return None
        try:
            body = json.loads(data)
            version = body["version"]
            if version not in READABLE_VERSIONS:
                raise ValueError(f"version {version!r}, this code reads {READABLE_VERSIONS}")
            if version == 1:
                return cls(
                    imodel_id=str(body["imodelId"]),
                    sent=SentDrop(
                        key=_key_of(body["key"]),
                        thumbnail_sha256=str(body.get("thumbnailSha256", "")),
                        sent_at=str(body.get("sentAt", "")),
                        correlation_id=body.get("correlationId"),
                    ),
                )
            sent = body["sent"]
            return cls(
                imodel_id=str(body["imodelId"]),
                sent=None
                if sent is None
                else SentDrop(
                    key=_key_of(sent["key"]),
                    thumbnail_sha256=str(sent["thumbnailSha256"]),
                    sent_at=str(sent["sentAt"]),
                    correlation_id=sent.get("correlationId"),
                    content_type=sent.get("contentType"),
                    thumbnail=base64.b64decode(sent["thumbnail"], validate=True)
                    if sent.get("thumbnail") is not None
                    else None,
                ),
                pending=tuple(
                    Pending(key=_key_of(p["key"]), at=_instant(p["at"]), scheduled=bool(p["scheduled"]))
                    for p in body["pending"]
                ),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            logger.warning("unreadable delivery record %s: %s", where, exc)
            raise unreadable(where, f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def _key_json(key: DropKey) -> dict[str, str]:
    return {"dropped": iso(key.dropped), "blob": key.name, "etag": key.etag}


def _key_of(body: Any) -> DropKey:
    return DropKey(dropped=_instant(body["dropped"]), name=str(body["blob"]), etag=str(body["etag"]))


def _instant(text: Any) -> datetime:
    moment = parse_instant(text if isinstance(text, str) else None)
    if moment is None:
        raise ValueError(f"not an instant: {str(text)[:40]!r}")
    return moment


def unreadable(where: str, why: str) -> ThumbnailError:
    return ThumbnailError(
        ErrorCode.DELIVERY_RECORD_UNREADABLE,
        f"{where} cannot be trusted ({why}); nothing is sent for this iModel until it is restored.",
        details={"record": where},
    )


def record_name(imodel_id: str) -> str:
    return f"{imodel_id}.json"


@dataclass
class Hold:
    """The record of one iModel while this delivery holds its lease."""

    blob: BlobClient
    lease: BlobLeaseClient
    recorded: DeliveryRecord  # as read, then as last written by this holder

    def renew(self) -> None:
        """Extend the lease before a request that must finish while we hold it; lost: not ours to send."""
        self._while_held(f"renew the lease on {self.blob.container_name}/{self.blob.blob_name}", self.lease.renew)

    def write(self, record: DeliveryRecord) -> None:
        """Write the record, only while the lease is still ours."""
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
        self.recorded = record

    def _while_held(self, what: str, call: Callable[[], object]) -> None:
        """One request that needs the lease: a lease that is gone or taken means it was lost."""
        if not storage.while_leased(what, self.blob, call):
            raise lost(self.blob)


def lost(blob: BlobClient) -> ThumbnailError:
    return ThumbnailError(
        ErrorCode.DELIVERY_RECORD_BUSY,
        f"The lease on {blob.container_name}/{blob.blob_name} was lost while sending; the send is not recorded "
        "and the blob is retried.",
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
        data = storage.download_or_none(blob, f"read the delivery record of {imodel_id}")
        if data is None:
            return None
        return DeliveryRecord.from_json(data, where=f"{blob.container_name}/{blob.blob_name}")

    @contextmanager
    def hold(self, imodel_id: str, deadline: Deadline) -> Iterator[Hold]:
        """Lease the iModel's record (creating it empty the first time), read it, release on exit."""
        blob = self._container.get_blob_client(record_name(imodel_id))
        lease = self._acquire(blob, imodel_id, deadline)
        try:
            data = storage.download_or_none(blob, f"read the delivery record of {imodel_id}")
            if data is None:
                raise unreadable(f"{blob.container_name}/{blob.blob_name}", "deleted while leased")
            recorded = DeliveryRecord.from_json(data, where=f"{blob.container_name}/{blob.blob_name}")
            yield Hold(blob=blob, lease=lease, recorded=recorded or DeliveryRecord(imodel_id))
        finally:
            # Expired or taken over already: it ends on its own within RECORD_LEASE_SECONDS.
            storage.release(lease)

    def _acquire(self, blob: BlobClient, imodel_id: str, deadline: Deadline) -> BlobLeaseClient:
        wait = LEASE_WAIT_FIRST_SECONDS
        while True:
            lease = storage.try_lease(blob, RECORD_LEASE_SECONDS)
            if lease is storage.LeaseRefused.MISSING:
                self._create(blob, imodel_id)
            elif lease is storage.LeaseRefused.BUSY:  # leased by another delivery of this iModel
                if not deadline.allows(wait):
                    raise ThumbnailError(
                        ErrorCode.DELIVERY_RECORD_BUSY,
                        f"Another delivery held {blob.container_name}/{blob.blob_name} until this invocation's "
                        "deadline; the blob is retried.",
                    )
                self._sleep(wait)
                wait = min(LEASE_WAIT_LONGEST_SECONDS, wait * 2)
            else:
                return lease

    def _create(self, blob: BlobClient, imodel_id: str) -> None:
        """A record saying nothing was sent yet, created once; a concurrent creator's is as good.

        A missing container is not created: records were there and are gone (a deleted container
        reads as "nothing recorded" otherwise, and an older drop would be sent).  Infra, ``make run``
        and ``doctor`` create it.
        """
        if storage.create_if_absent(blob, DeliveryRecord(imodel_id).to_json()) is storage.Created.NO_CONTAINER:
            raise unreadable(f"{blob.container_name}/{blob.blob_name}", "the state container is missing")
