"""The new formats through the real sandbox (worker processes under time and address-space limits):
what runs in process runs there too, numpy and the OpenEXR bindings imported inside the limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.formats_corpus import avif_bytes, heic_bytes, tga_bytes, tiff16_gray, uniform_exr
from shared.core.errors import ErrorCode, ThumbnailError
from shared.sandbox import SandboxedImages
from shared.settings import default_limits, default_sandbox
from tests.imaging.factories import quadrants, reopen


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxedImages]:
    with SandboxedImages(default_limits(), default_sandbox(workers=1, timeout_seconds=30.0)) as pool:
        yield pool


@pytest.mark.parametrize("fmt", ["OPENEXR", "HEIF", "AVIF", "TGA", "TIFF"])
def test_each_new_format_becomes_a_thumbnail_in_the_sandbox(sandbox, fmt):
    image = quadrants(1200, 800)
    data = {
        "OPENEXR": lambda: uniform_exr((1200, 800), (0.18, 0.18, 0.18), alpha=0.5),
        "HEIF": lambda: heic_bytes(image),
        "AVIF": lambda: avif_bytes(image, speed=10),
        "TGA": lambda: tga_bytes(image, rle=True),
        "TIFF": lambda: tiff16_gray((1200, 800), 30000),
    }[fmt]()
    info = sandbox.probe(data)
    assert info.format == fmt
    thumb = sandbox.normalize(data, info)
    assert (thumb.width, thumb.height) == (750, 500)
    assert reopen(thumb.data).format == "PNG"


def test_a_truncated_exr_is_corrupt_in_the_sandbox_and_the_worker_carries_on(sandbox):
    data = uniform_exr((400, 300), (1.0, 0.5, 0.25), compression="PIZ")
    cut = data[: len(data) * 2 // 3]
    with pytest.raises(ThumbnailError) as caught:
        sandbox.normalize(cut, sandbox.probe(cut))
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert sandbox.normalize(data, sandbox.probe(data)).width == 400
