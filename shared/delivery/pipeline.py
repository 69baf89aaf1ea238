"""One blob from trigger to outcome: read → check → normalize → token → PUT → dispose.

Read this file top to bottom to follow a blob.  The decisions live in pure modules
(:mod:`shared.core.paths`, :mod:`shared.imaging`, :mod:`shared.core.retry`, :mod:`shared.edges.api_errors`); this
module only sequences them and does the I/O through what it was handed.
"""

from __future__ import annotations

import contextlib
import logging
import random as _random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from azure.storage.blob import BlobClient, BlobProperties, BlobServiceClient

from shared.core.errors import ErrorCode, ErrorSummary, Stage, ThumbnailError
from shared.core.outcome import Outcome, Status
from shared.core.paths import BlobRef, parse_blob_path
from shared.core.retry import Attempts, RetryPolicy, call_with_retries
from shared.delivery.dispose import Disposer, iso
from shared.delivery.log import LOGGER_NAME
from shared.edges import storage
from shared.edges.itwin import ItwinClient, TokenProvider, UploadReceipt, new_session
from shared.imaging import Thumbnail
from shared.imaging.stage import ImageStage
from shared.sandbox import image_stage
from shared.settings import Settings

#: Metadata the pipeline keeps on a source blob between delivery attempts.
ATTEMPTS_METADATA = "thumbnaildrop_attempts"

#: The payload's stage for each timed step of a run.
_STAGE_OF = {
    "read": Stage.READ,
    "path": Stage.PATH,
    "image": Stage.IMAGE,
    "upload": Stage.UPLOAD,
    "dispose": Stage.STORAGE,
}

logger = logging.getLogger(LOGGER_NAME)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Pipeline:
    """Everything one process needs to handle blobs; build it once, call :meth:`process` per blob."""

    settings: Settings
    blobs: BlobServiceClient
    itwin: ItwinClient
    images: ImageStage
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = _random.random

    def __post_init__(self) -> None:
        self.disposer = Disposer(self.blobs, self.settings, self.now, self.sleep)
        self.retry_policy = RetryPolicy.from_settings(self.settings.retry)

    def process(self, blob: BlobClient) -> Outcome:
        """Handle one blob of the incoming container.  Never raises for a failure of the blob."""
        return _Run(self, blob).execute()

    def give_up(self, blob: BlobClient) -> Outcome:
        """Dead-letter a blob the host stopped retrying (named by a poison-queue message)."""
        return _Run(self, blob).give_up()


def build_pipeline(
    settings: Settings,
    *,
    session: requests.Session | None = None,
    blobs: BlobServiceClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utcnow,
    images: ImageStage | None = None,
) -> Pipeline:
    """The production wiring: one pooled HTTP session, one token cache and one image stage per process.

    ``session`` and ``blobs`` may be handed in (tests add transport policies through them).
    """
    http = session or new_session()
    tokens = TokenProvider(settings.itwin, http, clock=clock)
    return Pipeline(
        settings=settings,
        blobs=blobs or storage.blob_service(settings.storage),
        itwin=ItwinClient(settings.itwin, http, tokens),
        clock=clock,
        now=now,
        sleep=sleep,
        images=images or image_stage(settings.image, settings.sandbox),
    )


