"""The pipeline under faults: 429 storms, random 503s, a revoked token, a storage outage, and a load
run through ``drain`` where every blob must be accounted for."""

import pytest
from azure.storage.blob import BlobServiceClient, LinearRetry

from devkit.azurite import Azurite
from shared.core.outcome import Status
from shared.delivery.compose import build_pipeline
from shared.edges.storage import blob_service
from shared.ops.drain import drain
from shared.settings import load_settings
from tests.conftest import new_imodel, png_bytes, settings_for

SMALL = png_bytes(200, 120)


def drop_many(containers, imodels, per_imodel):
    names = []
    for imodel in imodels:
        for i in range(per_imodel):
            name = f"{imodel}/frame-{i:03}.png"
            containers.incoming.upload_blob(name, SMALL)
            names.append(name)
    return names


def test_a_429_storm_waits_retry_after_every_time_and_uploads_everything(pipeline, containers, emulator, clock):
    names = drop_many(containers, [new_imodel() for _ in range(3)], 4)
    for retry_after in (3, 5, 2, 7):
        emulator.state.rate_limit_next(count=3, retry_after=retry_after)
    emulator.state.set_rate_limit(per_minute=6)  # and a real sliding window on top

    report = drain(pipeline, workers=1, clock=clock)

    assert report.counts == {"uploaded": len(names)}
    assert emulator.state.statuses[429] >= 12
    # Every wait was a 429's retry-after: never shorter than what the API asked for.
    assert len(clock.sleeps) == emulator.state.statuses[429]
    assert min(clock.sleeps) >= 1
    assert sorted(set(clock.sleeps[:12])) == [2, 3, 5, 7]


def test_ten_percent_503s_and_429s_still_upload_every_blob(pipeline, containers, emulator, clock):
    names = drop_many(containers, [new_imodel() for _ in range(5)], 8)
    emulator.state.set_fail_rates(p503=0.1, p429=0.05, seed=7)

    report = drain(pipeline, workers=4, clock=clock)

    # Four workers take one iModel's frames out of order: a frame older than one already sent is
    # archived unsent, and each iModel ends with its newest frame (same second: the greatest name).
    assert report.counts["uploaded"] + report.counts.get("superseded", 0) == len(names)
    assert emulator.state.statuses[503] > 0
    assert containers.names(containers.incoming) == []
    assert len(containers.names(containers.processed)) == len(names)
    for imodel in {name.split("/")[0] for name in names}:
        assert pipeline.records.read(imodel).key.name == f"{imodel}/frame-007.png"


def test_a_token_revoked_mid_run_is_refreshed_exactly_once(pipeline, containers, emulator, clock):
    first = drop_many(containers, [new_imodel()], 3)
    drain(pipeline, workers=1, clock=clock)
    emulator.state.revoke_tokens()
    second = drop_many(containers, [new_imodel()], 3)

    report = drain(pipeline, workers=1, clock=clock)

    assert report.counts == {"uploaded": len(second)}
    assert emulator.state.token_requests == 2
    assert emulator.state.statuses[401] == 1
    assert len(containers.names(containers.processed)) == len(first) + len(second)


@pytest.fixture
def own_azurite(tmp_path):
    server = Azurite(location=tmp_path / "azurite")
    server.location.mkdir()
    server.start()
    yield server
    server.stop()


def test_a_storage_outage_loses_nothing_once_storage_is_back(own_azurite, emulator, clock):
    env = settings_for(own_azurite.connection_string, emulator)
    service = BlobServiceClient.from_connection_string(own_azurite.connection_string)
    # The state container too: the app never creates it (a missing one must not read as "nothing sent").
    for key in ("THUMBNAILS_CONTAINER", "PROCESSED_CONTAINER", "DEADLETTER_CONTAINER", "STATE_CONTAINER"):
        service.create_container(env[key])
    incoming = service.get_container_client(env["THUMBNAILS_CONTAINER"])
    names = [f"{new_imodel()}/render-{i}.png" for i in range(12)]
    for name in names:
        incoming.upload_blob(name, SMALL)
    settings = load_settings(env)
    no_sdk_retries = blob_service(settings.storage, retry_policy=LinearRetry(backoff=0, retry_total=0))
    pipeline = build_pipeline(settings, blobs=no_sdk_retries, clock=clock, sleep=clock.sleep, now=clock.now)

    # Storage goes away after the first few blobs have been handled.
    handled = []

    def outage_after_four(outcome):
        handled.append(outcome)
        if len(handled) == 4:
            own_azurite.stop()

    during = drain(pipeline, workers=1, on_outcome=outage_after_four, clock=clock)
    assert during.counts["uploaded"] == 4
    assert during.counts["retry"] == len(names) - 4
    assert {o.code for o in during.outcomes if o.status is Status.RETRY} == {"StorageUnavailable"}

    own_azurite.start()
    after = drain(pipeline, workers=2, clock=clock)

    assert after.ok
    done = {b.name for b in service.get_container_client(env["PROCESSED_CONTAINER"]).list_blobs()}
    assert set(names) <= done
    assert list(incoming.list_blobs()) == []
    assert list(service.get_container_client(env["DEADLETTER_CONTAINER"]).list_blobs()) == []


@pytest.mark.slow
def test_load_run_with_faults_accounts_for_every_blob(pipeline, containers, emulator, clock):
    imodels = [new_imodel() for _ in range(20)]
    forbidden = imodels[:2]
    for imodel in forbidden:
        emulator.state.forbid(imodel)
    names = drop_many(containers, imodels, 10)
    containers.incoming.upload_blob(f"{imodels[5]}/broken.png", SMALL[:100])
    emulator.state.set_fail_rates(p503=0.1, p429=0.05, seed=11)

    report = drain(pipeline, workers=4, clock=clock)

    assert report.ok
    assert report.counts["deadlettered"] == 2 * 10 + 1
    assert report.counts["uploaded"] + report.counts.get("superseded", 0) == len(names) - 20
    processed = containers.names(containers.processed)
    dead = [n for n in containers.names(containers.deadletter) if not n.endswith(".error.json")]
    assert len(processed) + len(dead) == len(names) + 1
    assert containers.names(containers.incoming) == []
