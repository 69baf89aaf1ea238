"""``status BLOB | --imodel ID``: where is this render now, and why.

A blob's whereabouts are read from the three containers the pipeline moves it between, and its failed
deliveries from their marks (:mod:`shared.edges.attempts`):

* **incoming** -- waiting or being retried, with the failed deliveries so far (one mark each in the
  processed container, :mod:`shared.edges.attempts`);
* **deadlettered** -- the ``.error.json`` payload beside the original says the code, the hint, the
  attempts and the invocation;
* **processed** -- uploaded: the archive's metadata has the time and the API's correlation id;
  **superseded** when the iModel's delivery record already held a newer drop: the archive's
  ``superseded_by`` metadata names that blob (percent-encoded, like every user string in metadata).

A name can be in more than one place (dropped again after it was processed): every place is listed,
the incoming one first, since that is where it is now.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from azure.storage.blob import BlobClient, BlobProperties, BlobServiceClient, ContainerClient

from shared.core.lifecycle import State
from shared.core.names import from_header
from shared.core.payload import PAYLOAD_SUFFIX
from shared.delivery.pipeline import utcnow
from shared.edges import storage
from shared.edges.attempts import AttemptMarks
from shared.ops.deadletters import DeadLetters
from shared.settings import StorageSettings

# The lifecycle's own words for where a drop is (one vocabulary: shared.core.lifecycle.State).
INCOMING, PROCESSED, SUPERSEDED, DEADLETTERED = State.INCOMING, State.PROCESSED, State.SUPERSEDED, State.DEADLETTERED
# Bookkeeping the pipeline and the CLI keep beside the blobs; never a render of its own.
_BOOKKEEPING = ("_redriven/", "_doctor/", "_attempts/")


@dataclass(frozen=True)
class BlobStatus:
    blob: str  # {imodelId}/{name}, the same in every container
    state: State  # incoming | processed | superseded | deadlettered
    container: str
    imodel_id: str | None = None
    attempts: int | None = None
    at: str | None = None  # last change: uploaded / archived / dead-lettered / last written
    correlation_id: str | None = None
    superseded_by: str | None = None  # the newer drop the iModel's thumbnail came from instead
    code: str | None = None
    hint: str | None = None
    message: str | None = None
    invocation_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        where = f"{self.container}/{self.blob}"
        if self.state == INCOMING:
            # attempts are counted when a delivery ends in a transient failure, so the one running
            # now (retrying inside its invocation) is not among them
            if self.attempts:
                ended = f"{self.attempts} attempt(s) ended in a transient failure so far"
            else:
                ended = "no attempt has ended yet"
            return f"{INCOMING:<13} {where}: in the incoming container, {ended} (one may be running now)"
        if self.state == DEADLETTERED:
            text = f"{DEADLETTERED:<13} {where}: {self.code} after {self.attempts} attempt(s) at {self.at}"
            return text + (f"\n              hint: {self.hint}" if self.hint else "")
        if self.state == SUPERSEDED:
            return f"{SUPERSEDED:<13} {where}: not uploaded, {self.superseded_by} was newer (archived {self.at})"
        return f"{PROCESSED:<13} {where}: uploaded at {self.at}, correlation {self.correlation_id or '-'}"

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, {})}


class StatusReader:
    def __init__(self, blobs: BlobServiceClient, settings: StorageSettings) -> None:
        self._incoming = blobs.get_container_client(settings.incoming_container)
        self._processed = blobs.get_container_client(settings.processed_container)
        self._deadletter = blobs.get_container_client(settings.deadletter_container)
        self._attempts = AttemptMarks(blobs, settings.processed_container)
        # Read-only use: the clock only stamps redrives, which status never does.
        self._letters = DeadLetters(blobs, settings, utcnow)

    def name_of(self, blob: str) -> str:
        """Accept ``{imodelId}/{name}`` or any of the three containers' ``container/...`` forms."""
        for container in (self._incoming, self._processed, self._deadletter):
            prefix = container.container_name + "/"
            if blob.startswith(prefix):
                blob = blob[len(prefix) :]
                break
        return blob[: -len(PAYLOAD_SUFFIX)] if blob.endswith(PAYLOAD_SUFFIX) else blob

    def of_blob(self, blob: str) -> list[BlobStatus]:
        """Every place this blob is, the incoming one first; empty when it is nowhere."""
        name = self.name_of(blob)
        found = [
            self._incoming_status(self._incoming.get_blob_client(name)),
            self._deadletter_status(name),
            self._processed_status(name, storage.properties_or_none(self._processed.get_blob_client(name))),
        ]
        return [status for status in found if status is not None]

    def of_imodel(self, imodel_id: str) -> list[BlobStatus]:
        """Every blob of one iModel, by name, each in every place it is."""
        prefix = f"{imodel_id.lower()}/"
        names = sorted(
            {n for n in _names(self._incoming, prefix)}
            | {n[: -len(PAYLOAD_SUFFIX)] for n in _names(self._deadletter, prefix) if n.endswith(PAYLOAD_SUFFIX)}
            | {n for n in _names(self._processed, prefix)}
        )
        return [status for name in names for status in self.of_blob(name)]

    def _incoming_status(self, blob: BlobClient) -> BlobStatus | None:
        props = storage.properties_or_none(blob)
        if props is None:
            return None
        counted = self._attempts.count(self._incoming.container_name, blob.blob_name, str(props.etag))
        name = blob.blob_name
        return BlobStatus(
            blob=name,
            state=INCOMING,
            container=self._incoming.container_name,
            imodel_id=_imodel(name),
            attempts=counted,
            at=_time(props),
        )

    def _processed_status(self, name: str, props: BlobProperties | None) -> BlobStatus | None:
        if props is None:
            return None
        metadata = props.metadata or {}
        superseded_by = from_header(metadata["superseded_by"]) if metadata.get("superseded_by") else None
        correlation_id = from_header(metadata["correlation_id"]) if metadata.get("correlation_id") else None
        return BlobStatus(
            blob=name,
            state=SUPERSEDED if superseded_by else PROCESSED,
            container=self._processed.container_name,
            imodel_id=_imodel(name),
            at=metadata.get("archived_at") or _time(props),
            correlation_id=correlation_id,
            superseded_by=superseded_by,
        )

    def _deadletter_status(self, name: str) -> BlobStatus | None:
        entry = self._letters.show(name)
        if entry is None:
            return None
        payload = entry.payload
        api = payload.get("api") if isinstance(payload.get("api"), dict) else {}
        return BlobStatus(
            blob=name,
            state=DEADLETTERED,
            container=self._deadletter.container_name,
            imodel_id=payload.get("imodelId") or _imodel(name),
            attempts=_int(payload.get("attempts")),
            at=payload.get("at"),
            correlation_id=(api or {}).get("correlationId"),
            code=payload.get("code"),
            hint=payload.get("hint"),
            message=payload.get("message"),
            invocation_id=payload.get("invocationId"),
        )


def _names(container: ContainerClient, prefix: str) -> Iterator[str]:
    for item in container.list_blobs(name_starts_with=prefix):
        if not item.name.startswith(_BOOKKEEPING):
            yield item.name


def _imodel(name: str) -> str | None:
    return name.split("/", 1)[0] if "/" in name else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(props: BlobProperties) -> str | None:
    moment = props.last_modified
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None
