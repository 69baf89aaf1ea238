"""One blob from trigger to outcome: read -> frozen Source -> image -> decide and send -> settle.

Read :meth:`_Delivery.run` top to bottom to follow a blob.  Each step takes what the previous one
returned (an :class:`~shared.delivery.source.Arrival`, a :class:`~shared.delivery.source.Source`, a
thumbnail, a :class:`Decision`) and the :class:`~shared.core.outcome.Outcome` is built once, at the
end.  The decisions live in pure modules (:mod:`shared.core.paths`, :mod:`shared.core.retry`,
:func:`shared.delivery.record.verdict`, :mod:`shared.edges.api_errors`); this module sequences them
and does the I/O through what it was handed.  One :class:`~shared.core.deadline.Deadline` per
invocation bounds every wait.
"""

from __future__ import annotations

import contextlib
import logging
import random as _random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import requests
from azure.storage.blob import BlobClient, BlobServiceClient

from shared.core.deadline import Deadline
from shared.core.errors import ErrorCode, ErrorSummary, Stage, ThumbnailError
from shared.core.outcome import Outcome, Status
from shared.core.paths import BlobRef, parse_blob_path
from shared.core.retry import Attempts, RetryPolicy, call_with_retries
from shared.delivery.archive import Archiver, Sent
from shared.delivery.deadletter import DeadLetterer
from shared.delivery.log import LOGGER_NAME
from shared.delivery.record import DeliveryRecord, Hold, RecordStore, Verdict, verdict
from shared.delivery.source import ATTEMPTS_METADATA, Arrival, Source, etag_text, iso
from shared.edges import storage
from shared.edges.itwin import ItwinClient, TokenProvider, UploadReceipt, new_session
from shared.edges.pace import shared_pace
from shared.imaging import Thumbnail
from shared.imaging.stage import ImageStage
from shared.sandbox import image_stage
from shared.settings import Settings

__all__ = ["ATTEMPTS_METADATA", "Pipeline", "build_pipeline"]

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
        s = self.settings
        self.records = RecordStore(self.blobs, s.state_container, sleep=self.sleep, now=self.now)
        self.archiver = Archiver(
            self.blobs, s.processed_container, s.deadletter_container, now=self.now, sleep=self.sleep
        )
        self.deadletterer = DeadLetterer(
            self.blobs,
            s.deadletter_container,
            s.processed_container,
            client_id=s.itwin.client_id,
            now=self.now,
            sleep=self.sleep,
        )
        self.retry_policy = RetryPolicy.from_settings(s.retry)

    def deadline(self) -> Deadline:
        """This invocation's deadline, computed once when the blob arrives."""
        return Deadline.after(self.settings.retry.budget_seconds, self.clock)

    def process(self, blob: BlobClient) -> Outcome:
        """Handle one blob of the incoming container.  Never raises for a failure of the blob."""
        return _Delivery(self, blob, self.deadline()).run()

    def give_up(self, blob: BlobClient) -> Outcome:
        """Dead-letter a blob the host stopped retrying (named by a poison-queue message)."""
        return _Delivery(self, blob, self.deadline()).give_up()

    def close(self) -> None:
        """Stop the image stage's worker processes (a host process keeps its pipeline until it exits)."""
        self.images.close()


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
    blobs = blobs or storage.blob_service(settings.storage)
    pace = shared_pace(settings.pace, blobs, settings.itwin.client_id, wall=lambda: now().timestamp(), sleep=sleep)
    return Pipeline(
        settings=settings,
        blobs=blobs,
        itwin=ItwinClient(settings.itwin, http, tokens, pace),
        clock=clock,
        now=now,
        sleep=sleep,
        images=images or image_stage(settings.image, settings.sandbox),
    )


class Decided(StrEnum):
    SENT = "sent"  # PUT answered 201 and the record says so
    ALREADY_SENT = "already-sent"  # an earlier delivery sent and recorded this very version
    SUPERSEDED = "superseded"  # older than what the iModel shows: not sent
    REPLACED = "replaced"  # the blob was overwritten or removed since it was read: its own event wins


@dataclass(frozen=True)
class Decision:
    what: Decided
    receipt: UploadReceipt | None = None
    recorded: DeliveryRecord | None = None


@dataclass(frozen=True)
class Known:
    """What a failure can be reported and dead-lettered with: only what earlier steps returned."""

    arrival: Arrival
    imodel_id: str | None = None
    data: bytes | None = None
    image: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    sent: bool = False  # the thumbnail is on the iModel: never dead-letter this version


