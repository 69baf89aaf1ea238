"""Blob storage at the edge: one way to build clients, and moves that never lose a blob.

``THUMBNAILS_STORAGE`` is resolved here for both the trigger's account and the code that moves
blobs: a connection string (Azurite, key-based accounts) or the identity-based settings Azure
Functions defines (``THUMBNAILS_STORAGE__blobServiceUri`` ... ``__credential=managedidentity``).

A move is copy → verify → delete-if-unchanged.  A crash between any two steps leaves the source
where it was, so the next attempt simply does the move again (uploads overwrite, deletes of a
missing blob count as done).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import (
    BlobClient,
    BlobLeaseClient,
    BlobProperties,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    ExponentialRetry,
)

from shared.core.deadline import SHORTEST_WAIT_SECONDS, Deadline
from shared.core.errors import ErrorCode, ThumbnailError
from shared.edges.config import StorageConnection

T = TypeVar("T")

#: Per storage request, when no deadline applies (a CLI command): seconds to connect, and to wait for
#: each read of the answer.
CONNECTION_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 120.0


class DeadlineRetry(ExponentialRetry):
    """The SDK's exponential retry, whose backoff never sleeps past the deadline in scope.

    ``StorageRetryPolicy.sleep`` sleeps through ``transport.sleep``, but a client from
    ``get_blob_client`` wraps the transport (``TransportWrapper``) without forwarding ``sleep``, so
    the bound lives here.  A backoff that would end past the deadline raises ``DeadlineReachedError``.
    """

    def sleep(self, settings: dict[str, Any], transport: Any) -> None:
        backoff = self.get_backoff_time(settings)
        if not backoff or backoff < 0:
            return
        deadline = _DEADLINE.get()
        if deadline is not None and not deadline.allows(backoff + SHORTEST_WAIT_SECONDS):
            raise DeadlineReachedError(deadline.reached("wait before retrying a storage request"))
        time.sleep(backoff)


#: The storage SDK retries on its own (by default from 15 s apart); keep that short so our own retry
#: budget, and the host's redelivery, stay in charge of long outages.
#: The storage SDK's retry, kept short for every client of the app (blobs and queues): seconds of the
#: first backoff, the base of its growth, and retries after the first try.
SHORT_RETRY_BACKOFF, SHORT_RETRY_BASE, SHORT_RETRY_TOTAL = 1, 2, 2

_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_policy": DeadlineRetry(
        initial_backoff=SHORT_RETRY_BACKOFF, increment_base=SHORT_RETRY_BASE, retry_total=SHORT_RETRY_TOTAL
    ),
    "connection_timeout": CONNECTION_TIMEOUT_SECONDS,
    "read_timeout": READ_TIMEOUT_SECONDS,
}

#: The deadline the storage requests of this thread's invocation must end by (see :func:`bounded_by`).
_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("storage_deadline", default=None)


class DeadlineReachedError(ServiceRequestError):
    """Raised by the transport instead of sending (or of sleeping before a retry) past the deadline.

    A ``ServiceRequestError`` (the request was not sent), so ``suppress(AzureError)`` around a
    best-effort release still swallows it; :func:`storage_call` turns it into ``DeadlineReached``.
    """

    def __init__(self, error: ThumbnailError) -> None:
        super().__init__(error.message)
        self.error = error


@contextlib.contextmanager
def bounded_by(deadline: Deadline) -> Iterator[None]:
    """Every storage request this thread makes inside the block ends by ``deadline``.

    One invocation runs on one thread (the host's worker thread, or ``drain``'s), so the scope is the
    invocation; the SDK downloads with ``max_concurrency=1`` (its default) on the calling thread.
    """
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


class DeadlineTransport(RequestsTransport):  # type: ignore[misc]  # the package exports it lazily, untyped
    """The SDK's own ``requests`` transport, with each attempt's timeouts cut to the deadline in scope.

    It sits below the SDK's retry policy, so every attempt (not just the first) gets what is left
    (:meth:`Deadline.timeouts`: connect plus read never exceed it).  Outside
    :func:`bounded_by` it behaves exactly like ``RequestsTransport``.
    """

    def send(self, request: Any, **kwargs: Any) -> Any:
        deadline = _DEADLINE.get()
        if deadline is not None:
            try:
                kwargs["connection_timeout"], kwargs["read_timeout"] = deadline.timeouts(
                    float(kwargs.get("connection_timeout", CONNECTION_TIMEOUT_SECONDS)),
                    float(kwargs.get("read_timeout", READ_TIMEOUT_SECONDS)),
                    f"send {request.method} to storage",
                )
            except ThumbnailError as error:
                raise DeadlineReachedError(error) from None
        return super().send(request, **kwargs)


def credential_for(connection: StorageConnection) -> TokenCredential:
    """The managed identity named by ``__clientId`` (user-assigned), else the default chain."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if (connection.credential or "").lower() == "managedidentity":
        return ManagedIdentityCredential(client_id=connection.client_id)
    return DefaultAzureCredential(managed_identity_client_id=connection.client_id)


