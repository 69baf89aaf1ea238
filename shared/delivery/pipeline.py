"""One blob from trigger to outcome: read -> frozen Source -> image -> decide and send -> settle.

Read :meth:`_Delivery.run` top to bottom to follow a blob.  Each step takes what the previous one
returned (an :class:`~shared.delivery.source.Arrival`, a :class:`~shared.delivery.source.Source`, a
thumbnail, a :class:`Decision`) and the :class:`~shared.core.outcome.Outcome` is built once, at the
end.  The decisions live in pure modules (:mod:`shared.core.paths`, :mod:`shared.core.retry`,
:func:`shared.core.lifecycle.decide`, :mod:`shared.edges.api_errors`); this module sequences them
and does the I/O through what it was handed.  One :class:`~shared.core.deadline.Deadline` per
invocation bounds every wait.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random as _random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from azure.storage.blob import BlobClient, BlobServiceClient

from shared.core.deadline import Deadline
from shared.core.errors import ErrorCode, ErrorSummary, Stage, ThumbnailError
from shared.core.lifecycle import Action, DropKey, Facts, decide
from shared.core.outcome import Outcome, Status
from shared.core.paths import parse_blob_path
from shared.core.retry import Attempts, RetryPolicy
from shared.delivery import reassert as reassert_message
from shared.delivery.archive import Archiver, Sent
from shared.delivery.deadletter import DeadLetterer
from shared.delivery.log import LOGGER_NAME
from shared.delivery.record import DeliveryRecord, RecordStore, SentDrop
from shared.delivery.send import Reasserts, Sender, SentUnrecordedError
from shared.delivery.source import SENT_TAG, Arrival, Source, etag_text, iso
from shared.edges import storage
from shared.edges.attempts import AttemptMarks
from shared.edges.itwin import ItwinClient, UploadReceipt
from shared.imaging import Thumbnail
from shared.imaging.stage import ImageStage
from shared.settings import Settings

__all__ = ["Pipeline", "count_reserve", "utcnow"]

logger = logging.getLogger(LOGGER_NAME)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Pipeline:
    """Everything one process needs to handle blobs; build it once (``shared.delivery.compose``), then call
    :meth:`process` per blob and :meth:`reassert` per re-assert message."""

    settings: Settings
    blobs: BlobServiceClient
    itwin: ItwinClient
    images: ImageStage
    records: RecordStore
    archiver: Archiver
    deadletterer: DeadLetterer
    reasserts: Reasserts
    retry_policy: RetryPolicy
    attempts: AttemptMarks
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = _random.random

    def deadline(self) -> Deadline:
        """This invocation's deadline for its work, computed once when the blob arrives: the budget
        less the reserve in which a failed delivery is still counted (see :func:`count_reserve`)."""
        budget = self.settings.retry.budget_seconds
        return Deadline.after(budget - count_reserve(budget), self.clock)

    def process(self, blob: BlobClient) -> Outcome:
        """Handle one blob of the incoming container.  Never raises for a failure of the blob."""
        deadline = self.deadline()
        with storage.bounded_by(deadline):
            return _Delivery(self, blob, deadline).run()

    def give_up(self, blob: BlobClient) -> Outcome:
        """Dead-letter a blob the host stopped retrying (named by a poison-queue message)."""
        deadline = self.deadline()
        with storage.bounded_by(deadline):
            return _Delivery(self, blob, deadline).give_up()

    def reassert(self, imodel_id: str) -> Outcome:
        """PUT the iModel's newest recorded drop once more (a re-assert message came due)."""
        deadline = self.deadline()
        with storage.bounded_by(deadline):
            return _Reassert(self, imodel_id, deadline).run()

    def reassert_message(self, body: bytes) -> Outcome | None:
        """Handle one re-assert queue message; None for a message that is not ours (left alone)."""
        imodel_id = reassert_message.parse(body)
        return None if imodel_id is None else self.reassert(imodel_id)

    def sender(self, deadline: Deadline, attempts: Attempts) -> Sender:
        return Sender(
            itwin=self.itwin,
            reasserts=self.reasserts,
            policy=self.retry_policy,
            deadline=deadline,
            attempts=attempts,
            clock=self.clock,
            sleep=self.sleep,
            random=self.random,
            now=self.now,
        )

    def close(self) -> None:
        """Stop the image stage's worker processes (a host process keeps its pipeline until it exits)."""
        self.images.close()


