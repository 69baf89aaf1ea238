"""Load run: N blobs across M iModels through ``drain``, with the emulator's faults on.

Prints blobs per second, storage requests per blob, thumbnail PUTs (and how many of them were
re-asserts of a send in doubt) and the count of each outcome, and fails unless every blob is
accounted for (uploaded, superseded or dead-lettered; none left behind, none lost).  Real time, real HTTP,
real Azurite: run it with ``python -m bench.load_run`` (defaults: 1000 blobs, 50 iModels).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from azure.storage.blob import BlobServiceClient
from PIL import Image

from devkit.azurite import Azurite
from devkit.emulator import Emulator, EmulatorConfig
from devkit.local_env import create_containers, local_env
from shared.delivery.compose import build_pipeline
from shared.edges.storage import blob_service
from shared.ops.drain import drain
from shared.settings import load_settings


class RequestCounter:
    """Counts the pipeline's storage requests (the SDK calls ``raw_request_hook`` before each one)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def tick(self, request: object) -> None:
        with self._lock:
            self.count += 1


def frame(index: int) -> bytes:
    image = Image.new("RGB", (1280, 720), (index * 37 % 256, index * 11 % 256, 180))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blobs", type=int, default=1000)
    parser.add_argument("--imodels", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--p503", type=float, default=0.10)
    parser.add_argument("--p429", type=float, default=0.05)
    parser.add_argument("--forbidden", type=int, default=2, help="iModels the client may not touch")
    parser.add_argument(
        "--order",
        choices=["listing", "arrival"],
        default="listing",
        help="first pass in listing order (by name: one iModel's blobs side by side, the worst case for its "
        "record's lease) or in drop order (round-robin across iModels, as Event Grid delivers them)",
    )
    args = parser.parse_args()

    imodels = [str(uuid.uuid4()) for _ in range(args.imodels)]
    forbidden = frozenset(imodels[: args.forbidden])
    config = EmulatorConfig(forbidden=forbidden, fail_rate_503=args.p503, fail_rate_429=args.p429, seed=1)
    with Azurite(location=Path(tempfile.mkdtemp(prefix="load-"))) as azurite, Emulator(config) as emulator:
        settings = load_settings(local_env(azurite, emulator))
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        create_containers(service, settings)
        incoming = service.get_container_client(settings.incoming_container)
        frames = [frame(i) for i in range(8)]
        names = [f"{imodels[i % len(imodels)]}/frame-{i:05}.png" for i in range(args.blobs)]
        started = time.monotonic()
        for i, name in enumerate(names):
            incoming.upload_blob(name, frames[i % len(frames)])
        print(f"dropped {len(names)} blobs across {len(imodels)} iModels in {time.monotonic() - started:.1f} s")

        counter = RequestCounter()
        pipeline = build_pipeline(settings, blobs=blob_service(settings.storage, raw_request_hook=counter.tick))
        run_started = time.monotonic()
        report = drain(pipeline, workers=args.workers, names=names if args.order == "arrival" else None)
        reasserts = len(getattr(report, "reasserts", []))
        left = [blob.name for blob in incoming.list_blobs()]
        passes = 1
        while left and passes < 5:  # what the host's redelivery does for transient failures
            again = drain(pipeline, workers=args.workers)
            report.outcomes.extend(again.outcomes)
            reasserts += len(getattr(again, "reasserts", []))
            left = [blob.name for blob in incoming.list_blobs()]
            passes += 1
        seconds = time.monotonic() - run_started

        counts = report.counts
        archived = sum(1 for b in service.get_container_client(settings.processed_container).list_blobs())
        dead = sum(
            1
            for b in service.get_container_client(settings.deadletter_container).list_blobs()
            if not b.name.endswith(".error.json")
        )
        print(f"drain: {report.summary()}")
        print(f"passes: {passes}; emulator statuses: {dict(sorted(emulator.state.statuses.items()))}")
        print(f"outcomes: {dict(counts)}")
        records = sum(1 for b in service.get_container_client(settings.state_container).list_blobs())
        print(
            f"processed: {archived}, dead-lettered: {dead}, left in incoming: {len(left)}, delivery records: {records}"
        )
        accounted = archived + dead
        print(f"accounted for: {accounted} of {len(names)}")
        print(f"storage requests by the pipeline: {counter.count} ({counter.count / len(names):.2f} per blob)")
        print(f"throughput over every pass: {len(names) / seconds:.2f} blobs/s ({seconds:.1f} s)")
        puts = emulator.state.put_total
        print(f"thumbnail PUTs: {puts} ({puts / len(names):.2f} per blob); re-asserts run: {reasserts}")
        return 0 if accounted == len(names) and not left else 1


if __name__ == "__main__":
    sys.exit(main())
