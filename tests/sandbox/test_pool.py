"""The worker pool: same results as in-process decoding, and every way a worker can fail becomes
``ImageTooComplex`` (or ``InternalError`` for a bug) with the limit named, without disturbing the host
or the other jobs."""

from __future__ import annotations

import io
import os
import threading
from typing import Any

import pytest
from PIL import Image

from shared.core.errors import ErrorCode, Kind, ThumbnailError
from shared.imaging import InProcessImages
from shared.sandbox import SandboxedImages, image_stage
from shared.settings import default_limits, default_sandbox
from tests.imaging.factories import encode, quadrants
from tests.sandbox.conftest import SMALL_GRANT


def _failure(pool: SandboxedImages, header: dict[str, Any], data: bytes = b"x") -> ThumbnailError:
    with pytest.raises(ThumbnailError) as caught:
        pool.call({"grant": SMALL_GRANT, **header}, data)
    return caught.value


def _works(pool: SandboxedImages) -> None:
    """Both workers still answer (each call takes whichever is idle; two calls in a row may reuse one,
    so ask three times)."""
    data = encode(quadrants(64, 48), "PNG")
    for _ in range(3):
        assert pool.normalize(data, pool.probe(data)).width == 64


@pytest.mark.parametrize(
    ("fmt", "image"),
    [
        ("JPEG", quadrants(3000, 2000)),
        ("PNG", quadrants(1200, 900).convert("RGBA")),
        ("GIF", quadrants(900, 600).convert("P")),
        ("WEBP", quadrants(1600, 1000)),
    ],
)
def test_the_sandbox_gives_the_same_bytes_as_decoding_in_process(
    sandbox: SandboxedImages, fmt: str, image: Image.Image
) -> None:
    data = encode(image, fmt)
    here = InProcessImages(default_limits())
    expected = here.normalize(data, here.probe(data))
    info = sandbox.probe(data)
    thumb = sandbox.normalize(data, info)
    assert info == here.probe(data)
    assert thumb.data == expected.data
    assert (thumb.width, thumb.height, thumb.mode, thumb.steps) == (
        expected.width,
        expected.height,
        expected.mode,
        expected.steps,
    )
    assert thumb.source == expected.source


def test_a_refusal_in_the_worker_arrives_as_the_same_error(sandbox: SandboxedImages) -> None:
    data = encode(quadrants(300, 200), "PNG")[:-200]
    here = InProcessImages(default_limits())
    info = here.probe(data)
    with pytest.raises(ThumbnailError) as in_process:
        here.normalize(data, info)
    with pytest.raises(ThumbnailError) as sandboxed:
        sandbox.normalize(data, sandbox.probe(data))
    assert sandboxed.value.code is in_process.value.code is ErrorCode.CORRUPT_IMAGE
    assert sandboxed.value.message == in_process.value.message
    assert sandboxed.value.details == in_process.value.details
    assert sandboxed.value.kind is Kind.PERMANENT


def test_a_job_over_the_time_limit_is_image_too_complex_and_its_worker_is_replaced(sandbox: SandboxedImages) -> None:
    before = set(sandbox.worker_pids())
    error = _failure(sandbox, {"op": "sleep", "seconds": 60})
    assert error.code is ErrorCode.IMAGE_TOO_COMPLEX
    assert error.kind is Kind.PERMANENT
    assert error.details["limit"] == "time"
    assert error.details["timeout_seconds"] == 3.0
    assert 3.0 <= error.details["seconds"] < 30
    after = set(sandbox.worker_pids())
    assert len(after) == 2
    assert len(before - after) == 1
    _works(sandbox)


def test_a_worker_killed_by_a_signal_is_image_too_complex_naming_the_signal(sandbox: SandboxedImages) -> None:
    error = _failure(sandbox, {"op": "crash"})
    assert error.code is ErrorCode.IMAGE_TOO_COMPLEX
    assert (error.details["limit"], error.details["signal"]) == ("signal", "SIGSEGV")
    _works(sandbox)


def test_a_worker_that_exits_is_image_too_complex_with_its_status(sandbox: SandboxedImages) -> None:
    error = _failure(sandbox, {"op": "exit"})
    assert (error.details["limit"], error.details["exit_status"]) == ("exit", 7)
    _works(sandbox)


