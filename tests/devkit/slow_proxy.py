"""A TCP proxy that holds back the start of every answer: slow storage, in front of a real Azurite.

Azure Storage may take far longer than usual to answer: the service allows a Get Blob two minutes
per MiB and a Put Blob ten minutes per MiB before its own server timeout ends it ("Setting timeouts
for Blob service operations", learn.microsoft.com/rest/api/storageservices/setting-timeouts-for-blob-
service-operations), and the Python SDK then retries (``StorageRetryPolicy.send`` in
azure-storage-blob's ``_shared/policies.py``: ``retry_total`` attempts, each bounded only by the
transport's ``connection_timeout``/``read_timeout``).  Azurite answers in milliseconds, so this
proxy reproduces the slow service at the socket: each answer's first bytes are held ``delay`` seconds
(real time), the bytes themselves are Azurite's, unchanged.  A client that gives up closes its
connection; the proxy then closes its side to Azurite, as a load balancer does.

``requests`` counts what reached Azurite, so a test can also show that nothing was sent.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from types import TracebackType


def blob_port(connection_string: str) -> int:
    """The blob port of an Azurite connection string (``BlobEndpoint=http://127.0.0.1:PORT/...``)."""
    found = re.search(r"BlobEndpoint=http://127\.0\.0\.1:(\d+)/", connection_string)
    if found is None:
        raise ValueError("not a loopback Azurite connection string")
    return int(found.group(1))


def through(connection_string: str, proxy: SlowProxy) -> str:
    """The same connection string with its blob endpoint on the proxy."""
    port = blob_port(connection_string)
    return connection_string.replace(f"127.0.0.1:{port}/", f"127.0.0.1:{proxy.port}/")


class SlowProxy:
    """``with SlowProxy(upstream_port, delay=0.5) as proxy:`` then talk to ``proxy.port``."""

    def __init__(self, upstream_port: int, delay: float) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.delay = delay
        self.requests = 0  # request starts forwarded to the upstream
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: set[socket.socket] = set()
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, name="slow-proxy", daemon=True)

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and cut every open connection (held answers are never sent)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            awaiting = threading.Event()  # set by a request, cleared when its answer starts
            threading.Thread(target=self._pump_requests, args=(client, upstream, awaiting), daemon=True).start()
            threading.Thread(target=self._pump_answers, args=(upstream, client, awaiting), daemon=True).start()

    def _pump_requests(self, client: socket.socket, upstream: socket.socket, awaiting: threading.Event) -> None:
        try:
            while chunk := client.recv(65536):
                if not awaiting.is_set():
                    with self._lock:
                        self.requests += 1
                    awaiting.set()
                upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def _pump_answers(self, upstream: socket.socket, client: socket.socket, awaiting: threading.Event) -> None:
        try:
            while chunk := upstream.recv(65536):
                if awaiting.is_set():
                    awaiting.clear()
                    end = time.monotonic() + self.delay
                    while (left := end - time.monotonic()) > 0:
                        if self._stopping.wait(min(left, 0.05)):
                            return
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def _close(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._sockets.discard(sock)
