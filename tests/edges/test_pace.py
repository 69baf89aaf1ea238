"""The shared pace against the real parts: Azurite holds the pace blob (ETag-conditional writes, as
Azure Blob Storage does), the iTwin emulator answers 429 with ``retry-after`` and
``ITwinPlatform-RateLimited-Tier`` (developer.bentley.com/apis/overview/rate-limits).

Three things are shown: the pace is shared by separate processes; a lost or contended store degrades
to the per-instance pace without failing a blob; a 429's tier header and ``Retry-After`` correct the
pace of every instance, not only the refused one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from azure.storage.blob import BlobClient, BlobServiceClient

from devkit.azurite import Azurite
from devkit.emulator import Emulator
from shared.core import pace as core
from shared.core.errors import ErrorCode, ThumbnailError
from shared.core.outcome import Status
from shared.delivery.compose import build_pipeline
from shared.edges.itwin import ItwinClient, TokenProvider, new_session
from shared.edges.pace import CONTENTION_BUDGET_SECONDS, SharedPace, pace_blob
from shared.settings import default_pace, load_settings
from tests.conftest import Containers, FakeClock, new_imodel, png_bytes

ROOT = Path(__file__).resolve().parents[2]
PAID = default_pace(calls_per_minute=5000, calls_per_hour=None)


def store(azurite: Azurite, env: dict[str, str]) -> BlobClient:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return pace_blob(service.get_container_client(env["PACE_CONTAINER"]), "local-client")


def stored_state(blob: BlobClient) -> core.PaceState:
    return core.PaceState.from_json(blob.download_blob().readall())


def dead_store() -> BlobClient:
    """A blob client for an account nobody listens on: every request fails to connect."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account, key = (
        "devstoreaccount1",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    )
    connection = f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};BlobEndpoint=http://127.0.0.1:{port}/{account};"
    return BlobServiceClient.from_connection_string(connection).get_blob_client("pace", "local-client.json")


def child(connection_string: str, container: str, calls: int) -> None:
    """One process's pace: take ``calls`` slots without sleeping, print them."""
    service = BlobServiceClient.from_connection_string(connection_string)
    pace = SharedPace(
        default_pace(calls_per_minute=600, calls_per_hour=None, max_batch=1),
        pace_blob(service.get_container_client(container), "local-client"),
        sleep=lambda seconds: None,
        contention_budget=600.0,  # this test is about sharing: never fall back, however hard they contend
    )
    slots = [pace.wait_for_slot(None) for _ in range(calls)]
    counters = pace.counters
    print(json.dumps({"slots": slots, "writes": counters.store_writes, "fallbacks": counters.fallback_batches}))


def test_the_pace_is_shared_across_processes(azurite: Azurite, env: dict[str, str]) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.edges.test_pace", azurite.connection_string, env["PACE_CONTAINER"], "40"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    slots = sorted(slot for result in results for slot in result["slots"])
    limits = core.Limits(600, None)
    step, burst = core.interval(limits), core.burst(limits)
    # One pace for all three: any k consecutive slots span at least (k - burst) intervals, whoever took
    # them.  Three separate paces would each have started with their own burst of 20 at once.
    for i, first in enumerate(slots):
        for j in range(i + burst, len(slots)):
            assert slots[j] - first >= (j - i + 1 - burst) * step - 1e-6
    assert [result["fallbacks"] for result in results] == [0, 0, 0]
    assert sum(result["writes"] for result in results) == 120  # max_batch=1: one conditional write per slot
    assert stored_state(store(azurite, env)).tat == pytest.approx(slots[-1] + step)


def test_a_lost_store_falls_back_to_the_per_instance_pace_without_failing_blobs(
    pipeline, containers: Containers, clock: FakeClock, emulator: Emulator
) -> None:
    pace = SharedPace(load_settings_pace(), dead_store(), wall=lambda: clock.now().timestamp(), sleep=clock.sleep)
    pipeline.itwin.pace = pace
    imodels = [new_imodel() for _ in range(3)]
    for imodel in imodels:
        containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(64, 40))
    outcomes = [pipeline.process(containers.incoming.get_blob_client(f"{i}/render.png")) for i in imodels]
    assert [o.status for o in outcomes] == [Status.UPLOADED] * 3
    assert emulator.state.put_total == 3
    assert pace.counters.fallback_batches == 3
    # 500 a minute over 40 instances: 12 a minute each, one slot every 60 / (12 * 0.95) s.
    step = core.interval(core.Limits(500, 5000).share(40))
    assert [round(s, 3) for s in clock.sleeps if s > 1] == [round(step, 3)] * 2


def load_settings_pace() -> core.PaceSettings:
    return default_pace()