class _Run:
    """The state of handling one blob (kept off the Pipeline so concurrent blobs never share it)."""

    def __init__(self, pipeline: Pipeline, blob: BlobClient) -> None:
        self.p = pipeline
        self.blob = blob
        self.path = f"{blob.container_name}/{blob.blob_name}"
        self.outcome = Outcome(status=Status.RETRY, blob=self.path)
        self.props: BlobProperties | None = None
        self.original: bytes | None = None
        self.image: dict[str, Any] | None = None
        self.attempts = Attempts()
        self.stage = "read"

    def execute(self) -> Outcome:
        try:
            self._handle()
        except ThumbnailError as error:
            self._fail(error)
        except Exception as exc:
            # A surprise is treated as transient: retried, and dead-lettered with its message once
            # the attempts run out, so even a bug never loses a blob or stops a drain.
            logger.exception("unexpected error handling %s", self.path)
            self._fail(
                ThumbnailError(
                    ErrorCode.INTERNAL_ERROR,
                    f"{type(exc).__name__}: {str(exc)[:500]}",
                    stage=_STAGE_OF.get(self.stage, Stage.STORAGE),
                )
            )
        return self.outcome

    def give_up(self) -> Outcome:
        try:
            self.props = storage.properties_or_none(self.blob)
        except ThumbnailError as error:
            self._fail(error)
            return self.outcome
        if self.props is None:
            self._settle(Status.SKIPPED, message="The blob is gone (already handled).")
            return self.outcome
        self.outcome.attempts = self._delivery_attempt() - 1
        with contextlib.suppress(ThumbnailError):
            self.outcome.imodel_id = parse_blob_path(self.blob.container_name, self.blob.blob_name).imodel_id
        self._fail(
            ThumbnailError(
                ErrorCode.RETRIES_EXHAUSTED,
                f"The Functions host gave up on this blob (poison queue) after {self.outcome.attempts} "
                "recorded attempts; its last error is in the function's logs.",
            )
        )
        return self.outcome

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        self.stage = name
        started = self.p.clock()
        try:
            yield
        finally:
            self.outcome.timings[name] = self.outcome.timings.get(name, 0.0) + self.p.clock() - started

    # -- the steps, in order ------------------------------------------------------------------

    def _handle(self) -> None:
        with self._stage("read"):
            self.props = storage.properties_or_none(self.blob)
        if self.props is None:
            self._settle(Status.SKIPPED, message="The blob is gone (already handled) or not committed yet.")
            return
        self.outcome.attempts = self._delivery_attempt()
        with self._stage("path"):
            ref = parse_blob_path(self.blob.container_name, self.blob.blob_name)
        self.outcome.imodel_id = ref.imodel_id
        with self._stage("read"):
            self.original = self._read(self.props)
        if self.original is None:
            self._settle(Status.SKIPPED, message="The blob changed or vanished while being read; its newer event wins.")
            return
        created = iso(self.props.creation_time) if self.props.creation_time else ""
        with self._stage("image"):
            thumbnail = self._normalize(self.original)
        # Checked as late as possible, right before sending: a newer image may have been uploaded
        # for this iModel, or this very blob replaced, while we were decoding.
        if self._superseded(ref, created) or self._replaced():
            return
        with self._stage("upload"):
            receipt = self._upload(ref, thumbnail.data, thumbnail.content_type)
            if created:
                self.p.disposer.record_upload(ref.imodel_id, created, self.blob.blob_name)
                self._restore_if_overtaken(ref, created)
        self.outcome.api_status = receipt.status
        self.outcome.correlation_id = receipt.correlation_id
        with self._stage("dispose"):
            destination = self.p.disposer.archive(
                self.blob, self.props, self.original, thumbnail=thumbnail, receipt=receipt
            )
        self._settle(Status.UPLOADED, destination=destination)

    def _superseded(self, ref: BlobRef, created: str) -> bool:
        """Archive unsent when a newer image of this iModel was uploaded already."""
        assert self.props is not None
        assert self.original is not None
        latest = self.p.disposer.latest_upload(ref.imodel_id)
        if latest is None or not created or created >= latest.created:
            return False
        with self._stage("dispose"):
            destination = self.p.disposer.archive(
                self.blob, self.props, self.original, thumbnail=None, receipt=None, superseded_by=latest.created
            )
        self._settle(
            Status.SUPERSEDED,
            destination=destination,
            message=f"{latest.blob} (created {latest.created}) was already uploaded for this iModel; archived unsent.",
        )
        return True

    def _replaced(self) -> bool:
        """True (and skipped) when the blob was deleted or overwritten since we read it."""
        assert self.props is not None
        now = storage.properties_or_none(self.blob)
        if now is not None and now.etag == self.props.etag:
            return False
        self._settle(Status.SKIPPED, message="The blob was replaced or removed while being processed; not sent.")
        return True

    def _restore_if_overtaken(self, ref: BlobRef, created: str) -> None:
        """If a newer image's upload finished while ours was in flight, ours may have landed last:
        send the newer one again so the iModel keeps its newest thumbnail."""
        latest = self.p.disposer.latest_upload(ref.imodel_id)
        if latest is None or latest.created <= created:
            return
        newer = self.p.disposer.find_original(latest.blob)
        if newer is None:
            logger.warning("%s was overtaken by %s, whose original is gone", self.path, latest.blob)
            return
        thumbnail = self.p.images.normalize(newer, self.p.images.probe(newer))
        self._upload(ref, thumbnail.data, thumbnail.content_type)
        self.outcome.message = f"A newer image, {latest.blob}, finished first; it was sent again to stay current."

    def _delivery_attempt(self) -> int:
        assert self.props is not None
        try:
            previous = int((self.props.metadata or {}).get(ATTEMPTS_METADATA, "0"))
        except ValueError:
            previous = 0
        return previous + 1

    def _read(self, props: BlobProperties) -> bytes | None:
        size = int(props.size)
        limit = self.p.settings.image.max_input_bytes
        if size == 0:
            raise ThumbnailError(ErrorCode.EMPTY_BLOB, "The blob has zero bytes.", details={"bytes": 0})
        if size > limit:
            raise ThumbnailError(
                ErrorCode.BLOB_TOO_LARGE,
                f"The blob has {size} bytes; MAX_BLOB_BYTES allows {limit}.",
                details={"bytes": size, "max_input_bytes": limit},
            )
        return storage.download(self.blob, props.etag)

    def _normalize(self, data: bytes) -> Thumbnail:
        info = self.p.images.probe(data)
        self.image = info.as_dict()
        self.outcome.source_image = self.image
        thumbnail = self.p.images.normalize(data, info)
        output = thumbnail.report()["output"]
        self.outcome.output_image = dict(output) if isinstance(output, dict) else None
        return thumbnail

    def _upload(self, ref: BlobRef, data: bytes, content_type: str) -> UploadReceipt:
        try:
            return call_with_retries(
                lambda: self.p.itwin.put_thumbnail(ref.imodel_id, data, content_type),
                self.p.retry_policy,
                clock=self.p.clock,
                sleep=self.p.sleep,
                random=self.p.random,
                attempts=self.attempts,
            )
        finally:
            self.outcome.api_calls = self.attempts.count

    # -- endings ------------------------------------------------------------------------------

    def _settle(self, status: Status, *, destination: str | None = None, message: str | None = None) -> None:
        self.outcome.status = status
        self.outcome.destination = destination
        if message is not None:
            self.outcome.message = message

    def _fail(self, error: ThumbnailError) -> None:
        self.outcome.code = error.code.value
        self.outcome.message = error.message
        self.outcome.stage = error.stage.value
        if error.api is not None:
            self.outcome.api_status = error.api.status
            self.outcome.correlation_id = error.api.correlation_id
        if self.props is None:
            return  # storage itself failed before we saw the blob: leave it for the retry
        final = self._final_form(error)
        if final is None:
            self._remember_attempt()
            return
        try:
            with self._stage("dispose"):
                destination = self.p.disposer.deadletter(
                    self.blob,
                    self.props,
                    self.original,
                    final,
                    imodel_id=self.outcome.imodel_id,
                    attempts=self.outcome.attempts,
                    image=self.image,
                    last_error=ErrorSummary.of(error).__dict__ if final is not error else None,
                )
        except ThumbnailError as storage_error:
            self.outcome.code = storage_error.code.value
            self.outcome.message = f"{error.message} Dead-lettering failed: {storage_error.message}"
            return
        self.outcome.code = final.code.value
        if destination is None:
            self._settle(Status.SKIPPED, message="Another delivery already handled this version of the blob.")
        else:
            self._settle(Status.DEADLETTERED, destination=destination)

    def _final_form(self, error: ThumbnailError) -> ThumbnailError | None:
        """The error to dead-letter with, or None while the blob deserves another attempt."""
        if not error.transient:
            return error
        if error.code is ErrorCode.IMODEL_NOT_INITIALIZED and self._age_seconds() > (
            self.p.settings.retry.not_initialized_window_seconds
        ):
            return error.as_permanent()
        if self.outcome.attempts >= self.p.settings.retry.max_delivery_attempts:
            return ThumbnailError(
                ErrorCode.RETRIES_EXHAUSTED,
                f"Gave up after {self.outcome.attempts} delivery attempts; last error {error.code.value}: "
                f"{error.message}",
                stage=error.stage,
                api=error.api,
                details=error.details,
            )
        return None

    def _age_seconds(self) -> float:
        assert self.props is not None
        created = self.props.creation_time or self.props.last_modified
        return (self.p.now() - created).total_seconds() if created else 0.0

    def _remember_attempt(self) -> None:
        """Count this failed delivery on the blob itself, so the last allowed attempt dead-letters
        instead of the host parking the blob in the poison queue."""
        assert self.props is not None
        metadata = dict(self.props.metadata or {})
        metadata[ATTEMPTS_METADATA] = str(self.outcome.attempts)
        # Best effort: losing one count only means one more attempt.
        with contextlib.suppress(ThumbnailError):
            storage.set_metadata_if_unchanged(self.blob, metadata, self.props.etag)
