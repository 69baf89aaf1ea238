"""A worker process that handles one blob and is killed (SIGKILL) just before its N-th I/O request.

The kill is injected through the clients' public extension points (the storage SDK's
``raw_request_hook``, a requests transport adapter), not by patching: the process really dies mid-pipeline, holding
whatever leases and half-done moves it had, exactly as a crashed host would.

usage: python -m tests.delivery.reliability.crash_worker SETTINGS_JSON BLOB_NAME KILL_AT [OPTIONS]
  KILL_AT            kill before the N-th request (0: never)
  --pause DIR        before the first thumbnail PUT, create DIR/ready and wait until DIR/go exists
  --kill-after-put   kill before the first request that follows the first thumbnail PUT's answer
  --reassert         BLOB_NAME is an iModel id: run the re-assert its queue message asks for

   or: python -m tests.delivery.reliability.crash_worker --serve
  reads one job per stdin line (JSON: [SETTINGS, BLOB_NAME, KILL_AT, OPTIONS, OUT_FILE, ERR_FILE]) and
  runs each in a process forked from this one, which has already imported the SDK and the pipeline
  (most of a fresh interpreter's cost); answers one line per job: {"returncode": ...}, negative for
  the signal that ended it (-9 for the kill), as ``subprocess`` reports it.  Each job is still its
  own process with its own clients, sockets, leases and sandbox workers, and still dies by SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from requests.adapters import HTTPAdapter

from shared.delivery.compose import build_pipeline
from shared.edges.itwin import new_session
from shared.edges.queues import queue_client
from shared.edges.storage import blob_service
from shared.settings import load_settings


class Countdown:
    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at
        self.count = 0
        self.kill_next = False
        self.lock = threading.Lock()

    def tick(self) -> None:
        with self.lock:
            self.count += 1
            if self.count == self.kill_at or self.kill_next:
                os.kill(os.getpid(), signal.SIGKILL)


class KillAdapter(HTTPAdapter):
    def __init__(self, countdown: Countdown, pause: Path | None, kill_after_put: bool) -> None:
        super().__init__()
        self.countdown = countdown
        self.pause = pause
        self.kill_after_put = kill_after_put
        self.puts = 0

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.countdown.tick()
        is_put = request.method == "PUT" and request.url.endswith("/thumbnail")
        if is_put:
            self.puts += 1
        if is_put and self.puts == 1 and self.pause is not None:
            (self.pause / "ready").touch()
            while not (self.pause / "go").exists():
                time.sleep(0.02)
        response = super().send(request, *args, **kwargs)
        if is_put and self.kill_after_put:
            self.countdown.kill_next = True
        return response


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    run(json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:])


def serve() -> None:
    """Fork one process per job read from stdin (see the module's docstring)."""
    for line in sys.stdin:
        env, blob_name, kill_at, options, out_file, err_file = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the job's process: its stdout and stderr go to the job's files
            code = 1
            try:
                for fd, path in ((1, out_file), (2, err_file)):
                    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    os.dup2(target, fd)
                    os.close(target)
                sys.stdout = os.fdopen(1, "w", closefd=False)
                sys.stderr = os.fdopen(2, "w", closefd=False)
                run(env, blob_name, int(kill_at), list(options))
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


def run(env: dict[str, str], blob_name: str, kill_at: int, options: list[str]) -> None:
    pause = Path(options[options.index("--pause") + 1]) if "--pause" in options else None
    countdown = Countdown(kill_at)
    settings = load_settings(env)
    session = new_session()
    session.mount("http://", KillAdapter(countdown, pause, "--kill-after-put" in options))
    # raw_request_hook: the storage SDK calls it just before sending each request.
    blobs = blob_service(settings.storage, raw_request_hook=lambda request: countdown.tick())
    # Waits are real but short: a worker waiting for another's lease polls every 50 ms.
    queue = queue_client(settings.storage, settings.reassert_queue, raw_request_hook=lambda request: countdown.tick())
    pipeline = build_pipeline(
        settings, session=session, blobs=blobs, queue=queue, sleep=lambda seconds: time.sleep(0.05)
    )
    if "--reassert" in options:
        outcome = pipeline.reassert(blob_name)
    else:
        container = blobs.get_container_client(settings.incoming_container)
        outcome = pipeline.process(container.get_blob_client(blob_name))
    print(json.dumps({"status": outcome.status.value, "code": outcome.code, "requests": countdown.count}))


if __name__ == "__main__":
    main()