def test_a_contended_store_falls_back_without_failing_the_blob(
    pipeline, containers: Containers, clock: FakeClock, emulator: Emulator, azurite: Azurite, env: dict[str, str]
) -> None:
    """Another instance rewrites the pace blob just before each of this one's conditional writes."""
    rival = store(azurite, env)
    rival.upload_blob(core.PaceState().to_json(), overwrite=True)

    def rewrite_first(request) -> None:  # a real concurrent writer: the real write then gets 412
        if request.http_request.method == "PUT" and "If-Match" in request.http_request.headers:
            rival.upload_blob(core.PaceState().to_json(), overwrite=True)

    service = BlobServiceClient.from_connection_string(azurite.connection_string, raw_request_hook=rewrite_first)
    contended = service.get_blob_client(env["PACE_CONTAINER"], "local-client.json")
    pace = SharedPace(default_pace(), contended, wall=lambda: clock.now().timestamp(), sleep=clock.sleep)
    pipeline.itwin.pace = pace
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(64, 40))
    outcome = pipeline.process(containers.incoming.get_blob_client(f"{imodel}/render.png"))
    assert outcome.status is Status.UPLOADED
    assert pace.counters.conflicts >= 5
    assert sum(clock.sleeps) >= CONTENTION_BUDGET_SECONDS  # it backed off that long before falling back
    assert pace.counters.fallback_batches == 1
    assert pace.counters.store_writes == 0


def test_the_tier_header_and_retry_after_correct_every_instance(
    azurite: Azurite, env: dict[str, str], emulator: Emulator, clock: FakeClock
) -> None:
    emulator.state.set_rate_limit(3)
    emulator.state.set_tier("Trial")
    settings = load_settings(env)
    blob = store(azurite, env)

    def instance() -> tuple[ItwinClient, SharedPace]:
        # Both configured as a paid tier (5,000 a minute): wrong, as the API is about to say.
        pace = SharedPace(PAID, blob, wall=clock, sleep=clock.sleep)
        tokens = TokenProvider(settings.itwin, _session(), clock=clock)
        return ItwinClient(settings.itwin, _session(), tokens, pace), pace

    first, first_pace = instance()
    second, second_pace = instance()
    imodel, data = new_imodel(), png_bytes(64, 40)
    for _ in range(3):
        first.put_thumbnail(imodel, data, "image/png")
    with pytest.raises(ThumbnailError) as refused:
        first.put_thumbnail(imodel, data, "image/png")
    assert refused.value.code is ErrorCode.TOO_MANY_REQUESTS
    assert refused.value.api is not None
    assert refused.value.api.retry_after == 60
    refused_at = clock()

    state = stored_state(blob)
    assert state.paused_until == pytest.approx(refused_at + 60)
    assert state.learned == core.Limits(500, 5000)  # from ITwinPlatform-RateLimited-Tier: Trial
    # The other instance, which was never refused, does not call before the same Retry-After ends:
    # the wait is too long to spend holding the iModel's record, so it is handed to the retry loop.
    with pytest.raises(ThumbnailError) as paced:
        second.put_thumbnail(imodel, data, "image/png")
    assert paced.value.code is ErrorCode.TOO_MANY_REQUESTS
    assert paced.value.api is None  # no call was spent on it
    assert paced.value.details["retry_after"] == pytest.approx(60)
    assert emulator.state.put_total == 4
    clock.advance(60)
    before = len(clock.sleeps)
    second.put_thumbnail(imodel, data, "image/png")
    assert clock.sleeps[before:] == []
    assert emulator.state.statuses[201] == 4
    assert first_pace.counters.corrections == 1
    assert second_pace.counters.corrections == 0


def test_a_blob_without_a_slot_before_its_deadline_is_retried_not_failed(
    containers: Containers, clock: FakeClock, emulator: Emulator, azurite: Azurite, env: dict[str, str]
) -> None:
    pipeline = build_pipeline(
        load_settings({**env, "ITWIN_SHARED_PACE": "true"}), clock=clock, sleep=clock.sleep, now=clock.now
    )
    assert isinstance(pipeline.itwin.pace, SharedPace)
    far = clock.now().timestamp() + 3600.0  # e.g. the Trial hourly cap is used up
    store(azurite, env).upload_blob(core.PaceState(tat=far, paused_until=far).to_json(), overwrite=True)
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(64, 40))
    outcome = pipeline.process(containers.incoming.get_blob_client(f"{imodel}/render.png"))
    assert outcome.status is Status.RETRY
    assert outcome.code == ErrorCode.TOO_MANY_REQUESTS.value
    assert emulator.state.put_total == 0  # no call was spent on a sure refusal
    assert containers.names(containers.incoming) == [f"{imodel}/render.png"]
    assert containers.names(containers.deadletter) == []
    assert not any(s >= 1 for s in clock.sleeps)  # nothing waited for a slot that could not come in time
    pipeline.close()


def _session() -> requests.Session:
    return new_session()


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