def blob_service(connection: StorageConnection, **options: Any) -> BlobServiceClient:
    """``options`` go to the SDK client as they are (e.g. ``per_call_policies``)."""
    kwargs = _CLIENT_OPTIONS | options
    kwargs.setdefault(
        "transport",
        DeadlineTransport(connection_timeout=kwargs["connection_timeout"], read_timeout=kwargs["read_timeout"]),
    )
    if connection.connection_string is not None:
        return BlobServiceClient.from_connection_string(connection.connection_string.reveal(), **kwargs)
    assert connection.blob_service_uri is not None  # settings guarantee one of the two
    return BlobServiceClient(connection.blob_service_uri, credential=credential_for(connection), **kwargs)


def storage_call(
    what: str, action: Callable[[], T], *, account: str | None = None, deadline: Deadline | None = None
) -> T:
    """Run one storage request; a failure becomes a ThumbnailError that keeps its cause.

    A 403 is ``StorageAccessDenied`` (a missing data role is a different fix from an outage), the
    deadline coming first ``DeadlineReached``, every other failure ``StorageUnavailable``; they carry
    the status, the storage error code and ``x-ms-request-id`` in ``details`` (support asks for it),
    and chain the SDK's exception.  ``deadline`` bounds the request as :func:`bounded_by` does.
    """
    with bounded_by(deadline) if deadline is not None else contextlib.nullcontext():
        try:
            return action()
        except (ResourceNotFoundError, ResourceModifiedError, ResourceExistsError):
            raise
        except DeadlineReachedError as exc:
            raise exc.error from exc
        except AzureError as exc:
            raise storage_error(what, exc, account=account) from exc


def storage_error(what: str, exc: AzureError, *, account: str | None = None) -> ThumbnailError:
    """The taxonomy's view of a failed storage request (pure: reads only the exception)."""
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)
    headers = getattr(response, "headers", None) or {}
    details: dict[str, Any] = {"exception": type(exc).__name__}
    if status is not None:
        details["status"] = int(status)
    if getattr(exc, "error_code", None):
        details["errorCode"] = str(exc.error_code)  # type: ignore[attr-defined]
    request_id = headers.get("x-ms-request-id") if hasattr(headers, "get") else None
    if request_id:
        details["requestId"] = request_id
    if account:
        details["account"] = account
    if status == 403:
        return ThumbnailError(
            ErrorCode.STORAGE_ACCESS_DENIED,
            f"Storage refused to {what} (403 {details.get('errorCode', '')}): the identity needs Storage Blob Data "
            f"Owner or Contributor on account {account or '(see THUMBNAILS_STORAGE)'}"
            + (f"; request id {request_id}." if request_id else "."),
            details=details,
        )
    reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return ThumbnailError(
        ErrorCode.STORAGE_UNAVAILABLE,
        f"Storage failed while trying to {what}: {type(exc).__name__}"
        + (f" {status}" if status else "")
        + f": {reason}"
        + (f" (request id {request_id})." if request_id else "."),
        details=details,
    )


def properties_or_none(blob: BlobClient) -> BlobProperties | None:
    """The blob's properties, or None when it no longer exists (already handled by someone else)."""
    try:
        return storage_call(
            f"read properties of {blob.container_name}/{blob.blob_name}",
            blob.get_blob_properties,
            account=blob.account_name,
        )
    except ResourceNotFoundError:
        return None


