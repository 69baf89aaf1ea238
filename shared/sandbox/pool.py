"""The host side: a pool of pre-started workers behind the ``ImageStage`` seam.

Workers are separate interpreters started with ``subprocess`` (fork and exec, or ``posix_spawn``),
never a bare ``fork`` of the host: the Functions host runs threads, and a forked copy of a threaded
process may inherit a lock some other thread held.  Each worker imports Pillow once and then serves
jobs one at a time; a job takes an idle worker, or waits for one (so ``workers`` also bounds how
many images are decoded at once), after being admitted to the per-process memory budget.

Limits: the address space is set by the worker itself (see :mod:`shared.sandbox.worker`); the
wall-clock limit is a timer here that kills the worker.  A worker that is killed, dies by a signal,
exits, or asks to retire is replaced by a fresh one; the job it was running fails with
``ImageTooComplex``, and nothing else is disturbed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from shared.core.deadline import SHORTEST_WAIT_SECONDS, Deadline
from shared.core.errors import ErrorCode, Stage, ThumbnailError
from shared.imaging.admission import MemoryBudget, admitted_by, estimate_decode_bytes
from shared.imaging.failures import image_error
from shared.imaging.limits import ImageLimits
from shared.imaging.models import ImageInfo, Thumbnail
from shared.imaging.stage import InProcessImages
from shared.sandbox.config import SandboxSettings
from shared.sandbox.frames import (
    ChannelClosedError,
    error_from_json,
    info_from_json,
    info_to_json,
    read_header,
    read_payload,
    thumbnail_from_json,
    write_frame,
)
from shared.sandbox.spawn import WORKER_COMMAND, start_worker

#: How long a fresh worker may take to import Pillow and say it is ready (not part of any job's
#: time limit: a busy machine can take seconds to start an interpreter).
STARTUP_SECONDS = 60.0

#: How long a worker whose channel closed may take to exit by itself before it is killed.
EXIT_GRACE_SECONDS = 2.0


class WorkerLostError(Exception):
    """The worker did not answer: it was killed at the time limit, died, or broke the protocol."""

    def __init__(self, why: str, *, timed_out: bool, returncode: int | None) -> None:
        super().__init__(why)
        self.timed_out = timed_out
        self.returncode = returncode


class Worker:
    """One worker process and its two pipes: started here, or adopted when ``process`` was started
    earlier by ``spawn.start_worker``."""

    def __init__(self, command: Sequence[str], process: subprocess.Popen[bytes] | None = None) -> None:
        self.process = process if process is not None else start_worker(command)
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._to: IO[bytes] = self.process.stdin
        self._from: IO[bytes] = self.process.stdout
        self._ready = False
        self._killed = threading.Event()
        self.jobs = 0
        #: The blob this worker kept from its last (successful) probe, so the normalize that follows
        #: need not send it again; held only until this worker's next job.
        self.holds: bytes | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> None:
        """Block until the worker has imported everything (once; later calls return at once)."""
        if self._ready:
            return
        timer = threading.Timer(STARTUP_SECONDS, self.kill)
        timer.start()
        try:
            hello = read_header(self._from)
        except (ChannelClosedError, ValueError) as exc:
            raise WorkerLostError(f"the worker did not start: {exc}", timed_out=False, returncode=self._reap()) from exc
        finally:
            timer.cancel()
        if not hello.get("ready"):
            raise WorkerLostError("the worker did not start", timed_out=False, returncode=self._reap())
        self._ready = True

    def call(self, header: dict[str, Any], data: bytes, timeout: float) -> tuple[dict[str, Any], bytes]:
        """Send one job and wait for its reply; WorkerLostError if none comes within ``timeout`` seconds."""
        self.wait_ready()
        self.jobs += 1
        timer = threading.Timer(timeout, self._time_out)
        timer.start()
        try:
            write_frame(self._to, header, data)
            reply = read_header(self._from)
            payload = read_payload(self._from, reply)
        except (ChannelClosedError, OSError, ValueError) as exc:
            timed_out = self._killed.is_set()
            why = f"no answer within {timeout:g} s" if timed_out else f"the worker stopped: {exc}"
            raise WorkerLostError(why, timed_out=timed_out, returncode=self._reap()) from exc
        finally:
            timer.cancel()
        return reply, payload

    def _time_out(self) -> None:
        self._killed.set()
        self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    def _reap(self) -> int | None:
        """The worker's exit status, killing it if it has not exited by itself within a grace
        period: a worker whose channel closed is usually exiting (a traceback takes milliseconds
        to print), and killing it then would report the host's SIGKILL instead of its own exit."""
        if not self._killed.is_set():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=EXIT_GRACE_SECONDS)
        self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        return self.process.returncode

    def close(self) -> None:
        """Close the pipe (the worker exits at end of input); kill it if it does not."""
        with contextlib.suppress(OSError):
            self._to.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._reap()
        with contextlib.suppress(OSError):
            self._from.close()


