"""Multi-instance load run: many processes, each its own pipeline, against one rate-limited emulator.

Flex Consumption may run 40 instances (its lowest documented maximum) with several invocations each,
all sending for one iTwin client.  This run drops ``--blobs`` renders over ``--imodels`` iModels into
one Azurite, then starts ``--instances`` processes, each with its own pipeline and ``--concurrency``
threads, against one emulator that enforces the client's limit over a sliding minute (and an hourly
cap) and answers 429 with ``retry-after`` and ``ITwinPlatform-RateLimited-Tier``.  Each blob goes to
one instance (as Event Grid hands each event to one); a transient outcome is redelivered after Event
Grid's retry schedule (10 s, 30 s, 1 min, 5 min) until the pipeline's own attempt count dead-letters it.

It runs twice in the same invocation, on fresh containers and a reset emulator: BEFORE with
``ITWIN_SHARED_PACE=false`` (pace by 429 only) and AFTER with the shared pace, and prints for each
the drain time against the quota-limited ideal (blobs / limit), the share of PUTs answered 429, API
calls per blob, blobs lost and ``RetriesExhausted``, plus the machine's load average.

    python -m bench.pace_load                       # 2,000 blobs, 500 iModels, 40 x 4, 300/min
    python -m bench.pace_load --instances 1 --blobs 200 --per-minute 120
"""

from __future__ import annotations

import argparse
import heapq
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient
from PIL import Image

#: Event Grid's first redelivery delays (seconds) after a failed delivery.
REDELIVERY = (10.0, 30.0, 60.0, 300.0)
ROOT = Path(__file__).resolve().parents[1]


def frame(index: int) -> bytes:
    """A small render (the run measures pacing, not decoding): 64x40 PNG."""
    image = Image.new("RGB", (64, 40), (index * 37 % 256, index * 11 % 256, 180))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# --- one instance ------------------------------------------------------------------------------------


def instance(env_file: str, index: int, instances: int, concurrency: int) -> None:
    """One simulated Functions instance: its own pipeline; its share of the blobs; redelivery on RETRY."""
    from shared.core.outcome import Status
    from shared.delivery.compose import build_pipeline
    from shared.settings import load_settings

    job = json.loads(Path(env_file).read_text())
    settings = load_settings(job["env"])
    pipeline = build_pipeline(settings)
    container = pipeline.blobs.get_container_client(settings.incoming_container)
    names = [name for i, name in enumerate(job["names"]) if i % instances == index]
    print("ready", flush=True)
    sys.stdin.readline()  # "go"

    queue: list[tuple[float, int, str]] = [(0.0, 0, name) for name in names]
    heapq.heapify(queue)
    lock = threading.Lock()
    final: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    calls = 0
    deliveries = 0
    pending = len(names)

    def work() -> None:
        nonlocal calls, deliveries, pending
        while True:
            with lock:
                if pending == 0:
                    return
                ready = None if not queue or queue[0][0] > time.monotonic() else heapq.heappop(queue)
            if ready is None:
                time.sleep(0.05)
                continue
            _, attempt, name = ready
            outcome = pipeline.process(container.get_blob_client(name))
            with lock:
                calls += outcome.api_calls
                deliveries += 1
                if outcome.code:
                    codes[outcome.code] += 1
                if outcome.status is Status.RETRY:
                    delay = REDELIVERY[min(attempt, len(REDELIVERY) - 1)]
                    heapq.heappush(queue, (time.monotonic() + delay, attempt + 1, name))
                else:
                    final[outcome.status.value] += 1
                    pending -= 1

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pace = getattr(pipeline.itwin.pace, "counters", None)
    print(
        json.dumps(
            {
                "finished": time.time(),
                "final": dict(final),
                "codes": dict(codes),
                "calls": calls,
                "deliveries": deliveries,
                "pace": None if pace is None else pace.__dict__,
            }
        ),
        flush=True,
    )
    pipeline.close()


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    drain_seconds: float
    ideal_seconds: float
    uploads: int
    per_minute: int
    puts: int
    answered_429: int
    blobs: int
    lost: int
    retries_exhausted: int
    deliveries: int
    pace: dict[str, int]
    load: tuple[float, float, float]

    def row(self) -> str:
        return (
            f"| {self.label} | {self.drain_seconds:.0f} s | {self.drain_seconds / self.ideal_seconds:.2f}x | "
            f"{self.drain_seconds / (self.uploads / self.per_minute * 60.0):.2f}x | "
            f"{100 * self.answered_429 / max(self.puts, 1):.1f} % ({self.answered_429}/{self.puts}) | "
            f"{self.puts / self.blobs:.2f} | {self.lost} | {self.retries_exhausted} | {self.deliveries} | "
            f"{self.load[0]:.1f} |"
        )


