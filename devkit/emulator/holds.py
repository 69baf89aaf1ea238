"""Requests the emulator holds before handling them: the real API's slow failure modes.

Two knobs, each a queue of "the next ``count`` requests":

* **stall** -- hold a request ``seconds`` before handling it.  If the client is still waiting, it then
  gets the normal answer; if it gave up (read timeout, crash), the request is dropped unapplied, as a
  gateway drops a request whose client has gone.  ``endpoint`` picks which requests: ``"api"`` (any
  iModels request), ``"token"`` (``POST /connect/token``) or ``"any"``.
* **late apply** -- hold a thumbnail ``PUT`` ``seconds`` and then apply it *whether or not the client
  is still there*: the server kept the request after the client's read timeout.  A newer PUT that
  lands during the hold is overwritten when the held one is applied, which is exactly what a client
  cannot fence against (the API takes no precondition).

The waits are real time (they exist to make real clients time out); the emulator's ``close()`` cuts
them short and nothing is applied then.  This module holds the bookkeeping only; ``server`` does the
waiting and checks whether the client has gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from devkit.emulator.config import check_seconds


class Endpoint(StrEnum):
    """Which requests a stall applies to."""

    ANY = "any"
    API = "api"
    TOKEN = "token"  # noqa: S105 - an endpoint name, not a credential


@dataclass(frozen=True)
class Hold:
    """One held request: how long, and whether it is applied even if the client has gone."""

    seconds: float
    apply_if_gone: bool


@dataclass
class _Queued:
    seconds: float
    endpoint: Endpoint
    remaining: int


class Holds:
    """The pending stalls and late applies, plus what happened to held requests.

    Not thread-safe by itself: :class:`~devkit.emulator.state.State` calls it under its lock.
    """

    def __init__(self) -> None:
        self._stalls: list[_Queued] = []
        self._late: list[_Queued] = []
        self.held = 0
        self.abandoned = 0
        self.late_applied = 0

    def stall_next(self, seconds: float, count: int, endpoint: str) -> None:
        check_seconds("seconds", seconds)
        _check_count(count)
        try:
            where = Endpoint(endpoint)
        except ValueError:
            raise ValueError(f"endpoint must be one of {[e.value for e in Endpoint]}, got {endpoint!r}") from None
        self._stalls.append(_Queued(seconds, where, count))

    def late_apply_next(self, seconds: float, count: int) -> None:
        check_seconds("seconds", seconds)
        _check_count(count)
        self._late.append(_Queued(seconds, Endpoint.API, count))

    def take(self, *, is_token: bool, is_put: bool) -> Hold | None:
        """The hold for this request, if one is queued for it (used up once).

        A thumbnail PUT takes a pending late apply first; otherwise the first queued stall whose
        endpoint matches.  Stalls for other endpoints stay queued, in order.
        """
        if is_put and self._late:
            return Hold(_use(self._late, 0).seconds, apply_if_gone=True)
        for index, queued in enumerate(self._stalls):
            if queued.endpoint is Endpoint.ANY or (queued.endpoint is Endpoint.TOKEN) == is_token:
                return Hold(_use(self._stalls, index).seconds, apply_if_gone=False)
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "pending_stalls": [
                {"seconds": q.seconds, "endpoint": q.endpoint.value, "count": q.remaining} for q in self._stalls
            ],
            "pending_late_applies": [{"seconds": q.seconds, "count": q.remaining} for q in self._late],
            "held": self.held,
            "abandoned": self.abandoned,
            "late_applied": self.late_applied,
        }


def _use(queue: list[_Queued], index: int) -> _Queued:
    queued = queue[index]
    queued.remaining -= 1
    if queued.remaining == 0:
        del queue[index]
    return queued


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
