"""GET /imodels/{id} (the doctor's access check) and GET /imodels/{id}/thumbnail."""

from __future__ import annotations

import socket

from .conftest import IMODEL, JPEG, OTHER, PNG, Client, assert_json

NOT_FOUND = {"error": {"code": "iModelNotFound", "message": "Requested iModel is not available."}}
FORBIDDEN = {
    "error": {
        "code": "InsufficientPermissions",
        "message": "The user has insufficient permissions for the requested operation.",
    }
}


def test_get_imodel(client: Client) -> None:
    expected = {"iModel": {"id": IMODEL, "displayName": "Local iModel 5e19bee0", "state": "initialized"}}
    assert_json(client.get(f"/imodels/{IMODEL.upper()}"), 200, expected)


def test_get_imodel_reports_not_initialized_without_using_attempts(client: Client) -> None:
    client.emu.state.not_initialized(IMODEL, attempts=1)
    for _ in range(2):
        assert client.get(f"/imodels/{IMODEL}").json()["iModel"]["state"] == "notInitialized"
    assert client.put().status_code == 409
    assert client.get(f"/imodels/{IMODEL}").json()["iModel"]["state"] == "initialized"


def test_get_imodel_refusals(client: Client) -> None:
    client.emu.state.forbid(IMODEL)
    client.emu.state.forget(OTHER)
    assert_json(client.get(f"/imodels/{IMODEL}"), 403, FORBIDDEN)
    assert_json(client.get(f"/imodels/{OTHER}"), 404, NOT_FOUND)
    assert_json(client.get("/imodels/nope"), 404, NOT_FOUND)
    assert client.get(f"/imodels/{IMODEL}", auth=False).json()["error"]["code"] == "HeaderNotFound"


def test_get_thumbnail_returns_the_latest_upload(client: Client) -> None:
    first, second = PNG + b"first", PNG + b"second"
    assert client.put(body=first).status_code == 201
    assert client.put(body=second).status_code == 201
    response = client.get(f"/imodels/{IMODEL}/thumbnail")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == second


def test_get_thumbnail_of_a_jpeg_upload_says_jpeg(client: Client) -> None:
    assert client.put(body=JPEG, content_type="image/jpeg").status_code == 201
    response = client.get(f"/imodels/{IMODEL}/thumbnail")
    assert (response.headers["content-type"], response.content) == ("image/jpeg", JPEG)


def test_get_thumbnail_before_any_upload(client: Client) -> None:
    expected = {"error": {"code": "ThumbnailNotFound", "message": "Requested Thumbnail is not available."}}
    assert_json(client.get(f"/imodels/{IMODEL}/thumbnail"), 404, expected)


def test_get_thumbnail_is_an_open_read_back(client: Client) -> None:
    """No token needed, and it neither uses up queued faults nor hits rate limits (the demo relies on it)."""
    assert client.put().status_code == 201
    client.emu.state.fail_next(503)
    client.emu.state.rate_limit_next(1)
    response = client.get(f"/imodels/{IMODEL}/thumbnail", auth=False)
    assert (response.status_code, response.content) == (200, PNG)
    assert client.put().status_code == 503  # the queued fault is still there for the app


def test_get_thumbnail_of_an_unknown_imodel(client: Client) -> None:
    client.emu.state.forget(OTHER)
    assert_json(client.get(f"/imodels/{OTHER}/thumbnail", auth=False), 404, NOT_FOUND)
    assert_json(client.get("/imodels/not-a-guid/thumbnail", auth=False), 404, NOT_FOUND)


def test_unknown_paths_and_methods(client: Client) -> None:
    not_found = {"error": {"code": "ResourceNotFound", "message": "The requested resource was not found."}}
    assert_json(client.get("/imodels"), 404, not_found)
    assert_json(
        client.session.post(f"{client.emu.url}/imodels/{IMODEL}/thumbnail", timeout=5),
        405,
        {"error": {"code": "MethodNotAllowed", "message": "The request method is not supported for this resource."}},
    )
    assert client.session.delete(f"{client.emu.url}/imodels/{IMODEL}", timeout=5).status_code == 405
    head = client.session.head(f"{client.emu.url}/imodels/{IMODEL}", headers=client.auth(), timeout=5)
    assert head.status_code == 405
    assert head.content == b""


def test_malformed_requests_still_get_json_and_a_correlation_id(client: Client) -> None:
    options = client.session.options(f"{client.emu.url}/imodels/{IMODEL}", timeout=5)
    assert_json(options, 501, {"error": {"code": "NotImplemented", "message": "Unsupported method ('OPTIONS')"}})
    with socket.create_connection(("127.0.0.1", client.emu.port), timeout=5) as raw:
        raw.sendall(b"PUT /imodels/x/thumbnail HTTP/9.9\r\n\r\n")
        head = raw.makefile("rb").read()
    assert head.startswith(b"HTTP/1.1 505 ")
    assert b"\r\nx-correlation-id: " in head
    assert head.endswith(b'{"error":{"code":"HTTPVersionNotSupported","message":"Invalid HTTP version (9.9)"}}')
