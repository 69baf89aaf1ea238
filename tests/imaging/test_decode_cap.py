"""The per-decode memory cap (issue 17): nothing whose estimate exceeds it runs, whatever the
memory budget, and it is refused from the header, before any decoder allocates.

The cap is half the Flex Consumption instance (``INSTANCE_MEMORY_MB``: 512, 2048 or 4096 MB;
the ``instanceMemoryMB`` of the function app in ``infra/``), 1 GiB by default.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.formats_corpus import exr_bytes, exr_claiming
from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import ImageLimits, estimate_decode_bytes, normalize, probe
from shared.imaging.limits import decode_cap_for
from shared.settings import SettingsError, default_limits, load_image_limits
from tests.imaging.factories import webp_canvas_bomb

LIMITS = default_limits()


def cap_refusal(data: bytes, limits: ImageLimits = LIMITS) -> ThumbnailError:
    started = time.perf_counter()
    with pytest.raises(ThumbnailError) as caught:
        probe(data, limits)
    assert time.perf_counter() - started < 1.0  # from the header: nothing was decoded
    error = caught.value
    assert error.code is ErrorCode.IMAGE_TOO_COMPLEX
    assert error.details["limit"] == "memory-cap"
    assert error.details["estimate_bytes"] > error.details["decode_cap_bytes"] == limits.decode_cap_bytes
    return error


def test_an_exr_with_33_channels_decodes_its_beauty_channels_only() -> None:
    """On e50b257 every channel was decoded by the bindings: 33 float channels of 4300x4300 were
    2.4 GB, which ran alone over the whole 1 GiB budget.  Only R, G, B are decoded now: a cheaper
    decode of the same file, within the cap (and so admitted, not refused)."""
    data = exr_claiming(4300, 4300, 33)
    assert len(data) < 200_000
    info = probe(data, LIMITS)
    assert info.decoder_bytes == 3 * 4300 * 4300 * 4
    assert estimate_decode_bytes(info) < LIMITS.decode_cap_bytes


def test_a_huge_exr_header_is_refused_before_any_grant_is_computed() -> None:
    """A header of 132 MP with 33 float channels: 17 GB, which became a worker's grant."""
    cap_refusal(exr_claiming(11_000, 12_000, 33))


def test_a_webp_canvas_whose_opening_exceeds_the_cap_is_refused_before_opening() -> None:
    """Pillow's WebP decoder sets up its canvases while opening: 11800x11800 is 2.2 GB."""
    cap_refusal(webp_canvas_bomb(11_800, 11_800))


def test_a_header_over_the_smallest_instance_cap_fits_a_larger_one() -> None:
    data = exr_claiming(9000, 9000, 33)  # R, G, B: 972 MB decoded, more with the working copies
    cap_refusal(data, default_limits(decode_cap_bytes=decode_cap_for(2048)))
    assert estimate_decode_bytes(probe(data, default_limits(decode_cap_bytes=decode_cap_for(4096)))) > 2**30


def test_small_files_are_far_under_the_smallest_instance_cap() -> None:
    small = default_limits(decode_cap_bytes=decode_cap_for(512))
    plane = np.full((64, 64), 0.18, np.float32)
    assert normalize(exr_bytes(dict.fromkeys("RGB", plane)), small).width == 64


@pytest.mark.parametrize(("instance", "cap_mib"), [("512", 256), ("2048", 1024), ("4096", 2048)])
def test_the_cap_is_half_the_instance(instance: str, cap_mib: int) -> None:
    assert load_image_limits({"INSTANCE_MEMORY_MB": instance}).decode_cap_bytes == cap_mib * 2**20


def test_an_instance_size_flex_does_not_offer_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="INSTANCE_MEMORY_MB"):
        load_image_limits({"INSTANCE_MEMORY_MB": "1024"})