def download(blob: BlobClient, etag: str) -> bytes | None:
    """The blob's bytes as of ``etag``; None when it was deleted or replaced since."""
    try:
        return storage_call(
            f"download {blob.container_name}/{blob.blob_name}",
            lambda: blob.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified).readall(),
            account=blob.account_name,
        )
    except (ResourceNotFoundError, ResourceModifiedError):
        return None


def content_md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


@dataclass(frozen=True)
class Copy:
    """What to write at the destination of a move."""

    data: bytes | None  # None: stream it from the source (a blob too large to hold in memory)
    size: int
    content_type: str | None = None
    metadata: dict[str, str] | None = None
    sha256: str | None = None  # of ``data``, when the caller has it already (saves hashing twice)


def write_copy(source: BlobClient, etag: str, destination: BlobClient, copy: Copy) -> str:
    """Copy, then verify (length, and Content-MD5 when we hold the bytes) before anyone deletes.

    Returns the sha256 of the bytes written (hashed on the way through when streamed).
    """
    md5 = content_md5(copy.data) if copy.data is not None else None
    digest = hashlib.sha256()  # filled on the way through when streamed
    settings = ContentSettings(content_type=copy.content_type, content_md5=bytearray(md5) if md5 else None)
    where = f"copy to {destination.container_name}/{destination.blob_name}"
    data = copy.data
    if data is not None:
        storage_call(
            where,
            lambda: destination.upload_blob(data, overwrite=True, metadata=copy.metadata, content_settings=settings),
            account=destination.account_name,
        )
        sha256 = copy.sha256 or sha256_hex(data)
    else:
        storage_call(
            where,
            lambda: destination.upload_blob(
                _chunks(source, etag, digest),
                length=copy.size,
                overwrite=True,
                metadata=copy.metadata,
                content_settings=settings,
            ),
            account=destination.account_name,
        )
        sha256 = digest.hexdigest()
    written = storage_call(f"verify {where}", destination.get_blob_properties, account=destination.account_name)
    stored_md5 = written.content_settings.content_md5
    if written.size != copy.size or (md5 is not None and stored_md5 is not None and bytes(stored_md5) != md5):
        raise ThumbnailError(
            ErrorCode.STORAGE_UNAVAILABLE,
            f"The {where} does not match the source ({written.size} of {copy.size} bytes); source kept.",
        )
    return sha256


def _chunks(source: BlobClient, etag: str, digest: Any) -> Iterator[bytes]:
    stream = source.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
    for chunk in stream.chunks():
        digest.update(chunk)
        yield chunk


def set_metadata_if_unchanged(blob: BlobClient, metadata: dict[str, str], etag: str) -> None:
    """Replace the blob's metadata unless the blob changed since ``etag`` (then the newer one wins)."""
    with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
        storage_call(
            f"update metadata of {blob.container_name}/{blob.blob_name}",
            lambda: blob.set_blob_metadata(metadata, etag=etag, match_condition=MatchConditions.IfNotModified),
            account=blob.account_name,
        )


def acquire_lease(
    blob: BlobClient,
    etag: str,
    *,
    seconds: int,
    sleep: Callable[[float], None],
    deadline: Deadline,
    wait: float = 1.0,
) -> BlobLeaseClient | None:
    """Claim the source while it is being disposed, so two workers never dispose it differently.

    None when the blob is gone or changed since ``etag`` (someone else handled this version, or a
    newer upload will be handled by its own event).  While another worker holds the lease, wait
    (disposing takes about a second, and a crashed holder's lease runs out after ``seconds``), but
    never past the invocation's ``deadline``.
    """
    while True:
        try:
            return storage_call(
                f"lease {blob.container_name}/{blob.blob_name}",
                lambda: blob.acquire_lease(seconds, etag=etag, match_condition=MatchConditions.IfNotModified),
                account=blob.account_name,
            )
        except (ResourceNotFoundError, ResourceModifiedError):
            return None
        except ResourceExistsError as exc:
            if not deadline.allows(wait):
                raise ThumbnailError(
                    ErrorCode.DELIVERY_RECORD_BUSY,
                    f"{blob.container_name}/{blob.blob_name} stayed leased by another worker until this "
                    "invocation's deadline; retried later.",
                ) from exc
            sleep(wait)


