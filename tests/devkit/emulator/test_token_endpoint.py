"""POST /connect/token behaves like IMS (IdentityServer) for the client-credentials grant."""

from __future__ import annotations

import base64

import pytest

from devkit.emulator import EmulatorConfig

from .conftest import Client, assert_json


def test_issues_a_bearer_token(client: Client) -> None:
    response = client.token_response()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "scope"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "itwin-platform"
    assert len(body["access_token"]) >= 32
    assert client.token() != body["access_token"]  # opaque and random: a new one each time
    assert client.emu.state.tokens_issued == 2


@pytest.mark.parametrize("config", [EmulatorConfig(token_ttl_seconds=120)])
def test_token_lifetime_is_configurable(client: Client) -> None:
    assert client.token_response().json()["expires_in"] == 120


@pytest.mark.parametrize(
    "form",
    [{"client_id": "someone-else"}, {"client_secret": "wrong"}, {"client_id": ""}, {"client_secret": ""}],
    ids=["unknown client", "wrong secret", "no client id", "no secret"],
)
def test_bad_client_credentials_are_invalid_client(client: Client, form: dict[str, str]) -> None:
    assert_json(client.token_response(**form), 400, {"error": "invalid_client"})


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", ""])
def test_other_grants_are_unsupported(client: Client, grant_type: str) -> None:
    assert_json(client.token_response(grant_type=grant_type), 400, {"error": "unsupported_grant_type"})


@pytest.mark.parametrize("scope", ["imodels:modify", "itwin-platform offline_access", ""])
def test_other_scopes_are_invalid(client: Client, scope: str) -> None:
    assert_json(client.token_response(scope=scope), 400, {"error": "invalid_scope"})


def test_client_is_checked_before_grant_and_scope(client: Client) -> None:
    response = client.token_response(client_secret="wrong", grant_type="password", scope="other")
    assert response.json() == {"error": "invalid_client"}
    assert client.token_response(grant_type="password", scope="other").json() == {"error": "unsupported_grant_type"}


def test_form_encoding_is_required(client: Client) -> None:
    response = client.session.post(
        client.emu.token_url,
        json={"grant_type": "client_credentials", "client_id": "local-client", "client_secret": "local-secret"},
        timeout=5,
    )
    assert_json(response, 400, {"error": "invalid_request"})


def test_repeated_parameters_are_invalid_request(client: Client) -> None:
    body = (
        "grant_type=client_credentials&client_id=local-client&client_id=x"
        "&client_secret=local-secret&scope=itwin-platform"
    )
    response = client.session.post(
        client.emu.token_url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5
    )
    assert_json(response, 400, {"error": "invalid_request"})


def test_http_basic_client_authentication(client: Client) -> None:
    basic = base64.b64encode(b"local-client:local-secret").decode()
    response = client.session.post(
        client.emu.token_url,
        data={"grant_type": "client_credentials", "scope": "itwin-platform"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=5,
    )
    assert response.status_code == 200
    wrong = base64.b64encode(b"local-client:nope").decode()
    response = client.session.post(
        client.emu.token_url,
        data={"grant_type": "client_credentials", "scope": "itwin-platform"},
        headers={"Authorization": f"Basic {wrong}"},
        timeout=5,
    )
    assert_json(response, 400, {"error": "invalid_client"})


@pytest.mark.parametrize("config", [EmulatorConfig(clients={"app": "s3cret", "ci": "other"})])
def test_configured_clients_replace_the_default(client: Client) -> None:
    assert client.token_response(client_id="app", client_secret="s3cret").status_code == 200
    assert client.token_response(client_id="ci", client_secret="other").status_code == 200
    assert client.token_response().json() == {"error": "invalid_client"}


def test_get_is_not_allowed(client: Client) -> None:
    response = client.session.get(client.emu.token_url, timeout=5)
    assert_json(
        response,
        405,
        {"error": {"code": "MethodNotAllowed", "message": "The request method is not supported for this resource."}},
    )


def test_token_requests_are_counted(client: Client) -> None:
    client.token()
    client.token_response(client_secret="wrong")
    assert client.emu.state.token_requests == 2
    assert client.emu.state.statuses == {200: 1, 400: 1}
