"""The emulator as an object: start it on loopback in a background thread, use it, close it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from devkit.emulator.config import EmulatorConfig
from devkit.emulator.server import EmulatorHTTPServer
from devkit.emulator.state import State

#: How often the serving loop checks for shutdown: bounds how long ``close()`` takes.
POLL_SECONDS = 0.02


class Emulator:
    """A local stand-in for ``api.bentley.com`` (iModels) and ``ims.bentley.com`` (tokens).

    ``with Emulator() as emu:`` serves on ``emu.url`` until the block ends.  ``clock`` drives token
    expiry, rate-limit windows and not-initialized timers, so tests can move time instead of sleeping.
    """

    def __init__(self, config: EmulatorConfig | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or EmulatorConfig()
        self.state = State(self.config, clock)
        self._stopping = threading.Event()
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:50123`` (``PUT {url}/imodels/{id}/thumbnail``)."""
        host, port = self._bound()
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/connect/token"

    @property
    def port(self) -> int:
        return self._bound()[1]

    def start(self) -> Emulator:
        """Bind (port 0: a free one) and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._stopping.clear()
        self._server = EmulatorHTTPServer((self.config.host, self.config.port), self.state, self._stopping)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_SECONDS,), name="itwin-emulator", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open connections (and pending latency waits); safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _bound(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("emulator not started")
        address = self._server.server_address
        return str(address[0]), int(address[1])
