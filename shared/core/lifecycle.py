"""The lifecycle of one drop, pure: what identifies and orders drops, and what a delivery does next.

**Identity and order.**  A drop is a :class:`DropKey` ``(dropped, name, etag)``.  ``dropped`` is an
instant: the source blob's creation time, or, for a redriven blob, the original drop time it
carries in metadata (:func:`parse_instant`; an invalid one is ignored).  Drops of one iModel are
ordered by ``(dropped, name)``: the later drop wins, and of two drops in the same second the one
whose name sorts last (by code point) wins.  Two versions of one path are told apart by ETag: only
the current version of a path is ever sent, so a different version than the recorded one is newer.

**States** (:class:`State`) of a drop, as the delivery record and the blob's place show them (the
words ``status`` prints)::

    incoming -> in-doubt (intent recorded, PUT on the wire or its outcome unknown)
             -> sent (201) -> processed (archived)
    incoming -> superseded (an older drop than the recorded one: archived unsent)
    incoming -> deadlettered (permanent failure, or attempts used up before any 201)

**The in-doubt bound.**  The iModels API takes no precondition, so a PUT whose outcome is unknown
(a read timeout, a reset connection, a 502/504, a crash or a stall after the intent was recorded)
can still be applied later.  It cannot be applied later than :func:`in_doubt_bound` after its
intent was recorded: the invocation that sends it is killed at ``functionTimeout``, and the API
gives up on a request it holds within the client's connect + read timeout of the last byte sent;
a margin covers clock skew between workers and the queue's own delivery delay.  A re-assert of
the newest recorded drop scheduled that long after the last in-doubt send therefore lands last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from shared.core.errors import ErrorCode, ThumbnailError

#: Drop times as carried and recorded: ISO 8601 UTC, whole seconds.
INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: Added to the in-doubt bound: clock skew between workers and storage, and queue delivery jitter.
IN_DOUBT_MARGIN_SECONDS = 60.0


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(INSTANT_FORMAT)


def parse_instant(text: str | None) -> datetime | None:
    """A carried or recorded drop time as a UTC instant (whole seconds), or None when invalid.

    Accepts what this app writes (``2026-11-29T08:00:00Z``) and any ISO 8601 instant with an
    offset; a time without an offset is not an instant and is refused.
    """
    if not text or len(text) > 64:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError):
        return None


@dataclass(frozen=True)
class DropKey:
    """What identifies one drop, and orders drops of one iModel: ``(dropped, name)``, then ETag."""

    dropped: datetime  # a UTC instant, whole seconds
    name: str  # the blob name inside the incoming container, ``{imodelId}/{name}``
    etag: str  # unquoted

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.dropped, self.name)

    def same_version(self, other: DropKey | None) -> bool:
        return other is not None and (self.name, self.etag) == (other.name, other.etag)


def in_doubt_bound(function_timeout: float, connect_timeout: float, read_timeout: float) -> float:
    """T: the longest an in-doubt PUT can still be applied after its intent was recorded (seconds)."""
    return function_timeout + connect_timeout + read_timeout + IN_DOUBT_MARGIN_SECONDS


class State(StrEnum):
    """Where one drop stands (see the module docstring); ``status`` reports these words."""

    INCOMING = "incoming"
    IN_DOUBT = "in-doubt"
    SENT = "sent"
    PROCESSED = "processed"
    SUPERSEDED = "superseded"
    DEADLETTERED = "deadlettered"


class Action(StrEnum):
    """What a delivery does next."""

    SEND = "send"  # newer than what the iModel shows (or nothing recorded): record the intent, PUT
    ALREADY_SENT = "already-sent"  # this very version was sent and recorded: archive, never send again
    SUPERSEDED = "superseded"  # older than the recorded drop: archive unsent
    REPLACED = "replaced"  # the blob was overwritten or removed since it was read: its own event wins
    RETRY = "retry"  # leave the blob for the host's next delivery
    DEADLETTER = "deadletter"  # a permanent failure, or attempts used up, and never sent


@dataclass(frozen=True)
class Facts:
    """What a delivery knows when it decides; every field comes from a read, nothing is guessed."""

    ours: DropKey | None = None  # None when the path could not even be parsed
    recorded: DropKey | None = None  # the newest drop the record says was sent (None: nothing yet)
    still_current: bool = True  # the blob still has the ETag that was read
    sent: bool = False  # a PUT of this version got 201 (this delivery, or one recorded on the blob)
    failed: bool = False  # this delivery failed
    final: bool = False  # ...and its failure is permanent or the attempts are used up


def decide(facts: Facts) -> Action:
    """The one decision table of a drop (pure)."""
    if facts.failed:
        # Sent is known at the 201: nothing after it can dead-letter that blob.
        return Action.DEADLETTER if facts.final and not facts.sent else Action.RETRY
    assert facts.ours is not None, "a delivery decides on a parsed drop"
    if facts.ours.same_version(facts.recorded):
        return Action.ALREADY_SENT
    if facts.recorded is not None and facts.ours.order < facts.recorded.order:
        return Action.SUPERSEDED
    if not facts.still_current:
        return Action.REPLACED
    return Action.SEND


def outcome_unknown(error: ThumbnailError) -> bool:
    """True when a failed PUT may still be applied: the request may have reached the API.

    A connect timeout never sent it, and an answered 4xx, 429, 500 or 503 says it was not applied;
    a read timeout, a reset connection, or a gateway's 502/504 says nothing about the backend.
    """
    if error.code is ErrorCode.API_UNREACHABLE:
        return error.details.get("exception") != "ConnectTimeout"
    if error.code is ErrorCode.API_SERVER_ERROR and error.api is not None:
        return error.api.status in (502, 504)
    return False
