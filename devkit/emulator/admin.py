"""The ``/_emulator/...`` admin endpoints: the knobs of :class:`State` over HTTP.

They let a test or a CLI in another process drive a running emulator.  Each ``POST /_emulator/{knob}``
takes a JSON object whose keys are the Python method's parameter names and answers 204; ``GET
/_emulator/state`` answers the JSON summary.  Admin requests are not counted, delayed or faulted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devkit.emulator.contract import Reply, json_reply
from devkit.emulator.state import State

_Body = dict[str, Any]

PREFIX = "/_emulator/"


class AdminError(ValueError):
    """A bad admin request: answered 400 with the message."""


def handle(state: State, method: str, path: str, body: bytes) -> Reply:
    name = path.removeprefix(PREFIX).strip("/")
    if name == "state":
        if method != "GET":
            return _error(405, "MethodNotAllowed", "Use GET /_emulator/state.")
        return json_reply(200, state.summary())
    entry = ACTIONS.get(name)
    if entry is None:
        return _error(404, "UnknownEmulatorEndpoint", f"No admin endpoint {path!r}; see GET /_emulator/state.")
    if method != "POST":
        return _error(405, "MethodNotAllowed", f"Use POST {path}.")
    keys, action = entry
    try:
        parsed = _parse(body)
        unexpected = sorted(set(parsed) - keys)
        if unexpected:
            raise AdminError(f"unexpected keys {unexpected}; {name} takes {sorted(keys)}")
        action(state, parsed)
    except ValueError as error:  # AdminError, or a knob refusing its value
        return _error(400, "InvalidEmulatorRequest", str(error))
    return Reply(status=204)


def _parse(body: bytes) -> _Body:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AdminError(f"body is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise AdminError("body must be a JSON object")
    return parsed


def _refuse_constant(name: str) -> float:
    """``Infinity``, ``-Infinity`` and ``NaN`` are not JSON, though Python's parser takes them; no knob
    has a use for them (``latency: Infinity`` would break every later request)."""
    raise AdminError(f"{name} is not a number the emulator accepts: use a finite value")


def _error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": message}})


def _get(body: _Body, name: str, kind: type[Any], default: Any = None, *, required: bool = False) -> Any:
    """Field ``name`` of type ``kind`` (an int is fine where a float is asked), or ``default``."""
    if name not in body or body[name] is None:
        if required:
            raise AdminError(f"{name!r} is required")
        return default
    value = body[name]
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise AdminError(f"{name!r} must be {kind.__name__}, got {value!r}")
    return value


def _id(body: _Body) -> str:
    value: str = _get(body, "id", str, required=True)
    return value


_Action = Callable[[State, _Body], object]

#: The slow failure modes (``holds``): stall and late apply.
HOLD_ACTIONS: dict[str, tuple[frozenset[str], _Action]] = {
    "stall-next": (
        frozenset({"seconds", "count", "endpoint"}),
        lambda state, body: state.stall_next(
            _get(body, "seconds", float, required=True),
            count=_get(body, "count", int, 1),
            endpoint=_get(body, "endpoint", str, "api"),
        ),
    ),
    "late-apply-next": (
        frozenset({"seconds", "count"}),
        lambda state, body: state.late_apply_next(
            _get(body, "seconds", float, required=True), count=_get(body, "count", int, 1)
        ),
    ),
}

#: knob -> (the JSON keys it takes, what it does).  Keys are the Python parameter names.
ACTIONS: dict[str, tuple[frozenset[str], _Action]] = {
    "reset": (frozenset(), lambda state, body: state.reset()),
    "forbid": (frozenset({"id"}), lambda state, body: state.forbid(_id(body))),
    "forget": (frozenset({"id"}), lambda state, body: state.forget(_id(body))),
    "allow": (frozenset({"id"}), lambda state, body: state.allow(_id(body))),
    "not-initialized": (
        frozenset({"id", "attempts", "seconds"}),
        lambda state, body: state.not_initialized(
            _id(body), attempts=_get(body, "attempts", int), seconds=_get(body, "seconds", float)
        ),
    ),
    "fail-next": (
        frozenset({"status", "count", "retry_after"}),
        lambda state, body: state.fail_next(
            _get(body, "status", int, required=True),
            count=_get(body, "count", int, 1),
            retry_after=_get(body, "retry_after", int),
        ),
    ),
    "drop-next": (frozenset({"count"}), lambda state, body: state.drop_next(count=_get(body, "count", int, 1))),
    "rate-limit-next": (
        frozenset({"count", "retry_after"}),
        lambda state, body: state.rate_limit_next(
            count=_get(body, "count", int, 1), retry_after=_get(body, "retry_after", int, 1)
        ),
    ),
    "rate-limit": (frozenset({"per_minute"}), lambda state, body: state.set_rate_limit(_get(body, "per_minute", int))),
    "tier": (
        frozenset({"name", "per_hour"}),
        lambda state, body: state.set_tier(_get(body, "name", str), per_hour=_get(body, "per_hour", int)),
    ),
    "fail-rates": (
        frozenset({"p503", "p429", "seed"}),
        lambda state, body: state.set_fail_rates(
            p503=_get(body, "p503", float, 0.0), p429=_get(body, "p429", float, 0.0), seed=_get(body, "seed", int)
        ),
    ),
    "latency": (
        frozenset({"seconds"}),
        lambda state, body: state.set_latency(_get(body, "seconds", float, required=True)),
    ),
    "fail-next-token": (
        frozenset({"count", "status"}),
        lambda state, body: state.fail_next_token(
            count=_get(body, "count", int, 1), status=_get(body, "status", int, 503)
        ),
    ),
    "revoke-tokens": (frozenset(), lambda state, body: state.revoke_tokens()),
    **HOLD_ACTIONS,
}
