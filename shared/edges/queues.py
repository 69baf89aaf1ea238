"""Storage queues at the edge: the delayed re-assert messages, sent and (locally) received.

A message is sent with a visibility timeout: storage keeps it invisible for that long, then the
queue-triggered function (or ``drain``/``watch`` locally) receives it.  Messages are base64 text,
the Functions queue extension's default ``messageEncoding``.  Every SDK error becomes a
:class:`~shared.core.errors.ThumbnailError` here.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    ExponentialRetry,
    QueueClient,
    QueueMessage,
)

from shared.edges.config import StorageConnection
from shared.edges.storage import (
    SHORT_RETRY_BACKOFF,
    SHORT_RETRY_BASE,
    SHORT_RETRY_TOTAL,
    credential_for,
    storage_error,
)

#: Azure's longest visibility timeout for a new message (7 days).
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600


def queue_client(connection: StorageConnection, name: str, **options: Any) -> QueueClient:
    """The queue ``name`` on the THUMBNAILS_STORAGE account (connection string or identity), with the
    short retry every storage client of the app has (``storage.SHORT_RETRY_*``, not the SDK's default of 15 s
    and more between tries: ``drain`` would wait minutes on an unreachable queue); ``options`` go to
    the SDK client as they are (e.g. ``raw_request_hook``)."""
    retry = ExponentialRetry(
        initial_backoff=SHORT_RETRY_BACKOFF,
        increment_base=SHORT_RETRY_BASE,
        retry_total=options.pop("retry_total", SHORT_RETRY_TOTAL),
    )
    options = {"retry_policy": retry, **options}
    encode, decode = BinaryBase64EncodePolicy(), BinaryBase64DecodePolicy()
    if connection.connection_string is not None:
        return QueueClient.from_connection_string(
            connection.connection_string.reveal(),
            name,
            message_encode_policy=encode,
            message_decode_policy=decode,
            **options,
        )
    if connection.queue_service_uri is None:
        raise ValueError("THUMBNAILS_STORAGE__queueServiceUri is needed for the re-assert queue")
    return QueueClient(
        connection.queue_service_uri,
        name,
        credential=credential_for(connection),
        message_encode_policy=encode,
        message_decode_policy=decode,
        **options,
    )


def send_later(queue: QueueClient, body: bytes, delay: float) -> None:
    """Send ``body`` to be received no sooner than ``delay`` seconds from now (queue created if missing)."""
    visibility = min(MAX_VISIBILITY_SECONDS, max(0, math.ceil(delay)))
    try:
        try:
            queue.send_message(body, visibility_timeout=visibility)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                queue.create_queue()
            queue.send_message(body, visibility_timeout=visibility)
    except AzureError as exc:
        raise storage_error(f"queue a message on {queue.queue_name}", exc) from exc


@dataclass(frozen=True)
class Received:
    """A received message: its body, and what deleting it needs."""

    body: bytes
    message: QueueMessage


def receive_visible(queue: QueueClient, *, hold_seconds: int, limit: int = 32) -> Iterator[Received]:
    """The messages visible now (none when the queue does not exist yet)."""
    try:
        for message in queue.receive_messages(visibility_timeout=hold_seconds, max_messages=limit):
            content = message.content
            yield Received(body=bytes(content) if content is not None else b"", message=message)
    except ResourceNotFoundError:
        return
    except AzureError as exc:
        raise storage_error(f"receive messages from {queue.queue_name}", exc) from exc


def delete(queue: QueueClient, received: Received) -> None:
    try:
        queue.delete_message(received.message)
    except ResourceNotFoundError:
        pass
    except AzureError as exc:
        raise storage_error(f"delete a message from {queue.queue_name}", exc) from exc


__all__ = ["Received", "delete", "queue_client", "receive_visible", "send_later"]