def test_a_job_over_its_address_space_grant_is_image_too_complex_and_the_worker_retires(
    sandbox: SandboxedImages,
) -> None:
    replaced = sandbox.replaced
    error = _failure(sandbox, {"op": "allocate", "n": 2**30, "grant": 64 * 2**20})
    assert error.code is ErrorCode.IMAGE_TOO_COMPLEX
    assert error.details["limit"] == "memory"
    assert error.details["memory_limit_bytes"] < 2**30
    assert sandbox.replaced == replaced + 1
    _works(sandbox)


def test_the_same_allocation_within_its_grant_succeeds(sandbox: SandboxedImages) -> None:
    """The limit is per job: a worker that refused 1 GiB on a 64 MiB grant is not left limited."""
    reply = sandbox.call({"op": "allocate", "n": 256 * 2**20, "grant": 400 * 2**20}, b"x")
    assert reply["allocated"] == 256 * 2**20
    assert reply["peak"] <= reply["limit"]


def test_output_written_to_stdout_by_a_library_does_not_corrupt_the_channel(sandbox: SandboxedImages) -> None:
    assert sandbox.call({"op": "print", "grant": SMALL_GRANT}, b"x")["printed"] is True
    _works(sandbox)


def test_a_large_input_arrives_whole(sandbox: SandboxedImages) -> None:
    data = os.urandom(48 * 2**20)
    reply, echoed = sandbox._run({"op": "echo", "grant": SMALL_GRANT}, data, None)
    assert reply["echo"] == len(data)
    assert echoed == data


def test_a_hung_job_does_not_hold_up_the_other_worker(sandbox: SandboxedImages) -> None:
    errors: list[ThumbnailError] = []

    def hang() -> None:
        try:
            sandbox.call({"op": "sleep", "seconds": 60, "grant": SMALL_GRANT}, b"x")
        except ThumbnailError as error:
            errors.append(error)

    thread = threading.Thread(target=hang)
    thread.start()
    data = encode(quadrants(640, 480), "JPEG")
    finished_while_hanging = []
    for _ in range(3):
        sandbox.normalize(data, sandbox.probe(data))
        finished_while_hanging.append(thread.is_alive())
    thread.join()
    assert all(finished_while_hanging)
    assert [error.details["limit"] for error in errors] == ["time"]


def test_an_unknown_operation_is_an_internal_error_not_a_crash(sandbox: SandboxedImages) -> None:
    error = _failure(sandbox, {"op": "no such thing"})
    assert error.code is ErrorCode.INTERNAL_ERROR
    assert error.kind is Kind.TRANSIENT
    _works(sandbox)


def test_isolation_can_be_turned_off() -> None:
    stage = image_stage(default_limits(), default_sandbox(isolate=False))
    assert isinstance(stage, InProcessImages)
    stage = image_stage(default_limits(), default_sandbox(workers=1))
    try:
        assert isinstance(stage, SandboxedImages)
        assert len(stage.worker_pids()) == 1
    finally:
        stage.close()


def test_closing_stops_every_worker() -> None:
    pool = SandboxedImages(default_limits(), default_sandbox(workers=2))
    data = io.BytesIO()
    quadrants(32, 32).save(data, "PNG")
    pool.normalize(data.getvalue(), pool.probe(data.getvalue()))
    processes = [worker.process for worker in pool._all]
    pool.close()
    assert all(process.poll() is not None for process in processes)
    with pytest.raises(RuntimeError):
        pool.probe(data.getvalue())


def test_the_normalize_after_a_probe_reuses_the_bytes_the_worker_already_has() -> None:
    jobs: list[dict[str, Any]] = []
    first = encode(quadrants(1600, 1000), "PNG")
    second = encode(quadrants(1000, 1600), "PNG")
    with SandboxedImages(default_limits(), default_sandbox(workers=1), on_job=jobs.append) as pool:
        thumb = pool.normalize(first, pool.probe(first))
        # A normalize of other bytes than the probe's must not get the held ones.
        info = pool.probe(first)
        other = pool.normalize(second, pool.probe(second))
        again = pool.normalize(first, info)
    assert [(job["op"], job["reused"]) for job in jobs] == [
        ("probe", False),
        ("normalize", True),
        ("probe", False),
        ("probe", False),
        ("normalize", True),
        ("normalize", False),
    ]
    assert (thumb.width, thumb.height) == (800, 500)
    assert (other.width, other.height) == (312, 500)
    assert again.data == thumb.data