def release(lease: BlobLeaseClient | None) -> None:
    if lease is not None:
        with contextlib.suppress(AzureError):
            lease.release()


def delete_if_unchanged(blob: BlobClient, etag: str, lease: BlobLeaseClient | None = None) -> bool:
    """Delete the source only if it is still the version we handled.

    False when it changed meanwhile: a newer upload sits at the same path and its own event will
    process it, so it must not be deleted.  A source that is already gone counts as deleted.
    """
    try:
        storage_call(
            f"delete {blob.container_name}/{blob.blob_name}",
            lambda: blob.delete_blob(lease=lease, etag=etag, match_condition=MatchConditions.IfNotModified),
            account=blob.account_name,
        )
    except ResourceNotFoundError:
        return True
    except ResourceModifiedError:
        return False
    return True


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tags_of(blob: BlobClient) -> dict[str, str]:
    """The blob's index tags ({} when it has none or is gone)."""
    try:
        return dict(
            storage_call(
                f"read tags of {blob.container_name}/{blob.blob_name}", blob.get_blob_tags, account=blob.account_name
            )
        )
    except ResourceNotFoundError:
        return {}


def set_tags(blob: BlobClient, tags: dict[str, str]) -> None:
    """Replace the blob's index tags; neither its ETag nor its last-modified time changes."""
    with contextlib.suppress(ResourceNotFoundError):
        storage_call(
            f"set tags of {blob.container_name}/{blob.blob_name}",
            lambda: blob.set_blob_tags(tags),
            account=blob.account_name,
        )


def list_with_metadata(container: ContainerClient, prefix: str) -> list[BlobProperties]:
    """The blobs under ``prefix``, with their metadata (one listing, paged by the SDK)."""
    return storage_call(
        f"list {container.container_name}/{prefix}",
        lambda: list(container.list_blobs(name_starts_with=prefix, include=["metadata"])),
        account=container.account_name,
    )


# -- the delivery record's requests: every SDK error mapped here, none above the edges ----------


def download_or_none(blob: BlobClient, what: str) -> bytes | None:
    """The blob's bytes, or None when it does not exist."""
    try:
        return storage_call(what, lambda: blob.download_blob().readall(), account=blob.account_name)
    except ResourceNotFoundError:
        return None


def delete_if_exists(blob: BlobClient, what: str) -> None:
    with contextlib.suppress(ResourceNotFoundError):
        storage_call(what, blob.delete_blob, account=blob.account_name)


class LeaseRefused(StrEnum):
    MISSING = "missing"  # no such blob
    BUSY = "busy"  # leased by someone else


def try_lease(blob: BlobClient, seconds: int) -> BlobLeaseClient | LeaseRefused:
    """One try to lease ``blob`` (no waiting)."""
    try:
        return storage_call(
            f"lease {blob.container_name}/{blob.blob_name}",
            lambda: blob.acquire_lease(seconds),
            account=blob.account_name,
        )
    except ResourceNotFoundError:
        return LeaseRefused.MISSING
    except ResourceExistsError:
        return LeaseRefused.BUSY


class Created(StrEnum):
    CREATED = "created"
    EXISTED = "existed"
    NO_CONTAINER = "no-container"


def create_if_absent(blob: BlobClient, data: bytes) -> Created:
    """Write ``data`` unless the blob exists; never creates a missing container."""
    try:
        storage_call(
            f"create {blob.container_name}/{blob.blob_name}",
            lambda: blob.upload_blob(data, overwrite=False),
            account=blob.account_name,
        )
    except ResourceExistsError:
        return Created.EXISTED
    except ResourceNotFoundError:
        return Created.NO_CONTAINER
    return Created.CREATED


def while_leased(what: str, blob: BlobClient, call: Callable[[], object]) -> bool:
    """One request that needs a lease; False when the lease is gone or taken (404/409/412)."""
    try:
        storage_call(what, call, account=blob.account_name)
    except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
        return False
    except ThumbnailError as error:
        if error.details.get("status") in (409, 412):
            return False
        raise
    return True
