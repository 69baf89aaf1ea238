"""HTTP plumbing: read a request off the socket, route it, write the decided :class:`Reply`.

Standard library only (``http.server``), HTTP/1.1 with keep-alive, one thread per connection.  Every
response carries a fresh ``x-correlation-id``, as the real API does.  The decisions live in
``ims``/``imodels``/``admin``; this module only moves bytes, applies ``latency`` and drops connections.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import sys
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import devkit.emulator.admin as admin
import devkit.emulator.contract as contract
import devkit.emulator.imodels as imodels
import devkit.emulator.ims as ims
from devkit.emulator.contract import Reply, json_reply
from devkit.emulator.request import Request
from devkit.emulator.state import State

#: Bytes of a body kept for the handlers: one more than the limit is enough to tell "too large".
KEEP_BYTES = contract.MAX_THUMBNAIL_BYTES + 1
#: A body is read (and discarded beyond KEEP_BYTES) up to this size so the client sees the answer on a
#: healthy connection; past it the emulator answers and closes the connection instead.
DRAIN_LIMIT = 64 * 1024 * 1024

_THUMBNAIL = re.compile(r"/imodels/([^/]+)/thumbnail")
_IMODEL = re.compile(r"/imodels/([^/]+)")


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its open connections, so closing the emulator really closes them
    (a pooled keep-alive connection must not keep talking to a stopped emulator)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: State, stopping: threading.Event) -> None:
        self.state = state
        self.stopping = stopping
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, dropped tests) is normal here; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iTwinEmulator/1.0"
    #: Idle keep-alive connections are closed after this many seconds.
    timeout = 120
    #: Headers and body go out in separate writes; without this, Nagle + delayed ACK adds ~40 ms each.
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.config.log_requests:
            super().log_message(format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, huge headers) still get a JSON body and a correlation id."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the request line did not parse: answer in HTTP/1.1 anyway
            self.request_version = self.protocol_version
        phrase = HTTPStatus(code).phrase
        body = {"error": {"code": phrase.replace(" ", ""), "message": message or phrase}}
        self._write(json_reply(code, body), str(uuid.uuid4()))

    def _serve(self) -> None:
        correlation_id = str(uuid.uuid4())
        state = self.server.state
        headers = {name.lower(): value for name, value in reversed(self.headers.items())}
        body, body_length = self._read_body(headers)
        path = urlsplit(self.path).path
        if path.startswith(admin.PREFIX):
            with state.lock:
                reply = admin.handle(state, self.command, path, body)
            self._write(reply, correlation_id)
            return
        request = Request(self.command, path, correlation_id, headers, body, body_length)
        if not self._hold(state, request):
            self.close_connection = True
            return
        latency = state.latency
        if latency > 0 and self.server.stopping.wait(latency):
            self.close_connection = True
            return  # the emulator is shutting down: do not answer
        with state.lock:
            reply = route(state, request)
            if reply.drop:
                state.record_drop()
            else:
                state.record_status(reply.status)
        if reply.drop:
            self.close_connection = True
            return
        self._write(reply, correlation_id)

    def _hold(self, state: State, request: Request) -> bool:
        """Apply a queued stall or late apply (see ``holds``); False if the request is not to be handled."""
        is_put = request.method == "PUT" and _THUMBNAIL.fullmatch(request.path) is not None
        with state.lock:
            hold = state.take_hold(is_token=request.path == "/connect/token", is_put=is_put)
        if hold is None:
            return True
        if self.server.stopping.wait(hold.seconds):
            return False  # the emulator is shutting down: nothing is applied
        if hold.apply_if_gone:
            with state.lock:
                state.record_late_applied()
            return True
        if self._client_gone():
            with state.lock:
                state.record_abandoned()
            return False
        return True

    def _client_gone(self) -> bool:
        """True if the client closed its end (a read timeout in requests/urllib3 closes the socket)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:  # reset by the peer
            return True

    # Every method goes through the same routing; the router answers 405 where a method does not apply.
    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve

    def _write(self, reply: Reply, correlation_id: str) -> None:
        self.send_response(reply.status)
        self.send_header("x-correlation-id", correlation_id)
        if reply.content_type is not None:
            self.send_header("content-type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    def _read_body(self, headers: dict[str, str]) -> tuple[bytes, int]:
        """The first KEEP_BYTES of the body and its full length (Content-Length or chunked)."""
        kept = bytearray()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            total = self._read_chunked(kept)
            return bytes(kept), total
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return b"", 0
        if length > DRAIN_LIMIT:
            self.close_connection = True  # answer without reading the rest
            self._consume(KEEP_BYTES, kept)
        else:
            self._consume(length, kept)
        return bytes(kept), length

    def _read_chunked(self, kept: bytearray) -> int:
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self.close_connection = True
                return total
            if size == 0:
                while self.rfile.readline(8192).strip():
                    pass  # trailers
                return total
            if total + size > DRAIN_LIMIT:
                self.close_connection = True
                return total + size
            total += self._consume(size, kept)
            self.rfile.readline(8)  # the CRLF after the chunk

    def _consume(self, count: int, kept: bytearray) -> int:
        """Read ``count`` bytes, keeping them in ``kept`` up to KEEP_BYTES; returns how many were read."""
        read = 0
        while read < count:
            chunk = self.rfile.read(min(count - read, 1 << 16))
            if not chunk:
                self.close_connection = True
                break
            read += len(chunk)
            room = KEEP_BYTES - len(kept)
            if room > 0:
                kept += chunk[:room]
        return read


def route(state: State, request: Request) -> Reply:
    """Pick the token or API handler for a (non-admin) request; the caller holds ``state.lock``."""
    method, path = request.method, request.path
    if path == "/connect/token":
        return ims.token(state, request) if method == "POST" else json_reply(405, contract.METHOD_NOT_ALLOWED)
    match = _THUMBNAIL.fullmatch(path)
    if match:
        imodel_id = unquote(match.group(1))
        if method == "PUT":
            return imodels.put_thumbnail(state, request, imodel_id)
        if method == "GET":
            return imodels.get_thumbnail(state, request, imodel_id)
        return json_reply(405, contract.METHOD_NOT_ALLOWED)
    match = _IMODEL.fullmatch(path)
    if match:
        if method == "GET":
            return imodels.get_imodel(state, request, unquote(match.group(1)))
        return json_reply(405, contract.METHOD_NOT_ALLOWED)
    return json_reply(404, contract.RESOURCE_NOT_FOUND)
