"""One deadline bounds every wait, so a delivery ends before functionTimeout.

The scenario: every request takes 29 s (just under the 30 s read timeout, so none times out by
itself), the API answers a storm of 429s and the cached token has been revoked; without a bound
on every wait such a delivery runs past a functionTimeout of 600 s.  Here it is scaled down a
hundredfold so the test takes seconds: ``RETRY_BUDGET_SECONDS=3`` (300 s in production), every
storage answer held 0.29 s by :class:`tests.devkit.slow_proxy.SlowProxy` in front of the real
Azurite, every token and API answer held 0.29 s by the emulator's ``stall`` knob, a 429 with
``retry-after: 1`` for every PUT, and the cached token revoked so the first PUT meets a 401.  The
delivery must end by its deadline (plus scheduling slack), leave the blob where it was and
dead-letter nothing.

Real time, real clock: the waits are the point, and the HTTP timeouts they are cut to are real.
"""

from __future__ import annotations

import threading
import time

import pytest

from devkit.emulator import Emulator
from shared.core.errors import CODES, ErrorCode, Kind
from shared.core.outcome import Outcome, Status
from shared.delivery.compose import build_pipeline
from shared.settings import load_settings
from tests.conftest import Containers, new_imodel, png_bytes
from tests.devkit.slow_proxy import SlowProxy, blob_port, through

BUDGET = 3.0  # RETRY_BUDGET_SECONDS: 300 s in production, scaled by 1/100
HELD = 0.29  # every storage, token and API answer: 29 s, scaled by 1/100
SLACK = 0.5  # scheduling on a shared 2-core machine
TRANSIENT = {code.value for code, info in CODES.items() if info.kind is Kind.TRANSIENT}


@pytest.mark.parametrize("storage_held", [HELD, 0.0], ids=["slow-storage", "fast-storage"])
def test_slow_requests_a_429_storm_and_a_revoked_token_end_by_the_deadline(
    env: dict[str, str], emulator: Emulator, containers: Containers, storage_held: float
) -> None:
    """With slow storage the deadline comes during the send; with fast storage, during the 429 storm."""
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(64, 48))
    with SlowProxy(blob_port(env["THUMBNAILS_STORAGE"]), storage_held) as proxy:
        settings = load_settings(
            {
                **env,
                "THUMBNAILS_STORAGE": through(env["THUMBNAILS_STORAGE"], proxy),
                "RETRY_BUDGET_SECONDS": str(BUDGET),
                "HTTP_CONNECT_TIMEOUT_SECONDS": "0.5",
                "HTTP_READ_TIMEOUT_SECONDS": "1",  # above HELD: slow answers do not time out by themselves
                "IMAGE_ISOLATION": "false",
            }
        )
        pipeline = build_pipeline(settings)
        try:
            pipeline.itwin.tokens.get()  # a cached token ...
            emulator.state.revoke_tokens()  # ... that the API no longer accepts: the first PUT gets 401
            emulator.state.stall_next(HELD, count=1000, endpoint="any")
            emulator.state.rate_limit_next(count=1000, retry_after=1)
            outcomes: list[Outcome] = []
            blob = pipeline.blobs.get_blob_client(settings.incoming_container, name)
            started = time.monotonic()
            worker = threading.Thread(target=lambda: outcomes.append(pipeline.process(blob)), daemon=True)
            worker.start()
            worker.join(timeout=BUDGET + SLACK)
            elapsed = time.monotonic() - started
            assert not worker.is_alive(), f"the delivery was still running {elapsed:.1f} s after it started"
        finally:
            proxy.close()  # lets a delivery that overran finish (its storage requests now fail fast)
            pipeline.close()
    [outcome] = outcomes
    assert outcome.status is Status.RETRY, outcome
    assert outcome.code is not None
    assert ErrorCode(outcome.code).value in TRANSIENT, outcome  # whatever the deadline cut short is retried
    if storage_held:
        assert proxy.requests >= 3  # slow storage was met (under load the deadline may come before the PUT)
    else:
        assert emulator.state.statuses[401] == 1  # the revoked token was met
        assert emulator.state.holds["held"] >= 3  # the 401'd PUT, the token fetch and a PUT were held
        assert emulator.state.statuses[429] >= 1  # the storm was met, and waited out until the deadline
    assert containers.names(containers.incoming) == [name]  # the blob stays for the next delivery
    assert containers.names(containers.deadletter) == []
