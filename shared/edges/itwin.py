"""The iTwin Platform at the edge: an IMS client-credentials token and the thumbnail PUT.

The HTTP session, the clock and the settings are handed in, so tests run this against the local
emulator over real HTTP with a fake clock.  Nothing here retries beyond the one token refresh the
contract calls for; :mod:`shared.core.retry` decides the rest.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from shared.core.deadline import Deadline
from shared.core.errors import ErrorCode, Stage, ThumbnailError
from shared.edges.api_errors import decode_body, token_error, upload_error
from shared.edges.config import ItwinSettings
from shared.edges.pace import SharedPace, Unpaced

#: The media type the contract recommends in ``Accept``.
ACCEPT = "application/vnd.bentley.itwin-platform.v2+json"

#: Bentley's own service-client library refreshes this long before ``expires_in`` runs out.
REFRESH_MARGIN_SECONDS = 60.0


def new_session(pool_size: int = 16) -> requests.Session:
    """One pooled session per process: TLS handshakes are the expensive part of a small PUT."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class TokenProvider:
    """Caches one access token per process; one caller at a time fetches a new one.

    ``invalidate(token)`` drops the cached token only if it is still the one the caller used, so
    when several uploads hit 401 at once, exactly one of them fetches the replacement.
    """

    def __init__(
        self,
        settings: ItwinSettings,
        session: requests.Session,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._settings = settings
        self._session = session
        self._clock = clock
        self._margin = refresh_margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def get(self, deadline: Deadline | None = None) -> str:
        """The cached token, or a fresh one; with a ``deadline``, waiting for another caller's fetch
        and the fetch itself both end by it (``DeadlineReached`` otherwise)."""
        what = "wait for the token another upload is fetching"
        wait = -1.0 if deadline is None else deadline.left_for(what, stage=Stage.AUTH)
        if not self._lock.acquire(timeout=wait):
            assert deadline is not None  # an unbounded acquire does not time out
            raise deadline.reached(what, stage=Stage.AUTH)
        try:
            if self._token is None or self._clock() >= self._expires_at:
                self._token, lifetime = self._fetch(deadline)
                self._expires_at = self._clock() + self._usable_for(lifetime)
            return self._token
        finally:
            self._lock.release()

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _usable_for(self, lifetime: float) -> float:
        """Refresh ``margin`` seconds early; a very short-lived token is used for half its life."""
        return lifetime - self._margin if lifetime > 2 * self._margin else lifetime / 2

    def _fetch(self, deadline: Deadline | None) -> tuple[str, float]:
        s = self._settings
        timeout = request_timeouts(s, deadline, "fetch a token", Stage.AUTH)
        try:
            response = self._session.post(
                s.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": s.client_id,
                    "client_secret": s.client_secret.reveal(),
                    "scope": s.scope,
                },
                headers={"Accept": "application/json"},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise ThumbnailError(
                ErrorCode.TOKEN_SERVICE_UNAVAILABLE,
                f"Could not reach the token endpoint {s.token_url}: {type(exc).__name__}: {str(exc)[:300]}",
                details={"exception": type(exc).__name__},
            ) from exc
        if response.status_code != 200:
            raise token_error(response.status_code, response.headers, response.content)
        body = decode_body(response.content)
        token = body.get("access_token") if isinstance(body, dict) else None
        lifetime = body.get("expires_in", 3600) if isinstance(body, dict) else 0
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise ThumbnailError(
                ErrorCode.TOKEN_SERVICE_UNAVAILABLE, "The token endpoint answered 200 without an access_token."
            )
        return token, float(lifetime)


def request_timeouts(
    settings: ItwinSettings, deadline: Deadline | None, what: str, stage: Stage
) -> tuple[float, float]:
    """``(connect, read)`` for one request: the settings' timeouts, cut to the deadline
    (:meth:`Deadline.timeouts`).

    ``requests`` applies the read timeout to each wait for bytes, not to the whole answer; a server
    that trickles its reply could outlast it, which the API does not do for its small JSON bodies.
    """
    if deadline is None:
        return settings.connect_timeout, settings.read_timeout
    return deadline.timeouts(settings.connect_timeout, settings.read_timeout, what, stage=stage)


@dataclass(frozen=True)
class UploadReceipt:
    status: int
    correlation_id: str | None
    token_refreshed: bool


class ItwinClient:
    """The two calls the app makes: upload a thumbnail, and (for ``doctor``) look up an iModel."""

    def __init__(
        self,
        settings: ItwinSettings,
        session: requests.Session,
        tokens: TokenProvider,
        pace: SharedPace | Unpaced | None = None,
    ) -> None:
        self._settings = settings
        self._session = session
        self.tokens = tokens
        self.pace = pace or Unpaced()

    def put_thumbnail(
        self, imodel_id: str, data: bytes, content_type: str, deadline: Deadline | None = None
    ) -> UploadReceipt:
        """One upload; on 401 refresh the token once and try again, then give up for good.

        With a ``deadline`` every request (token fetches, the PUT, the PUT after a 401) ends by it:
        none starts without time left, and each one's timeouts are cut to what is left.
        Each PUT waits for its slot in the client's shared pace, within ``deadline``.
        """
        url = f"{self._settings.api_url}/imodels/{imodel_id}/thumbnail"
        refreshed = False
        while True:
            token = self.tokens.get(deadline)
            send = functools.partial(
                self._send, "PUT", url, token, data=data, content_type=content_type, deadline=deadline
            )
            response = self.pace.paced(deadline, send)
            if response.status_code == 201:
                return UploadReceipt(201, response.headers.get("x-correlation-id"), refreshed)
            if response.status_code == 401 and not refreshed:
                self.tokens.invalidate(token)
                refreshed = True
                continue
            raise upload_error(response.status_code, response.headers, response.content)

    def get_imodel(self, imodel_id: str, deadline: Deadline | None = None) -> dict[str, Any]:
        """``GET /imodels/{id}``: whether the service client can see the iModel, and its state."""
        url = f"{self._settings.api_url}/imodels/{imodel_id}"
        token = self.tokens.get(deadline)
        response = self._send("GET", url, token, deadline=deadline)
        if response.status_code != 200:
            raise upload_error(response.status_code, response.headers, response.content)
        body = decode_body(response.content)
        imodel = body.get("iModel") if isinstance(body, dict) else None
        return imodel if isinstance(imodel, dict) else {}

    def _send(
        self,
        method: str,
        url: str,
        token: str,
        *,
        data: bytes | None = None,
        content_type: str | None = None,
        deadline: Deadline | None = None,
    ) -> requests.Response:
        timeout = request_timeouts(self._settings, deadline, f"send {method} {url}", Stage.UPLOAD)
        headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            return self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise ThumbnailError(
                ErrorCode.API_UNREACHABLE,
                f"{method} {url} failed: {type(exc).__name__}: {str(exc)[:300]}",
                stage=Stage.UPLOAD,
                details={"exception": type(exc).__name__},
            ) from exc