def count_reserve(budget: float) -> float:
    """Seconds kept after the work's deadline, within ``RETRY_BUDGET_SECONDS``, for counting a failed
    delivery (one create and one list in the state container): a tenth of the budget, at most 5 s."""
    return min(5.0, budget / 10)


@dataclass(frozen=True)
class Decision:
    what: Action  # SEND (and sent), ALREADY_SENT, SUPERSEDED or REPLACED
    receipt: UploadReceipt | None = None
    recorded: DeliveryRecord | None = None
    won: DropKey | None = None  # the drop decided against: the record's, or the archive's


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
            outcome = self._deliver(arrival)
        except _Failed as failed:
            return self._failed(failed.error, failed.known)
        return self._with_earlier_failures(outcome, arrival)

    def _deliver(self, arrival: Arrival) -> Outcome:
        known = Known(arrival)
        with self._step("path", known):
            ref = parse_blob_path(self.blob.container_name, self.blob.blob_name)
        known = replace(known, imodel_id=ref.imodel_id)
        with self._step("read", known):
            data = self._download(arrival)
        if data is None:
            return self._end(Status.SKIPPED, known, message="The blob changed or vanished while being read.")
        source = Source(arrival, ref, data)
        known = replace(known, data=data)
        with self._step("image", known):
            image, thumbnail = self._image(source)
        known = replace(known, image=image, output=_output_of(thumbnail))
        with self._step("upload", known):
            decision = self._decide_and_send(source, thumbnail, known)
        return self._settle(source, thumbnail, decision, known)

    def _arrive(self) -> Arrival | None:
        props = storage.properties_or_none(self.blob)
        if props is None:
            return None
        tags = storage.tags_of(self.blob) if props.tag_count else {}
        return Arrival(self.blob, props, tags)

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
        info = self.p.images.probe(source.data, self.deadline)
        return info.as_dict(), self.p.images.normalize(source.data, info, self.deadline)

    def _decide_and_send(self, source: Source, thumbnail: Thumbnail, known: Known) -> Decision:
        """Decide -> intent -> PUT -> record, all under the lease on the iModel's delivery record."""
        with self.p.records.hold(source.ref.imodel_id, self.deadline) as hold:
            recorded = hold.recorded
            sender = self.p.sender(self.deadline, self.meter.api)
            # Nothing recorded: a record deleted is told from one never written by the archive.
            won = recorded.key or self.p.archiver.newest_sent(source.ref.imodel_id)
            action = decide(Facts(ours=source.key, recorded=won))
            if action is Action.SEND and not self._still_current(source):
                action = decide(Facts(ours=source.key, recorded=won, still_current=False))
            if action is not Action.SEND:
                sender.reassert_orphans(hold)
                return Decision(action, recorded=recorded, won=won)
            sent = SentDrop(
                key=source.key,
                thumbnail_sha256=storage.sha256_hex(thumbnail.data),
                sent_at=iso(self.p.now()),
                thumbnail=thumbnail.data,
                content_type=thumbnail.content_type,
            )
            try:
                receipt = sender.send(hold, source.key, thumbnail.data, thumbnail.content_type, record=sent)
            except SentUnrecordedError as unrecorded:
                # Sent is known at the 201: say so on the blob, so no later step dead-letters it.
                self._remember_sent(source.arrival)
                raise _Failed(unrecorded.error, replace(known, sent=True)) from unrecorded
            return Decision(Action.SEND, receipt=receipt)

    def _still_current(self, source: Source) -> bool:
        """Only the current version of a path is ever sent (what makes ETag order safe)."""
        now = storage.properties_or_none(self.blob)
        return now is not None and now.etag == source.etag

    def _settle(self, source: Source, thumbnail: Thumbnail, decision: Decision, known: Known) -> Outcome:
        if decision.what is Action.REPLACED:
            return self._end(
                Status.SKIPPED, known, message="The blob was replaced or removed while being processed; not sent."
            )
        sent = decision.what in (Action.SEND, Action.ALREADY_SENT)
        known = replace(known, sent=sent)
        with self._step("dispose", known):
            if sent:
                destination = self.p.archiver.archive(source, self.deadline, sent=Sent(thumbnail, decision.receipt))
            else:
                assert decision.won is not None
                destination = self.p.archiver.archive(source, self.deadline, sent=None, superseded_by=decision.won.name)
        if decision.what is Action.SUPERSEDED:
            assert decision.won is not None
            won = decision.won
            return self._end(
                Status.SUPERSEDED,
                known,
                destination=destination,
                message=f"{won.name} (dropped {iso(won.dropped)}) is newer and already on the iModel; archived unsent.",
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
        except _Failed:
            raise
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
        sent = known.sent or known.arrival.sent
        attempt = self._count_failure(known.arrival) if error.transient and not sent else self._attempt(known.arrival)
        final = self._final_form(error, known.arrival, attempt)
        action = decide(Facts(failed=True, final=final is not None, sent=sent))
        if action is Action.RETRY or final is None:
            return self._end(Status.RETRY, known, error=error, attempts=attempt)
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
                    attempts=attempt,
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
        return self._end(Status.DEADLETTERED, known, error=final, destination=destination, attempts=attempt)

    def _final_form(self, error: ThumbnailError, arrival: Arrival, attempt: int) -> ThumbnailError | None:
        """The error to dead-letter with, or None while the blob deserves another attempt."""
        if not error.transient:
            return error
        retry = self.p.settings.retry
        created = arrival.props.creation_time or arrival.props.last_modified
        age = (self.p.now() - created).total_seconds() if created else 0.0
        if error.code is ErrorCode.IMODEL_NOT_INITIALIZED and age > retry.not_initialized_window_seconds:
            return error.as_permanent()
        if attempt >= retry.max_delivery_attempts:
            if error.code is ErrorCode.DELIVERY_RECORD_UNREADABLE:  # its own code: an operator acts on it
                return error.as_permanent()
            return ThumbnailError(
                ErrorCode.RETRIES_EXHAUSTED,
                f"Gave up after {attempt} delivery attempts; last error {error.code.value}: {error.message}",
                stage=error.stage,
                api=error.api,
                details=error.details,
            )
        return None

    def _remember_sent(self, arrival: Arrival) -> None:
        """A PUT of this version got 201 but could not be recorded: say so in the blob's index tags
        (which leave its ETag alone), so that nothing later dead-letters it.  Best effort: without
        the tag, the record's intent still makes the next delivery re-assert it."""
        tags = dict(arrival.tags)
        tags[SENT_TAG] = etag_text(arrival.etag)
        with contextlib.suppress(ThumbnailError):
            storage.set_tags(self.blob, tags)

    def _with_earlier_failures(self, outcome: Outcome, arrival: Arrival) -> Outcome:
        """A sent or superseded blob's outcome, with the failed deliveries before it counted in
        ``attempts`` (one list request; if it cannot be made in time the outcome stays as it is)."""
        if outcome.status not in (Status.UPLOADED, Status.SUPERSEDED):
            return outcome
        try:
            failed = self.p.attempts.count(self.blob.container_name, self.blob.blob_name, arrival.etag)
        except ThumbnailError:
            return outcome
        return dataclasses.replace(outcome, attempts=max(outcome.attempts, failed + 1))

    def _count_failure(self, arrival: Arrival) -> int:
        """Mark this failed delivery (:mod:`shared.edges.attempts`); its number, this one included.

        The mark is a blob of its own in the state container, so the source's ETag never changes and
        two failing duplicates count twice.  It is written in the reserve after the work's deadline;
        if storage cannot take it in time this failure is not counted here (the host still counts it
        towards the poison queue).
        """
        budget = self.p.settings.retry.budget_seconds
        reserve = Deadline(at=self.deadline.at + count_reserve(budget), clock=self.deadline.clock)
        try:
            with storage.bounded_by(reserve):
                marks = self.p.attempts.failed(self.blob.container_name, self.blob.blob_name, arrival.etag)
        except ThumbnailError as error:
            logger.warning("failed delivery of %s not counted: %s", arrival.path, error.message)
            return 1
        return marks

    def _attempt(self, arrival: Arrival) -> int:
        """This delivery's number when it is not counted as a failure: the failures before it, plus one."""
        try:
            return self.p.attempts.count(self.blob.container_name, self.blob.blob_name, arrival.etag) + 1
        except ThumbnailError:
            return 1  # the number only goes into the outcome and the payload

    def give_up(self) -> Outcome:
        """The host stopped retrying: dead-letter ``RetriesExhausted``, unless this version was sent."""
        try:
            arrival = self._arrive()
        except ThumbnailError as error:
            return self._end(Status.RETRY, error=error)
        if arrival is None:
            return self._end(Status.SKIPPED, message="The blob is gone (already handled).")
        if arrival.sent:
            return self.run()  # a PUT of this version got 201: finish it, never dead-letter it
        with contextlib.suppress(ThumbnailError):
            ref = parse_blob_path(self.blob.container_name, self.blob.blob_name)
            recorded = self.p.records.read(ref.imodel_id)
            key = recorded.key if recorded is not None else None
            if key is not None and (key.name, key.etag) == (self.blob.blob_name, etag_text(arrival.etag)):
                return self.run()  # sent already: finish it (archive), never dead-letter it
        known = Known(arrival, imodel_id=_imodel_or_none(self.blob))
        attempts = self._attempt(arrival) - 1
        exhausted = ThumbnailError(
            ErrorCode.RETRIES_EXHAUSTED,
            f"The Functions host gave up on this blob (poison queue) after {attempts} failed deliveries this app "
            "counted (deliveries the host killed, by its timeout or a crash, are not counted); each one's error is in "
            "the function's logs.",
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
            attempts=attempts if attempts is not None else (1 if known else 0),
            api_calls=self.meter.api.count,
            api_status=api.status if api is not None else api_status,
            correlation_id=api.correlation_id if api is not None else correlation_id,
            destination=destination,
            timings=dict(self.meter.timings),
            source_image=known.image if known else None,
            output_image=known.output if known else None,
        )


class _Reassert:
    """PUT the newest recorded drop of one iModel once more, under the lease, with its own intent
    (so a re-assert whose outcome is unknown is itself in doubt and re-asserted once more)."""

    def __init__(self, pipeline: Pipeline, imodel_id: str, deadline: Deadline) -> None:
        self.p = pipeline
        self.imodel_id = imodel_id
        self.deadline = deadline
        self.meter = _Meter(pipeline.clock)

    def run(self) -> Outcome:
        try:
            with self.meter.stage("upload"), self.p.records.hold(self.imodel_id, self.deadline) as hold:
                sent = hold.recorded.sent
                if sent is None or sent.thumbnail is None or sent.content_type is None:
                    return self._end(Status.SKIPPED, message="Nothing recorded with its bytes to re-assert.")
                sender = self.p.sender(self.deadline, self.meter.api)
                receipt = sender.send(hold, sent.key, sent.thumbnail, sent.content_type, record=None)
        except SentUnrecordedError as unrecorded:
            # The PUT landed; its intent stays in the record and the next holder re-asserts once more.
            return self._end(Status.UPLOADED, message=unrecorded.error.message, api_status=unrecorded.receipt.status)
        except ThumbnailError as error:
            return self._end(Status.RETRY, error=error)
        return self._end(
            Status.UPLOADED,
            message=f"Re-asserted {sent.key.name} (dropped {iso(sent.key.dropped)}).",
            api_status=receipt.status,
            correlation_id=receipt.correlation_id,
        )

    def _end(
        self,
        status: Status,
        *,
        error: ThumbnailError | None = None,
        message: str | None = None,
        api_status: int | None = None,
        correlation_id: str | None = None,
    ) -> Outcome:
        return Outcome(
            status=status,
            blob=f"{self.p.settings.reassert_queue}/{self.imodel_id}",
            imodel_id=self.imodel_id,
            code=error.code.value if error is not None else None,
            message=message if message is not None else (error.message if error is not None else None),
            stage=error.stage.value if error is not None else None,
            api_calls=self.meter.api.count,
            api_status=error.api.status if error is not None and error.api is not None else api_status,
            correlation_id=correlation_id,
            timings=dict(self.meter.timings),
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
