"""The token provider and the thumbnail client against the emulator, over real HTTP."""

import threading

import pytest

from shared.core.errors import ErrorCode, ThumbnailError
from shared.edges.itwin import ACCEPT, ItwinClient, TokenProvider, new_session
from shared.settings import load_itwin_settings
from tests.conftest import new_imodel, png_bytes

PNG = png_bytes(80, 50)


@pytest.fixture
def client(env, clock):
    settings = load_itwin_settings(env)
    session = new_session()
    return ItwinClient(settings, session, TokenProvider(settings, session, clock=clock))


def test_201_stores_the_bytes_and_returns_the_correlation_id(client, emulator):
    imodel = new_imodel()
    receipt = client.put_thumbnail(imodel, PNG, "image/png")
    assert receipt.status == 201
    upload = emulator.state.uploads[imodel][-1]
    assert upload.data == PNG
    assert upload.content_type == "image/png"
    assert upload.accept == ACCEPT
    assert receipt.correlation_id == upload.correlation_id


def test_the_token_is_cached_until_shortly_before_it_expires(client, emulator, clock):
    for _ in range(5):
        client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert emulator.state.token_requests == 1
    clock.advance(3600 - 61)
    client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert emulator.state.token_requests == 1
    clock.advance(2)  # now inside the 60 s margin
    client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert emulator.state.token_requests == 2


def test_concurrent_callers_share_one_token_request(client, emulator):
    barrier = threading.Barrier(8)

    def upload():
        barrier.wait()
        client.put_thumbnail(new_imodel(), PNG, "image/png")

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert emulator.state.token_requests == 1
    assert emulator.state.put_total == 8


def test_a_revoked_token_is_refreshed_exactly_once(client, emulator):
    client.put_thumbnail(new_imodel(), PNG, "image/png")
    emulator.state.revoke_tokens()
    receipt = client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert receipt.status == 201
    assert receipt.token_refreshed
    assert emulator.state.token_requests == 2
    assert emulator.state.statuses[401] == 1


def test_a_second_401_is_permanent(env, emulator, clock):
    settings = load_itwin_settings(env)
    session = new_session()

    class NeverValid(TokenProvider):
        def get(self, deadline=None):
            super().get(deadline)
            return "not-a-token-the-emulator-issued"

    client = ItwinClient(settings, session, NeverValid(settings, session, clock=clock))
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert caught.value.code is ErrorCode.UNAUTHORIZED
    assert not caught.value.transient
    assert emulator.state.statuses[401] == 2


@pytest.mark.parametrize(
    ("arrange", "code", "status"),
    [
        (lambda s, i: s.forbid(i), ErrorCode.INSUFFICIENT_PERMISSIONS, 403),
        (lambda s, i: s.forget(i), ErrorCode.IMODEL_NOT_FOUND, 404),
        (lambda s, i: s.not_initialized(i), ErrorCode.IMODEL_NOT_INITIALIZED, 409),
        (lambda s, i: s.rate_limit_next(1, retry_after=4), ErrorCode.TOO_MANY_REQUESTS, 429),
        (lambda s, i: s.fail_next(503), ErrorCode.API_SERVER_ERROR, 503),
        (lambda s, i: s.fail_next(500), ErrorCode.API_SERVER_ERROR, 500),
    ],
)
def test_each_refusal_carries_status_body_and_correlation_id(client, emulator, arrange, code, status):
    imodel = new_imodel()
    arrange(emulator.state, imodel)
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(imodel, PNG, "image/png")
    error = caught.value
    assert error.code is code
    assert error.api is not None
    assert error.api.status == status
    assert error.api.correlation_id
    if status != 500 and status != 503:
        assert error.api.body["error"]["code"] == code.value
    if status == 429:
        assert error.api.retry_after == 4


def test_413_for_a_body_over_the_api_limit(client):
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG + b"\0" * 5_242_880, "image/png")
    assert caught.value.code is ErrorCode.REQUEST_TOO_LARGE
    assert caught.value.api.body == {
        "error": {
            "code": "RequestTooLarge",
            "message": "Request body is too large. Maximum allowed request body size is 5242880 bytes.",
        }
    }


def test_422_for_a_type_the_api_does_not_take(client):
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/gif")
    assert caught.value.code is ErrorCode.INVALID_IMODELS_REQUEST
    assert caught.value.api.body["error"]["details"][0]["code"] == "InvalidHeaderValue"


def test_a_dropped_connection_is_transient(client, emulator):
    emulator.state.drop_next(1)
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert caught.value.code is ErrorCode.API_UNREACHABLE
    assert caught.value.transient


def test_wrong_client_secret_is_a_permanent_auth_error(env, clock):
    settings = load_itwin_settings({**env, "ITWIN_CLIENT_SECRET": "wrong"})
    session = new_session()
    client = ItwinClient(settings, session, TokenProvider(settings, session, clock=clock))
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert caught.value.code is ErrorCode.TOKEN_REQUEST_REJECTED
    assert caught.value.api.body == {"error": "invalid_client"}
    assert "wrong" not in caught.value.message


def test_token_endpoint_outage_is_transient(client, emulator):
    emulator.state.fail_next_token(1, status=503)
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert caught.value.code is ErrorCode.TOKEN_SERVICE_UNAVAILABLE
    assert caught.value.transient


def test_get_imodel_reports_state(client, emulator):
    imodel = new_imodel()
    assert client.get_imodel(imodel)["state"] == "initialized"
    emulator.state.not_initialized(imodel)
    assert client.get_imodel(imodel)["state"] == "notInitialized"


def test_an_unreachable_api_keeps_the_connection_error_as_its_cause(env, clock):
    import requests

    settings = load_itwin_settings({**env, "ITWIN_API_URL": "http://127.0.0.1:9"})
    session = new_session()
    client = ItwinClient(settings, session, TokenProvider(settings, session, clock=clock))
    with pytest.raises(ThumbnailError) as caught:
        client.put_thumbnail(new_imodel(), PNG, "image/png")
    assert caught.value.code is ErrorCode.API_UNREACHABLE
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert "ConnectionError" in caught.value.message
