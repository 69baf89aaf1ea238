"""A worker process that handles one blob and is killed (SIGKILL) just before its N-th I/O request.

The kill is injected through the clients' public extension points (the storage SDK's
``raw_request_hook``, a requests transport adapter), not by patching: the process really dies mid-pipeline, holding
whatever leases and half-done moves it had, exactly as a crashed host would.

usage: python -m tests.delivery.reliability.crash_worker SETTINGS_JSON BLOB_NAME KILL_AT  (0: never)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from requests.adapters import HTTPAdapter

from shared.delivery.pipeline import build_pipeline
from shared.edges.itwin import new_session
from shared.edges.storage import blob_service
from shared.settings import load_settings


class Countdown:
    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at
        self.count = 0
        self.lock = threading.Lock()

    def tick(self) -> None:
        with self.lock:
            self.count += 1
            if self.count == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)


class KillAdapter(HTTPAdapter):
    def __init__(self, countdown: Countdown) -> None:
        super().__init__()
        self.countdown = countdown

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.countdown.tick()
        return super().send(request, *args, **kwargs)


def main() -> None:
    env, blob_name, kill_at = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    countdown = Countdown(kill_at)
    settings = load_settings(env)
    session = new_session()
    session.mount("http://", KillAdapter(countdown))
    # raw_request_hook: the storage SDK calls it just before sending each request.
    blobs = blob_service(settings.storage, raw_request_hook=lambda request: countdown.tick())
    pipeline = build_pipeline(settings, session=session, blobs=blobs, sleep=lambda seconds: None)
    container = blobs.get_container_client(settings.incoming_container)
    outcome = pipeline.process(container.get_blob_client(blob_name))
    print(json.dumps({"status": outcome.status.value, "code": outcome.code, "requests": countdown.count}))


if __name__ == "__main__":
    main()
