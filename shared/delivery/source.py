"""What a delivery knows about its blob, frozen once read: an :class:`Arrival` (properties, attempt,
drop time), then a :class:`Source` (plus the parsed path, the bytes and the ordering key).

Both are values: each step of the pipeline takes what the previous one returned, and nothing is
filled in later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from azure.storage.blob import BlobClient, BlobProperties

from shared.core.paths import BlobRef
from shared.delivery.record import DropKey

#: Metadata the pipeline keeps on a source blob between delivery attempts.
ATTEMPTS_METADATA = "thumbnaildrop_attempts"

#: Metadata of a redriven blob: its ORIGINAL drop time, so a redrive never counts as a new drop.
DROPPED_METADATA = "thumbnaildrop_dropped"

#: Long enough for the slowest copy (a streamed 256 MiB original); a crashed holder's lease ends then.
LEASE_SECONDS = 60


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def etag_text(etag: str) -> str:
    """An ETag without its quotes, as kept in metadata."""
    return etag.strip('"')


@dataclass(frozen=True)
class Arrival:
    """A blob as found in the incoming container: enough to dead-letter it, whatever its path."""

    blob: BlobClient
    props: BlobProperties

    @property
    def path(self) -> str:
        return f"{self.blob.container_name}/{self.blob.blob_name}"

    @property
    def etag(self) -> str:
        return str(self.props.etag)

    @property
    def attempt(self) -> int:
        """This delivery's number (1 for the first), from the count kept on the blob."""
        try:
            return int((self.props.metadata or {}).get(ATTEMPTS_METADATA, "0")) + 1
        except ValueError:
            return 1

    @property
    def dropped(self) -> str:
        """The drop time that orders this blob: a redrive's original one, else the creation time."""
        carried = (self.props.metadata or {}).get(DROPPED_METADATA)
        if carried:
            return carried
        created = self.props.creation_time or self.props.last_modified
        return iso(created) if created else ""

    @property
    def dropped_at(self) -> datetime | None:
        try:
            return datetime.strptime(self.dropped, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None


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
        return DropKey(dropped=self.arrival.dropped, name=self.blob.blob_name, etag=etag_text(self.etag))

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()
