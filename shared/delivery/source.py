"""What a delivery knows about its blob, frozen once read: an :class:`Arrival` (properties, attempt,
drop time), then a :class:`Source` (plus the parsed path, the bytes and the ordering key).

Both are values: each step of the pipeline takes what the previous one returned, and nothing is
filled in later.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from azure.storage.blob import BlobClient, BlobProperties

from shared.core.lifecycle import DropKey, iso, parse_instant
from shared.core.paths import BlobRef
from shared.delivery.log import LOGGER_NAME

#: The blob index tag the pipeline keeps on a source blob between deliveries: the ETag of its version
#: that a PUT was answered 201 for (never dead-letter it).  A tag, not metadata: Set Blob Tags changes
#: neither the ETag nor the last-modified time (Azure's "Manage and find Azure Blob data with blob
#: index tags"; checked on Azurite too), so the mark never makes a sent version look like a new one.
#: Failed deliveries are counted elsewhere (:mod:`shared.edges.attempts`).
SENT_TAG = "thumbnaildrop_sent"

#: Metadata of a redriven blob (and of its archive and dead-letter): its ORIGINAL drop time, so a
#: redrive never counts as a new drop.  The one name for that fact.
DROPPED_METADATA = "thumbnaildrop_dropped"

#: Long enough for the slowest copy (a streamed 256 MiB original); a crashed holder's lease ends then.
LEASE_SECONDS = 60

logger = logging.getLogger(LOGGER_NAME)

__all__ = ["DROPPED_METADATA", "LEASE_SECONDS", "SENT_TAG", "Arrival", "Source", "etag_text", "iso"]


def etag_text(etag: str) -> str:
    """An ETag without its quotes, as kept in metadata and tags."""
    return etag.strip('"')


@dataclass(frozen=True)
class Arrival:
    """A blob as found in the incoming container: enough to dead-letter it, whatever its path."""

    blob: BlobClient
    props: BlobProperties
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"{self.blob.container_name}/{self.blob.blob_name}"

    @property
    def etag(self) -> str:
        return str(self.props.etag)

    @property
    def sent(self) -> bool:
        """A PUT of this very version was answered 201 (by any delivery)."""
        return self.tags.get(SENT_TAG) == etag_text(self.etag)

    @cached_property
    def dropped_at(self) -> datetime:
        """The instant that orders this blob: a redrive's carried original, else the creation time.

        A carried value that is not an instant (any upload tool can set metadata) is ignored and
        logged: it must neither win over every later drop nor lose to every earlier one.
        """
        carried = (self.props.metadata or {}).get(DROPPED_METADATA)
        if carried:
            moment = parse_instant(carried)
            if moment is not None:
                return moment
            logger.warning(
                "ignored invalid %s %r on %s; its creation time orders it", DROPPED_METADATA, carried[:64], self.path
            )
        created = self.props.creation_time or self.props.last_modified
        return (created or datetime.fromtimestamp(0, UTC)).astimezone(UTC).replace(microsecond=0)

    @property
    def dropped(self) -> str:
        """:attr:`dropped_at` as text, for payloads and metadata."""
        return iso(self.dropped_at)


@dataclass(frozen=True)
class Source:
    """A readable blob of an iModel, with its bytes pinned to one ETag."""

    arrival: Arrival
    ref: BlobRef
    data: bytes

    @property
    def blob(self) -> BlobClient:
        return self.arrival.blob

    @property
    def props(self) -> BlobProperties:
        return self.arrival.props

    @property
    def etag(self) -> str:
        return self.arrival.etag

    @property
    def key(self) -> DropKey:
        return DropKey(dropped=self.arrival.dropped_at, name=self.blob.blob_name, etag=etag_text(self.etag))

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()
