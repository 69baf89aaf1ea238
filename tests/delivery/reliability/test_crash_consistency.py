"""Kill the worker (SIGKILL) before each of its I/O requests in turn, rerun, and check the promise:
nothing lost, at most one dead-letter, no dead-letter of an uploaded blob, at most one extra PUT of
identical bytes, plus one re-assert where the kill left a send in doubt; and the same for a kill
before each request of a re-assert."""

import contextlib
import hashlib
import json
import subprocess
import sys

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobLeaseClient

from shared.core.outcome import Status
from tests.conftest import new_imodel, png_bytes
from tests.repo import ROOT


class Workers:
    """Starts crash workers as forks of one ``crash_worker --serve`` process that has already imported
    the SDK and the pipeline: the sweep starts some 40 workers per scenario, and a fresh interpreter's
    imports were most of each one's cost.  Each worker is still its own process, killed by SIGKILL."""

    def __init__(self, directory):
        self.directory = directory
        self.jobs = 0
        self.server = subprocess.Popen(
            [sys.executable, "-m", "tests.delivery.reliability.crash_worker", "--serve"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, env, blob_name, kill_at, *options):
        self.jobs += 1
        out, err = self.directory / f"{self.jobs}.out", self.directory / f"{self.jobs}.err"
        assert self.server.stdin is not None
        assert self.server.stdout is not None
        self.server.stdin.write(json.dumps([env, blob_name, kill_at, list(options), str(out), str(err)]) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        assert answer, "the crash worker server died"
        return subprocess.CompletedProcess(
            [blob_name, kill_at], json.loads(answer)["returncode"], out.read_text(), err.read_text()
        )

    def close(self):
        assert self.server.stdin is not None
        self.server.stdin.close()
        self.server.wait(timeout=30)


@pytest.fixture
def workers(tmp_path):
    started = Workers(tmp_path)
    yield started
    started.close()


def let_the_lease_expire(containers, name, imodel):
    """What the 60 s of a dead worker's leases (on the source and on the iModel's delivery record)
    do in production, without waiting for them."""
    for blob in (containers.incoming.get_blob_client(name), containers.state.get_blob_client(f"{imodel}.json")):
        with contextlib.suppress(ResourceNotFoundError, HttpResponseError):
            BlobLeaseClient(blob).break_lease(lease_break_period=0)


def requests_of_a_clean_run(workers, env, containers, imodel, original):
    """How many I/O requests one uninterrupted run makes (the number of kill points to try)."""
    name = f"{imodel}/probe.png"
    containers.incoming.upload_blob(name, original)
    result = workers.run(env, name, 0)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["requests"]


def assert_converged(containers, emulator, imodel, name, original, *, uploaded, max_puts=3):
    assert name not in containers.names(containers.incoming), "the blob was left behind"
    processed = [n for n in containers.names(containers.processed) if n == name]
    dead = [n for n in containers.names(containers.deadletter) if n.startswith(name)]
    if uploaded:
        assert processed == [name]
        assert containers.read(containers.processed, name) == original
        assert dead == [], "an uploaded blob was dead-lettered"
        puts = emulator.state.uploads.get(imodel, [])
        assert 1 <= len(puts) <= max_puts, f"{len(puts)} PUTs"
        assert len({hashlib.sha256(p.data).digest() for p in puts}) == 1
        record = json.loads(containers.read(containers.state, f"{imodel}.json"))
        sent = record["sent"]
        assert (sent["key"]["blob"], sent["thumbnailSha256"]) == (name, hashlib.sha256(puts[-1].data).hexdigest())
        assert all(p["scheduled"] for p in record["pending"]), "a send left in doubt with no re-assert queued"
    else:
        assert processed == []
        assert dead == [name, name + ".error.json"]
        assert containers.read(containers.deadletter, name) == original
        payload = json.loads(containers.read(containers.deadletter, name + ".error.json"))
        assert payload["code"] == "InsufficientPermissions"


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["uploaded", "deadlettered"])
def test_a_kill_before_any_request_converges_on_rerun(env, containers, emulator, pipeline, scenario, workers):
    original = png_bytes(640, 360)
    probe_imodel = new_imodel()
    if scenario == "deadlettered":
        emulator.state.forbid(probe_imodel)
    total = requests_of_a_clean_run(workers, env, containers, probe_imodel, original)
    # The pipeline's steps, each a request: on the uploaded path these include the record's lease,
    # read, write and release, so every request of the lease/record protocol is a kill point.
    assert total >= (17 if scenario == "uploaded" else 8)

    for kill_at in range(1, total + 1):
        imodel = new_imodel()
        if scenario == "deadlettered":
            emulator.state.forbid(imodel)
        name = f"{imodel}/render-{kill_at}.png"
        containers.incoming.upload_blob(name, original)

        crashed = workers.run(env, name, kill_at)
        assert crashed.returncode == -9, f"kill point {kill_at} did not kill: {crashed.stdout} {crashed.stderr}"
        let_the_lease_expire(containers, name, imodel)
        rerun = workers.run(env, name, 0)
        assert rerun.returncode == 0, rerun.stderr
        if scenario == "uploaded" and in_doubt(containers, imodel):
            # What the queue delivers after the bound: the newest recorded drop, once more.
            assert pipeline.reassert(imodel).status is Status.UPLOADED
        assert_converged(containers, emulator, imodel, name, original, uploaded=scenario == "uploaded")


def in_doubt(containers, imodel):
    record = json.loads(containers.read(containers.state, f"{imodel}.json"))
    return bool(record["pending"])


@pytest.mark.slow
def test_a_kill_before_any_request_of_a_reassert_converges(env, containers, emulator, pipeline, workers):
    """A delivered drop; its re-assert is killed before each request in turn, then the queue
    redelivers the message (it is only deleted after a run that returns)."""
    original = png_bytes(320, 200)
    probe = new_imodel()
    containers.incoming.upload_blob(f"{probe}/probe.png", original)
    assert pipeline.process(containers.incoming.get_blob_client(f"{probe}/probe.png")).status is Status.UPLOADED
    clean = workers.run(env, probe, 0, "--reassert")
    assert clean.returncode == 0, clean.stderr
    total = json.loads(clean.stdout)["requests"]
    assert total >= 5  # lease, read, intent write, resolution write, release (the PUT is not storage)

    for kill_at in range(1, total + 1):
        imodel = new_imodel()
        name = f"{imodel}/render.png"
        containers.incoming.upload_blob(name, original)
        assert pipeline.process(containers.incoming.get_blob_client(name)).status is Status.UPLOADED
        crashed = workers.run(env, imodel, kill_at, "--reassert")
        assert crashed.returncode == -9, f"kill point {kill_at} did not kill: {crashed.stdout} {crashed.stderr}"
        let_the_lease_expire(containers, name, imodel)
        assert pipeline.reassert(imodel).status is Status.UPLOADED
        if in_doubt(containers, imodel):
            assert pipeline.reassert(imodel).status is Status.UPLOADED
        # The send, the killed re-assert (in doubt), its redelivery, and the one re-assert it is owed.
        assert_converged(containers, emulator, imodel, name, original, uploaded=True, max_puts=4)