class _Failed(Exception):  # noqa: N818 - a step's failure, carried to the one place that settles it
    def __init__(self, error: ThumbnailError, known: Known) -> None:
        super().__init__(error.message)
        self.error = error
        self.known = known


@dataclass
class _Meter:
    """Time per stage, and API calls: the two running counts of a delivery (reported, never decided on)."""

    clock: Callable[[], float]
    timings: dict[str, float] = field(default_factory=dict)
    api: Attempts = field(default_factory=Attempts)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = self.clock()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + self.clock() - started


_STAGE_OF = {"read": Stage.READ, "path": Stage.PATH, "image": Stage.IMAGE, "upload": Stage.UPLOAD}


class _Delivery:
    """One delivery of one blob (kept off the Pipeline so concurrent blobs never share it)."""

    def __init__(self, pipeline: Pipeline, blob: BlobClient, deadline: Deadline) -> None:
        self.p = pipeline
        self.blob = blob
        self.deadline = deadline
        self.meter = _Meter(pipeline.clock)

    # -- the flow, top to bottom -------------------------------------------------------------

    def run(self) -> Outcome:
        try:
            with self.meter.stage("read"):
                arrival = self._arrive()
        except ThumbnailError as error:  # storage failed before we saw the blob: leave it for the retry
            return self._end(Status.RETRY, error=error)
        if arrival is None:
            return self._end(Status.SKIPPED, message="The blob is gone (already handled) or not committed yet.")
        try:
            return self._deliver(arrival)
        except _Failed as failed:
            return self._failed(failed.error, failed.known)

    def _deliver(self, arrival: Arrival) -> Outcome:
        known = Known(arrival)
        with self._step("path", known):
            ref = parse_blob_path(self.blob.container_name, self.blob.blob_name)
        known = Known(arrival, imodel_id=ref.imodel_id)
        with self._step("read", known):
            data = self._download(arrival)
        if data is None:
            return self._end(Status.SKIPPED, known, message="The blob changed or vanished while being read.")
        source = Source(arrival, ref, data)
        known = Known(arrival, imodel_id=ref.imodel_id, data=data)
        with self._step("image", known):
            image, thumbnail = self._image(source)
        known = Known(arrival, ref.imodel_id, data, image=image, output=_output_of(thumbnail))
        with self._step("upload", known):
            decision = self._decide_and_send(source, thumbnail)
        return self._settle(source, thumbnail, decision, known)

    def _arrive(self) -> Arrival | None:
        props = storage.properties_or_none(self.blob)
        return None if props is None else Arrival(self.blob, props)

    def _download(self, arrival: Arrival) -> bytes | None:
        size, limit = int(arrival.props.size), self.p.settings.image.max_input_bytes
        if size == 0:
            raise ThumbnailError(ErrorCode.EMPTY_BLOB, "The blob has zero bytes.", details={"bytes": 0})
        if size > limit:
            raise ThumbnailError(
                ErrorCode.BLOB_TOO_LARGE,
                f"The blob has {size} bytes; MAX_BLOB_BYTES allows {limit}.",
                details={"bytes": size, "max_input_bytes": limit},
            )
        return storage.download(self.blob, arrival.etag)

    def _image(self, source: Source) -> tuple[dict[str, Any], Thumbnail]:
        info = self.p.images.probe(source.data)
        return info.as_dict(), self.p.images.normalize(source.data, info)

    def _decide_and_send(self, source: Source, thumbnail: Thumbnail) -> Decision:
        """Check -> PUT -> record, all under the lease on the iModel's delivery record."""
        with self.p.records.hold(source.ref.imodel_id, self.deadline) as hold:
            recorded = hold.recorded
            match verdict(source.key, recorded.key if recorded else None):
                case Verdict.ALREADY_SENT:
                    return Decision(Decided.ALREADY_SENT, recorded=recorded)
                case Verdict.SUPERSEDED:
                    return Decision(Decided.SUPERSEDED, recorded=recorded)
            if not self._still_current(source):
                return Decision(Decided.REPLACED)
            receipt = self._upload(source.ref, thumbnail, hold)
            hold.write(
                DeliveryRecord(
                    imodel_id=source.ref.imodel_id,
                    key=source.key,
                    thumbnail_sha256=storage.sha256_hex(thumbnail.data),
                    sent_at=iso(self.p.now()),
                    correlation_id=receipt.correlation_id,
                )
            )
            return Decision(Decided.SENT, receipt=receipt)

    def _still_current(self, source: Source) -> bool:
        """Only the current version of a path is ever sent (what makes ETag order safe)."""
        now = storage.properties_or_none(self.blob)
        return now is not None and now.etag == source.etag

    def _upload(self, ref: BlobRef, thumbnail: Thumbnail, hold: Hold) -> UploadReceipt:
        def attempt() -> UploadReceipt:
            if self.meter.api.count > 1:  # the lease was just taken for the first one
                hold.renew()
            return self.p.itwin.put_thumbnail(ref.imodel_id, thumbnail.data, thumbnail.content_type, self.deadline)

        return call_with_retries(
            attempt,
            self.p.retry_policy,
            clock=self.p.clock,
            sleep=self.p.sleep,
            random=self.p.random,
            attempts=self.meter.api,
            deadline=self.deadline,
        )

    def _settle(self, source: Source, thumbnail: Thumbnail, decision: Decision, known: Known) -> Outcome:
        if decision.what is Decided.REPLACED:
            return self._end(
                Status.SKIPPED, known, message="The blob was replaced or removed while being processed; not sent."
            )
        sent = decision.what in (Decided.SENT, Decided.ALREADY_SENT)
        known = Known(known.arrival, known.imodel_id, known.data, known.image, known.output, sent=sent)
        with self._step("dispose", known):
            if sent:
                destination = self.p.archiver.archive(source, self.deadline, sent=Sent(thumbnail, decision.receipt))
            else:
                assert decision.recorded is not None
                destination = self.p.archiver.archive(
                    source, self.deadline, sent=None, superseded_by=decision.recorded.key.name
                )
        if decision.what is Decided.SUPERSEDED:
            assert decision.recorded is not None
            won = decision.recorded.key
            return self._end(
                Status.SUPERSEDED,
                known,
                destination=destination,
                message=f"{won.name} (dropped {won.dropped}) is newer and already on the iModel; archived unsent.",
            )
        receipt = decision.receipt
        return self._end(
            Status.UPLOADED,
            known,
            destination=destination,
            api_status=receipt.status if receipt else None,
            correlation_id=receipt.correlation_id if receipt else _recorded_correlation(decision),
            message=None if receipt else "An earlier delivery sent this version; archived without sending again.",
        )

    # -- failures ------------------------------------------------------------------------------

    @contextmanager
    def _step(self, name: str, known: Known) -> Iterator[None]:
        """Time a step, and turn whatever it raises into a failure that carries what is known."""
        try:
            with self.meter.stage(name):
                yield
        except ThumbnailError as error:
            raise _Failed(error, known) from error
        except Exception as exc:
            # A surprise is treated as transient: retried, and dead-lettered with its message once
            # the attempts run out, so even a bug never loses a blob or stops a drain.
            logger.exception("unexpected error handling %s", known.arrival.path)
            surprise = ThumbnailError(
                ErrorCode.INTERNAL_ERROR,
                f"{type(exc).__name__}: {str(exc)[:500]}",
                stage=_STAGE_OF.get(name, Stage.STORAGE),
                details={"exception": type(exc).__name__},
            )
            raise _Failed(surprise, known) from exc

    def _failed(self, error: ThumbnailError, known: Known) -> Outcome:
        final = None if known.sent else self._final_form(error, known.arrival)
        if final is None:
            self._remember_attempt(known.arrival)
            return self._end(Status.RETRY, known, error=error)
        try:
            with self.meter.stage("dispose"):
                destination = self.p.deadletterer.deadletter(
                    known.arrival,
                    known.data,
                    final,
                    self.deadline,
                    imodel_id=known.imodel_id,
                    image=known.image,
                    last_error=ErrorSummary.of(error).__dict__ if final is not error else None,
                )
        except ThumbnailError as storage_error:
            return self._end(
                Status.RETRY,
                known,
                error=storage_error,
                message=f"{error.message} Dead-lettering failed: {storage_error.message}",
            )
        if destination is None:
            return self._end(
                Status.SKIPPED, known, error=final, message="Another delivery already handled this version of the blob."
            )
        return self._end(Status.DEADLETTERED, known, error=final, destination=destination)

    def _final_form(self, error: ThumbnailError, arrival: Arrival) -> ThumbnailError | None:
        """The error to dead-letter with, or None while the blob deserves another attempt."""
        if not error.transient:
            return error
        retry = self.p.settings.retry
        created = arrival.props.creation_time or arrival.props.last_modified
        age = (self.p.now() - created).total_seconds() if created else 0.0
        if error.code is ErrorCode.IMODEL_NOT_INITIALIZED and age > retry.not_initialized_window_seconds:
            return error.as_permanent()
        if arrival.attempt >= retry.max_delivery_attempts:
            return ThumbnailError(
                ErrorCode.RETRIES_EXHAUSTED,
                f"Gave up after {arrival.attempt} delivery attempts; last error {error.code.value}: {error.message}",
                stage=error.stage,
                api=error.api,
                details=error.details,
            )
        return None

    def _remember_attempt(self, arrival: Arrival) -> None:
        """Count this failed delivery on the blob itself, so the last allowed attempt dead-letters
        instead of the host parking the blob in the poison queue."""
        metadata = dict(arrival.props.metadata or {})
        metadata[ATTEMPTS_METADATA] = str(arrival.attempt)
        # Best effort: losing one count only means one more attempt.
        with contextlib.suppress(ThumbnailError):
            storage.set_metadata_if_unchanged(self.blob, metadata, arrival.etag)

    def give_up(self) -> Outcome:
        """The host stopped retrying: dead-letter ``RetriesExhausted``, unless this version was sent."""
        try:
            arrival = self._arrive()
        except ThumbnailError as error:
            return self._end(Status.RETRY, error=error)
        if arrival is None:
            return self._end(Status.SKIPPED, message="The blob is gone (already handled).")
        with contextlib.suppress(ThumbnailError):
            ref = parse_blob_path(self.blob.container_name, self.blob.blob_name)
            recorded = self.p.records.read(ref.imodel_id)
            if recorded is not None and (recorded.key.name, recorded.key.etag) == (
                self.blob.blob_name,
                etag_text(arrival.etag),
            ):
                return self.run()  # sent already: finish it (archive), never dead-letter it
        known = Known(arrival, imodel_id=_imodel_or_none(self.blob))
        attempts = arrival.attempt - 1
        exhausted = ThumbnailError(
            ErrorCode.RETRIES_EXHAUSTED,
            f"The Functions host gave up on this blob (poison queue) after {attempts} recorded attempts; "
            "its last error is in the function's logs.",
        )
        try:
            destination = self.p.deadletterer.deadletter(
                arrival,
                None,
                exhausted,
                self.deadline,
                imodel_id=known.imodel_id,
                image=None,
                last_error=None,
                attempts=attempts,
            )
        except ThumbnailError as storage_error:
            return self._end(Status.RETRY, known, error=storage_error)
        status = Status.SKIPPED if destination is None else Status.DEADLETTERED
        return self._end(status, known, error=exhausted, destination=destination, attempts=attempts)

    # -- the one place an Outcome is made ----------------------------------------------------------

    def _end(
        self,
        status: Status,
        known: Known | None = None,
        *,
        error: ThumbnailError | None = None,
        message: str | None = None,
        destination: str | None = None,
        api_status: int | None = None,
        correlation_id: str | None = None,
        attempts: int | None = None,
    ) -> Outcome:
        api = error.api if error is not None else None
        return Outcome(
            status=status,
            blob=f"{self.blob.container_name}/{self.blob.blob_name}",
            imodel_id=known.imodel_id if known else None,
            code=error.code.value if error is not None else None,
            message=message if message is not None else (error.message if error is not None else None),
            stage=error.stage.value if error is not None else None,
            attempts=attempts if attempts is not None else (known.arrival.attempt if known else 0),
            api_calls=self.meter.api.count,
            api_status=api.status if api is not None else api_status,
            correlation_id=api.correlation_id if api is not None else correlation_id,
            destination=destination,
            timings=dict(self.meter.timings),
            source_image=known.image if known else None,
            output_image=known.output if known else None,
        )


def _recorded_correlation(decision: Decision) -> str | None:
    return decision.recorded.correlation_id if decision.recorded is not None else None


def _output_of(thumbnail: Thumbnail) -> dict[str, Any] | None:
    output = thumbnail.report()["output"]
    return dict(output) if isinstance(output, dict) else None


def _imodel_or_none(blob: BlobClient) -> str | None:
    try:
        return parse_blob_path(blob.container_name, blob.blob_name).imodel_id
    except ThumbnailError:
        return None
