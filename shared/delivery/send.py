"""One send under the delivery record's lease: intent -> PUT -> resolution, and the re-asserts.

The iModels API takes no precondition, so the lease fences the record, not the PUT.  What keeps
the newest drop on the iModel is this protocol (see :mod:`shared.core.lifecycle` for the bound T):

1. Pending sends found in the record that no re-assert covers yet are in doubt (their senders are
   gone: we hold the lease).  One re-assert is queued for T after the latest of them.
2. Our intent is written, under the lease, before the PUT.
3. The PUT (retried within the deadline) is one call to :meth:`ItwinClient.put_thumbnail`.
4. Answered 201: the record says sent, and our intent goes.  If any attempt's outcome was unknown
   (a read timeout before the retry succeeded), that attempt is in doubt: a re-assert is queued
   for T after our intent.  Failed: an in-doubt failure queues its re-assert; a definite one just
   removes the intent.

Each in-doubt send therefore costs one re-assert (one more PUT of the newest recorded drop, with
its own intent, so it is fenced the same way), and a send whose outcome is known costs none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from azure.storage.queue import QueueClient

from shared.core.deadline import Deadline
from shared.core.errors import ThumbnailError
from shared.core.lifecycle import DropKey, outcome_unknown
from shared.core.retry import Attempts, RetryPolicy, call_with_retries
from shared.delivery.reassert import encode
from shared.delivery.record import Hold, SentDrop
from shared.edges import queues
from shared.edges.itwin import ItwinClient, UploadReceipt


@dataclass(frozen=True)
class Reasserts:
    """The delayed re-assert queue: a storage queue message, invisible for the delay."""

    queue: QueueClient
    bound: float  # T, seconds

    def schedule(self, imodel_id: str, delay: float) -> None:
        queues.send_later(self.queue, encode(imodel_id), delay)


class SentUnrecordedError(Exception):
    """The PUT was answered 201 but the record could not say so (the lease was lost)."""

    def __init__(self, error: ThumbnailError, receipt: UploadReceipt) -> None:
        super().__init__(error.message)
        self.error = error
        self.receipt = receipt


@dataclass
class Sender:
    """Sends for one holder of one iModel's record."""

    itwin: ItwinClient
    reasserts: Reasserts
    policy: RetryPolicy
    deadline: Deadline
    attempts: Attempts
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    random: Callable[[], float]
    now: Callable[[], datetime]

    def reassert_orphans(self, hold: Hold) -> None:
        """Queue one re-assert covering pending sends whose senders are gone, and say so in the record."""
        orphans = hold.recorded.orphans()
        if not orphans:
            return
        self.reasserts.schedule(hold.recorded.imodel_id, self._until_safe(max(p.at for p in orphans)))
        hold.write(hold.recorded.all_scheduled().expired(self.now(), self.reasserts.bound))

    def send(
        self, hold: Hold, key: DropKey, data: bytes, content_type: str, *, record: SentDrop | None
    ) -> UploadReceipt:
        """Intent, PUT, resolution (see the module docstring); ``record``: what to record as sent."""
        self.reassert_orphans(hold)
        at = self.now().replace(microsecond=0)  # as the record keeps it
        hold.write(hold.recorded.expired(at, self.reasserts.bound).with_intent(key, at))
        unknown: list[ThumbnailError] = []
        try:
            receipt = self._put(hold, hold.recorded.imodel_id, data, content_type, unknown)
        except ThumbnailError as error:
            self._resolve_failed(hold, key, at, in_doubt=bool(unknown) or outcome_unknown(error))
            raise
        covered = True
        if unknown:  # an earlier attempt of this send may still land: re-assert after it can
            try:
                self.reasserts.schedule(hold.recorded.imodel_id, self._until_safe(at))
            except ThumbnailError:
                covered = False  # the intent stays unscheduled: the next holder queues its re-assert
        resolved = hold.recorded.resolved(key, at, sent=record)
        if not covered:
            resolved = replace(hold.recorded, sent=resolved.sent)
        try:
            hold.write(resolved)
        except ThumbnailError as error:
            raise SentUnrecordedError(error, receipt) from error
        return receipt

    def _put(
        self, hold: Hold, imodel_id: str, data: bytes, content_type: str, unknown: list[ThumbnailError]
    ) -> UploadReceipt:
        first = self.attempts.count

        def attempt() -> UploadReceipt:
            if self.attempts.count > first:  # the intent write just proved the lease for the first one
                hold.renew()
            try:
                return self.itwin.put_thumbnail(imodel_id, data, content_type, self.deadline)
            except ThumbnailError as error:
                if outcome_unknown(error):
                    unknown.append(error)
                raise

        return call_with_retries(
            attempt,
            self.policy,
            clock=self.clock,
            sleep=self.sleep,
            random=self.random,
            attempts=self.attempts,
            deadline=self.deadline,
        )

    def _resolve_failed(self, hold: Hold, key: DropKey, at: datetime, *, in_doubt: bool) -> None:
        """Best effort: an intent left behind is picked up by the next holder (one re-assert more)."""
        with contextlib.suppress(ThumbnailError):
            if in_doubt:
                self.reasserts.schedule(hold.recorded.imodel_id, self._until_safe(at))
            hold.write(hold.recorded.resolved(key, at))

    def _until_safe(self, at: datetime) -> float:
        """Seconds from now until a send whose intent was recorded at ``at`` can no longer land."""
        return self.reasserts.bound - (self.now() - at).total_seconds()
