"""The production wiring decodes in the sandbox: ``build_pipeline`` (real Azurite and the local
iTwin emulator) and the switch that turns isolation off."""

from __future__ import annotations

import json
from typing import Any

from bench.hostile import jpeg_many_scans
from shared.core.outcome import Status
from shared.delivery.compose import build_pipeline
from shared.imaging import InProcessImages
from shared.sandbox import SandboxedImages
from shared.settings import load_settings
from tests.conftest import new_imodel, png_bytes


def _drop(containers: Any, name: str, data: bytes) -> Any:
    containers.incoming.upload_blob(name, data)
    return containers.incoming.get_blob_client(name)


def test_the_pipeline_decodes_in_the_sandbox_and_dead_letters_a_hostile_image(
    env: dict[str, str], clock: Any, containers: Any, emulator: Any
) -> None:
    pipeline = build_pipeline(load_settings({**env, "IMAGE_WORKERS": "1"}), clock=clock, sleep=clock.sleep)
    stage = pipeline.images
    assert isinstance(stage, SandboxedImages)
    try:
        hostile = jpeg_many_scans("L", 2000, 4000, 4000)
        imodel = new_imodel()
        outcome = pipeline.process(_drop(containers, f"{imodel}/scans.jpg", hostile))
        assert outcome.status is Status.DEADLETTERED
        assert outcome.code == "ImageTooComplex"
        payload = json.loads(containers.read(containers.deadletter, f"{imodel}/scans.jpg.error.json"))
        assert payload["kind"] == "permanent"
        assert payload["details"]["limit"] == "jpeg-scans"
        assert containers.read(containers.deadletter, f"{imodel}/scans.jpg") == hostile
        good = pipeline.process(_drop(containers, f"{new_imodel()}/render.png", png_bytes(1600, 900)))
        assert good.status is Status.UPLOADED
        assert emulator.state.put_total == 1
    finally:
        stage.close()


def test_image_isolation_false_decodes_in_the_host_process(env: dict[str, str], clock: Any, containers: Any) -> None:
    pipeline = build_pipeline(load_settings({**env, "IMAGE_ISOLATION": "false"}), clock=clock, sleep=clock.sleep)
    assert isinstance(pipeline.images, InProcessImages)