def run_phase(label: str, shared: bool, args: argparse.Namespace, azurite: Any, emulator: Any) -> Phase:
    from devkit.local_env import create_containers, local_env
    from shared.settings import load_settings

    suffix = uuid.uuid4().hex[:8]
    env = {
        **local_env(azurite, emulator),
        "THUMBNAILS_CONTAINER": f"in-{suffix}",
        "PROCESSED_CONTAINER": f"done-{suffix}",
        "DEADLETTER_CONTAINER": f"dead-{suffix}",
        "STATE_CONTAINER": f"state-{suffix}",
        "PACE_CONTAINER": f"pace-{suffix}",
        "ITWIN_SHARED_PACE": "true" if shared else "false",
        "ITWIN_CALLS_PER_MINUTE": str(args.per_minute),
        "ITWIN_CALLS_PER_HOUR": str(args.per_hour),
        "PACE_FALLBACK_INSTANCES": str(args.instances),
        "IMAGE_ISOLATION": "false",  # 40 processes, no decoder workers each: the run measures pacing
    }
    settings = load_settings(env)
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    create_containers(service, settings)
    incoming = service.get_container_client(settings.incoming_container)
    imodels = [str(uuid.uuid4()) for _ in range(args.imodels)]
    frames = [frame(i) for i in range(8)]
    names = [f"{imodels[i % len(imodels)]}/frame-{i:05}.png" for i in range(args.blobs)]
    for i, name in enumerate(names):
        incoming.upload_blob(name, frames[i % len(frames)])
    job = Path(tempfile.mkdtemp(prefix="pace-load-")) / "job.json"
    job.write_text(json.dumps({"env": env, "names": names}))

    emulator.state.reset()
    emulator.state.set_rate_limit(args.per_minute)
    emulator.state.set_tier(args.tier, per_hour=args.per_hour)
    workers = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.pace_load", "--instance", str(k), "--job", str(job)),
                *("--instances", str(args.instances), "--concurrency", str(args.concurrency)),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(args.instances)
    ]
    for worker in workers:
        assert worker.stdout is not None
        if worker.stdout.readline().strip() != "ready":
            raise SystemExit(f"{label}: an instance failed to start")
    started = time.time()
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, _ = worker.communicate()
        results.append(json.loads(out.strip().splitlines()[-1]))
    drain = max(r["finished"] for r in results) - started
    load = os.getloadavg()

    codes: Counter[str] = Counter()
    pace: Counter[str] = Counter()
    for r in results:
        codes.update(r["codes"])
        pace.update(r["pace"] or {})
    statuses = emulator.state.statuses
    archived = sum(1 for _ in service.get_container_client(settings.processed_container).list_blobs())
    dead = [
        b.name
        for b in service.get_container_client(settings.deadletter_container).list_blobs()
        if not b.name.endswith(".error.json")
    ]
    exhausted = sum(1 for name in dead if _payload(service, settings.deadletter_container, name) == "RetriesExhausted")
    uploaded = sum(r["final"].get("uploaded", 0) for r in results)
    return Phase(
        label=label,
        drain_seconds=drain,
        ideal_seconds=args.blobs / args.per_minute * 60.0,
        uploads=max(uploaded, 1),
        per_minute=args.per_minute,
        puts=emulator.state.put_total,
        answered_429=statuses.get(429, 0),
        blobs=args.blobs,
        lost=args.blobs - archived - len(dead),  # a blob still in the incoming container counts as lost
        retries_exhausted=exhausted,
        deliveries=sum(r["deliveries"] for r in results),
        pace=dict(pace),
        load=load,
    )


def _payload(service: BlobServiceClient, container: str, name: str) -> str | None:
    """The error code of a dead-letter payload."""
    body = json.loads(service.get_blob_client(container, f"{name}.error.json").download_blob().readall())
    code = body.get("code")
    return code if isinstance(code, str) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blobs", type=int, default=2000)
    parser.add_argument("--imodels", type=int, default=500)
    parser.add_argument("--instances", type=int, default=40, help="processes, each one simulated Flex instance")
    parser.add_argument("--concurrency", type=int, default=4, help="invocations at once per instance")
    parser.add_argument("--per-minute", type=int, default=300, help="the emulated client's limit (Trial: 500)")
    parser.add_argument("--per-hour", type=int, default=3000, help="its hourly cap (Trial: 5000)")
    parser.add_argument("--tier", default="Trial")
    parser.add_argument("--phases", default="before,after", help="before, after, or both (comma-separated)")
    parser.add_argument("--instance", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instance is not None:
        instance(args.job, args.instance, args.instances, args.concurrency)
        return 0

    from devkit.azurite import Azurite
    from devkit.emulator import Emulator, EmulatorConfig

    print(
        f"{args.blobs} blobs over {args.imodels} iModels; {args.instances} instances x {args.concurrency}; "
        f"limit {args.per_minute}/min and {args.per_hour}/h ({args.tier}); {os.cpu_count()} CPUs, "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    phases = []
    with Azurite(location=Path(tempfile.mkdtemp(prefix="pace-load-"))) as azurite, Emulator(EmulatorConfig()) as emu:
        for label in args.phases.split(","):
            phase = run_phase(label.strip().upper(), label.strip() == "after", args, azurite, emu)
            print(f"{phase.label}: {phase.row()} pace counters {phase.pace}", flush=True)
            phases.append(phase)
    print()
    print(
        "| run | drain | vs ideal (blobs / limit) | vs ideal (uploads / limit) | PUTs answered 429 | calls per blob "
        "| lost | RetriesExhausted | deliveries | load (1 min, at the end) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for phase in phases:
        print(phase.row())
    ideal = phases[0].ideal_seconds
    print(f"\nideal (blobs / limit): {ideal:.0f} s")
    return 0 if all(p.lost == 0 for p in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
