"""Every request at the edges ends by the invocation's deadline: the token fetch, the PUT (the first
one too), the PUT after a 401, and each storage request with the SDK's own retries.

The iTwin side runs against the emulator over real HTTP with its ``stall`` knob (the real API can
hold a request up to the client's read timeout; see docs/emulator.md).  The storage side runs
against a real Azurite behind :class:`tests.devkit.slow_proxy.SlowProxy`, which holds each answer
back the way a slow storage front end does.  Where a request really waits, the deadline runs on the
real monotonic clock and the numbers are scaled down (tenths of a second, not the 30 s read timeout).
"""

from __future__ import annotations

import threading
import time

import pytest
from azure.storage.blob import BlobServiceClient
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.emulator import Emulator
from shared.core.deadline import SHORTEST_WAIT_SECONDS, Deadline
from shared.core.errors import ErrorCode, Stage, ThumbnailError
from shared.core.secret import Secret
from shared.edges import storage
from shared.edges.config import ItwinSettings, StorageConnection
from shared.edges.itwin import ItwinClient, TokenProvider, new_session, request_timeouts
from shared.settings import load_itwin_settings
from tests.conftest import Containers, FakeClock, new_imodel, png_bytes
from tests.devkit.slow_proxy import SlowProxy, blob_port, through

PNG = png_bytes(40, 30)
#: How much later than the deadline a bounded call may return on a loaded 2-core machine.
SLACK = 0.4


def client_for(env: dict[str, str], clock: FakeClock | None = None) -> ItwinClient:
    itwin = load_itwin_settings(env)
    session = new_session()
    tokens = TokenProvider(itwin, session) if clock is None else TokenProvider(itwin, session, clock=clock)
    return ItwinClient(itwin, session, tokens)


def test_no_request_starts_without_time_left(env: dict[str, str], emulator: Emulator, clock: FakeClock) -> None:
    client = client_for(env, clock)
    deadline = Deadline.after(SHORTEST_WAIT_SECONDS / 2, clock)
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/png", deadline)
    assert caught.value.code is ErrorCode.DEADLINE_REACHED
    assert caught.value.transient
    assert (emulator.state.token_requests, emulator.state.put_total) == (0, 0)


def test_a_stalled_put_ends_by_the_deadline_not_the_read_timeout(env: dict[str, str], emulator: Emulator) -> None:
    client = client_for(env)
    client.tokens.get()  # the token is cached: only the PUT is left to wait for
    emulator.state.stall_next(5.0)  # HTTP_READ_TIMEOUT_SECONDS is 30: without the deadline, 5 s
    deadline = Deadline.after(0.6, time.monotonic)
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/png", deadline)
    assert caught.value.code is ErrorCode.API_UNREACHABLE  # timed out: in doubt, retried later
    assert time.monotonic() < deadline.at + SLACK


def test_the_token_fetch_after_a_401_ends_by_the_deadline(env: dict[str, str], emulator: Emulator) -> None:
    client = client_for(env)
    client.tokens.get()
    emulator.state.revoke_tokens()  # the PUT gets 401 at once
    emulator.state.stall_next(5.0, endpoint="token")  # and the new token takes 5 s
    deadline = Deadline.after(0.6, time.monotonic)
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/png", deadline)
    assert caught.value.code is ErrorCode.TOKEN_SERVICE_UNAVAILABLE
    assert time.monotonic() < deadline.at + SLACK
    assert emulator.state.statuses[401] == 1


def test_waiting_for_another_callers_token_fetch_ends_by_the_deadline(env: dict[str, str], emulator: Emulator) -> None:
    client = client_for(env)
    emulator.state.stall_next(1.0, endpoint="token")
    first = threading.Thread(target=lambda: client.tokens.get(), daemon=True)
    first.start()  # holds the provider's lock for 1 s
    time.sleep(0.1)
    deadline = Deadline.after(0.5, time.monotonic)
    with pytest.raises(ThumbnailError) as caught:
        client.tokens.get(deadline)
    assert caught.value.code is ErrorCode.DEADLINE_REACHED
    assert caught.value.stage is Stage.AUTH
    assert time.monotonic() < deadline.at + SLACK
    first.join(timeout=5)


_TIMEOUT = st.floats(min_value=0.01, max_value=120, allow_nan=False)


@settings(derandomize=True, max_examples=80, deadline=None)
@given(left=st.floats(min_value=0, max_value=200, allow_nan=False), connect=_TIMEOUT, read=_TIMEOUT)
def test_request_timeouts_never_outlast_the_deadline(left: float, connect: float, read: float) -> None:
    clock = FakeClock()
    itwin = ItwinSettings("http://api", "http://ims", "c", Secret("s"), "scope", connect, read)
    deadline = Deadline.after(left, clock)
    if left < SHORTEST_WAIT_SECONDS:
        with pytest.raises(ThumbnailError, match="deadline"):
            request_timeouts(itwin, deadline, "send", Stage.UPLOAD)
        return
    got_connect, got_read = request_timeouts(itwin, deadline, "send", Stage.UPLOAD)
    assert 0 < got_connect <= connect
    assert 0 < got_read <= read
    assert got_connect + got_read <= left + 1e-9


# --- storage ---------------------------------------------------------------------------------------------


def proxied(env: dict[str, str], proxy: SlowProxy) -> BlobServiceClient:
    """The app's own storage client (``storage.blob_service``), pointed at the proxy."""
    connection = through(env["THUMBNAILS_STORAGE"], proxy)
    return storage.blob_service(StorageConnection(connection_string=Secret(connection)))


def test_a_slow_storage_request_ends_by_the_deadline(env: dict[str, str], containers: Containers) -> None:
    name = f"{new_imodel()}/slow.png"
    containers.incoming.upload_blob(name, PNG)
    with SlowProxy(blob_port(env["THUMBNAILS_STORAGE"]), 3.0) as proxy:
        blob = proxied(env, proxy).get_blob_client(containers.incoming.container_name, name)
        deadline = Deadline.after(0.8, time.monotonic)
        with pytest.raises(ThumbnailError) as caught:
            storage.storage_call("read properties", blob.get_blob_properties, deadline=deadline)
        ended = time.monotonic()
    # The first attempt timed out at what was left; the SDK's retry backoff did not fit: DeadlineReached.
    assert caught.value.code is ErrorCode.DEADLINE_REACHED
    assert ended < deadline.at + SLACK
    assert proxy.requests == 1


def test_no_storage_request_starts_past_the_deadline(env: dict[str, str], containers: Containers) -> None:
    with SlowProxy(blob_port(env["THUMBNAILS_STORAGE"]), 0.0) as proxy:
        blob = proxied(env, proxy).get_blob_client(containers.incoming.container_name, "x/y.png")
        clock = FakeClock()
        deadline = Deadline.after(1.0, clock)
        clock.advance(1.0)
        with storage.bounded_by(deadline), pytest.raises(ThumbnailError) as caught:
            storage.properties_or_none(blob)  # a storage helper that takes no deadline: the scope bounds it
        assert caught.value.code is ErrorCode.DEADLINE_REACHED
        assert proxy.requests == 0
        assert storage.properties_or_none(blob) is None  # outside the scope: unbounded, and answered
        assert proxy.requests == 1
