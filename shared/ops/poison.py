"""Nothing is left only in the host's poison queue: ``poison sweep`` dead-letters what it names.

After ``poisonBlobThreshold`` failed deliveries the Functions host parks a blob-trigger message in
``webjobs-blobtrigger-poison`` (on the trigger connection's account).  The pipeline normally
dead-letters on the last attempt itself, counting failed deliveries with one mark each
(:mod:`shared.edges.attempts`); the host also counts the invocations it killed (functionTimeout,
a crash), which write no mark.  This sweep catches what that parks, and failures whose mark storage
could not take in time.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from azure.storage.queue import QueueClient, QueueServiceClient

from shared.core.outcome import Outcome
from shared.delivery.pipeline import Pipeline
from shared.edges.config import StorageConnection
from shared.edges.storage import credential_for

POISON_QUEUE = "webjobs-blobtrigger-poison"


@dataclass(frozen=True)
class PoisonMessage:
    """The host's BlobTriggerMessage: FunctionId, BlobType, ContainerName, BlobName, ETag."""

    function_id: str
    container: str
    blob_name: str
    etag: str | None


def parse_poison_message(content: str) -> PoisonMessage | None:
    """The host writes base64-encoded JSON (the queues extension's default); accept raw JSON too."""
    for candidate in (content, _unbase64(content)):
        if candidate is None:
            continue
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("ContainerName") and data.get("BlobName"):
            return PoisonMessage(
                function_id=str(data.get("FunctionId", "")),
                container=str(data["ContainerName"]),
                blob_name=str(data["BlobName"]),
                etag=data.get("ETag"),
            )
    return None


def _unbase64(content: str) -> str | None:
    try:
        return base64.b64decode(content, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def poison_queue(connection: StorageConnection) -> QueueClient:
    if connection.connection_string is not None:
        service = QueueServiceClient.from_connection_string(connection.connection_string.reveal())
    else:
        if connection.queue_service_uri is None:
            raise ValueError("THUMBNAILS_STORAGE__queueServiceUri is needed to read the poison queue")
        service = QueueServiceClient(connection.queue_service_uri, credential=credential_for(connection))
    return service.get_queue_client(POISON_QUEUE)


@dataclass(frozen=True)
class SweepResult:
    message: PoisonMessage | None
    outcome: Outcome | None
    note: str


def sweep(pipeline: Pipeline, queue: QueueClient, *, batch: int = 32) -> list[SweepResult]:
    """Dead-letter every incoming blob named by a poison message, then delete the message.

    Messages for other containers or unreadable ones are left in the queue (they are not ours).
    """
    results: list[SweepResult] = []
    if not queue_exists(queue):
        return results
    incoming = pipeline.blobs.get_container_client(pipeline.settings.incoming_container)
    for item in queue.receive_messages(messages_per_page=batch, visibility_timeout=120):
        message = parse_poison_message(str(item.content))
        if message is None or message.container != pipeline.settings.incoming_container:
            results.append(SweepResult(message, None, "left in the queue: not a message for this container"))
            continue
        outcome = pipeline.give_up(incoming.get_blob_client(message.blob_name))
        if outcome.settled:
            queue.delete_message(item)
            results.append(SweepResult(message, outcome, "dead-lettered" if outcome.destination else "already gone"))
        else:
            results.append(SweepResult(message, outcome, "left in the queue: storage failed, sweep again"))
    return results


def queue_exists(queue: QueueClient) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        queue.get_queue_properties()
    except ResourceNotFoundError:
        return False
    return True