@dataclasses.dataclass
class SandboxedImages:
    """The image stage, decoding in worker processes under time and memory limits.

    Thread-safe: the Functions host calls it from several invocations at once.  ``command`` is the
    worker's command line (tests start a worker with extra operations; production never changes it).
    ``on_job`` receives each job's figures as the worker reported them (``op``, ``seconds``,
    ``peak_rss`` of the worker during the job, the address-space ``limit``; for a worker that was
    lost, ``lost`` and no peak), for the benchmark and for logs.  ``started``: worker processes
    already started by ``spawn.start_worker`` with ``command`` (the CLI starts one before its own
    imports); they are the first of the ``workers``.
    """

    limits: ImageLimits
    sandbox: SandboxSettings
    command: Sequence[str] = WORKER_COMMAND
    on_job: Callable[[dict[str, Any]], None] | None = None
    started: Sequence[subprocess.Popen[bytes]] = ()
    budget: MemoryBudget = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        if self.sandbox.workers < 1:
            raise ValueError(f"a sandbox needs at least one worker, got {self.sandbox.workers}")
        self.budget = MemoryBudget(self.limits.memory_budget_bytes)
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._closed = False
        self.replaced = 0
        if len(self.started) > self.sandbox.workers:
            raise ValueError(f"{len(self.started)} workers started for a sandbox of {self.sandbox.workers}")
        for process in self.started:
            self._give(self._start(process))
        for _ in range(self.sandbox.workers - len(self.started)):
            self._give(self._start())

    # -- the ImageStage protocol ---------------------------------------------------------------------

    def probe(self, data: bytes, deadline: Deadline | None = None) -> ImageInfo:
        header = {"op": "probe", "grant": self.sandbox.probe_allowance_bytes}
        reply, _png = self._run(header, data, None, deadline)
        return info_from_json(reply["info"])

    def normalize(self, data: bytes, info: ImageInfo, deadline: Deadline | None = None) -> Thumbnail:
        """Admitted against the memory budget, then run in a worker.  With a ``deadline``, each wait
        (memory, a free worker) ends early enough for the job's own time limit to fit before it."""
        estimate = estimate_decode_bytes(info)
        # Never more than the cap: probe refused anything whose estimate is over it.
        grant = min(estimate + estimate // 4 + self.sandbox.memory_margin_bytes, self.limits.decode_cap_bytes)
        with admitted_by(self.budget, estimate, deadline, keep=self.sandbox.timeout_seconds):
            header = {"op": "normalize", "info": info_to_json(info), "grant": grant}
            reply, png = self._run(header, data, info, deadline)
        return thumbnail_from_json(reply["thumbnail"], png)

    # -- the pool ------------------------------------------------------------------------------------

    def call(
        self, header: dict[str, Any], data: bytes, info: ImageInfo | None = None, deadline: Deadline | None = None
    ) -> dict[str, Any]:
        """Run any job the worker knows (``probe``/``normalize``; tests add their own)."""
        reply, _png = self._run(header, data, info, deadline)
        return reply

    def _run(
        self, header: dict[str, Any], data: bytes, info: ImageInfo | None, deadline: Deadline | None = None
    ) -> tuple[dict[str, Any], bytes]:
        if self._closed:
            raise RuntimeError("the image sandbox is closed")
        header = {**header, "limits": dataclasses.asdict(self.limits)}
        worker = self._take(data, deadline)
        healthy = False
        try:
            worker.wait_ready()
        except WorkerLostError as lost:
            self._give(self._replace(worker))
            raise ThumbnailError(
                ErrorCode.INTERNAL_ERROR, f"no image worker could be started: {lost}", details={"bytes": len(data)}
            ) from lost
        started = time.perf_counter()
        reuse = header["op"] == "normalize" and worker.holds is data
        worker.holds = None
        try:
            if reuse:  # the worker kept these bytes from the probe: only the header travels
                reply, png = worker.call({**header, "reuse": True}, b"", self.sandbox.timeout_seconds)
            else:
                reply, png = worker.call(header, data, self.sandbox.timeout_seconds)
            healthy = not reply.get("retire")
            if header["op"] == "probe" and "info" in reply:
                worker.holds = data
        except WorkerLostError as lost:
            self._report({"op": header["op"], "seconds": time.perf_counter() - started, "lost": str(lost)})
            raise self._lost_error(lost, header, data, info, time.perf_counter() - started) from lost
        finally:
            self._give(worker if healthy else self._replace(worker))
        figures = {key: reply.get(key) for key in ("seconds", "limit", "peak", "peak_rss", "rss_before", "reused")}
        self._report(figures | {"op": header["op"]})
        if "error" in reply:
            raise error_from_json(reply["error"])
        if "unexpected" in reply:
            raise ThumbnailError(
                ErrorCode.INTERNAL_ERROR,
                f"the image worker failed unexpectedly: {reply['unexpected']}",
                details={**(info.as_dict() if info else {}), "bytes": len(data)},
            )
        return reply, png

    def _report(self, figures: dict[str, Any]) -> None:
        if self.on_job is not None:
            self.on_job(figures)

    def _lost_error(
        self, lost: WorkerLostError, header: dict[str, Any], data: bytes, info: ImageInfo | None, seconds: float
    ) -> ThumbnailError:
        """``ImageTooComplex`` naming the limit: time, or the signal (or exit) that ended the worker."""
        op = header["op"]
        known: dict[str, Any] = {"seconds": round(seconds, 3), "bytes": len(data), "operation": op}
        if lost.timed_out:
            return image_error(
                ErrorCode.IMAGE_TOO_COMPLEX,
                f"{op} did not finish within the {self.sandbox.timeout_seconds:g} s time limit (IMAGE_TIMEOUT_SECONDS)",
                info,
                limit="time",
                timeout_seconds=self.sandbox.timeout_seconds,
                **known,
            )
        code = lost.returncode
        if code is not None and code < 0:
            name = _signal_name(-code)
            return image_error(
                ErrorCode.IMAGE_TOO_COMPLEX,
                f"the decoder was killed by {name} during {op} after {seconds:.1f} s "
                f"(address-space grant {int(header['grant']) // 2**20:,} MiB)",
                info,
                limit="signal",
                signal=name,
                memory_grant_bytes=int(header["grant"]),
                **known,
            )
        return image_error(
            ErrorCode.IMAGE_TOO_COMPLEX,
            f"the decoder exited during {op} after {seconds:.1f} s (status {code}): {lost}",
            info,
            limit="exit",
            exit_status=code,
            memory_grant_bytes=int(header["grant"]),
            **known,
        )

    def _take(self, data: bytes, deadline: Deadline | None = None) -> Worker:
        """An idle worker: the one that holds ``data`` from its probe if it is idle, else the one idle
        longest.  With a ``deadline``, the wait for one leaves the job's time limit before it."""
        what = "run an image job within IMAGE_TIMEOUT_SECONDS"
        keep = self.sandbox.timeout_seconds + SHORTEST_WAIT_SECONDS
        if deadline is not None:
            deadline.left_for(what, stage=Stage.IMAGE, at_least=keep)  # the job itself must fit
        with self._free:
            while not self._idle:
                if deadline is None:
                    self._free.wait()
                    continue
                left = deadline.left_for(what, stage=Stage.IMAGE, at_least=keep) - keep
                if not self._free.wait(left) and not self._idle:
                    raise deadline.reached("get a free image worker", stage=Stage.IMAGE)
            index = next((i for i, worker in enumerate(self._idle) if worker.holds is data), 0)
            return self._idle.pop(index)

    def _give(self, worker: Worker) -> None:
        with self._free:
            self._idle.append(worker)
            self._free.notify()

    def _start(self, process: subprocess.Popen[bytes] | None = None) -> Worker:
        worker = Worker(self.command, process)
        with self._lock:
            self._all.add(worker)
        return worker

    def _replace(self, worker: Worker) -> Worker:
        worker.close()
        with self._lock:
            self._all.discard(worker)
            self.replaced += 1
        return self._start()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return sorted(worker.pid for worker in self._all)

    def warm_up(self) -> None:
        """Wait until every idle worker has started (benchmarks, so start-up is not timed)."""
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            worker.wait_ready()

    def close(self) -> None:
        """Stop every worker (idempotent).  Jobs still running fail as their workers go."""
        self._closed = True
        with self._lock:
            workers, self._all = list(self._all), set()
        for worker in workers:
            worker.close()

    def __enter__(self) -> SandboxedImages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def image_stage(
    limits: ImageLimits, sandbox: SandboxSettings, started: Sequence[subprocess.Popen[bytes]] = ()
) -> SandboxedImages | InProcessImages:
    """The configured image stage: sandboxed, or in this process when ``IMAGE_ISOLATION=false``.

    ``started``: workers already started (see ``SandboxedImages``); in process they are not needed
    and are closed here.
    """
    if sandbox.isolate:
        return SandboxedImages(limits, sandbox, started=started)
    for process in started:
        Worker(WORKER_COMMAND, process).close()
    return InProcessImages(limits)
