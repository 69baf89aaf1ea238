"""Reducing on two threads gives exactly the pixels of one call.

Real Pillow on both sides: the banded ``resize._reduce`` against ``Image.reduce``.  What makes the
split exact is in Pillow's ``src/libImaging/Reduce.c``: ``ImagingReduce`` takes a box of the
source and each output pixel comes from its own block (the last, partial block by
``ImagingReduceCorners``), so bands whose edges are multiples of the factor cover the same blocks.
The split threshold is lowered here so small images take the banded path and many shapes stay
cheap.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.imaging import resize


def _picture(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """Noise with flat blocks: every weight matters, and rounding ties happen."""
    rng = random.Random(seed)
    picture = Image.effect_noise(size, 64).convert("RGB")
    picture.paste((rng.randrange(256), 40, 200), (0, 0, size[0] // 3, size[1] // 2))
    return picture.convert(mode)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(
    mode=st.sampled_from(["L", "La", "RGB", "RGBa", "RGBX", "CMYK"]),
    width=st.integers(1, 400),
    height=st.integers(1, 300),
    factors=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    seed=st.integers(0, 1000),
)
def test_reduce_on_two_threads_gives_the_pixels_of_one_call(mode, width, height, factors, seed):
    image = _picture(mode, (width, height), seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resize, "TWO_THREADS_FROM_PIXELS", 1)
        patch.setattr(resize, "STRIP_BYTES", 4 * width * 5)  # bands of a few rows (whole blocks)
        banded = resize._reduce(image, factors, None)
    assert banded.tobytes() == image.reduce(factors).tobytes()


def test_an_8k_frame_is_reduced_in_bands_and_a_small_one_in_one_call():
    """The threshold, on the size that matters: an 8K RGB PNG reduced by 4 takes the second thread
    (``threads.beside``), a 1000x900 frame does not."""
    calls: list[str] = []
    real = resize.beside

    def counting(background, foreground):
        calls.append("beside")
        return real(background, foreground)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resize, "beside", counting)
        assert resize._reduce(Image.new("RGB", (7680, 4320)), 4, None).size == (1920, 1080)
        assert calls == ["beside"]
        resize._reduce(Image.new("RGB", (1000, 900)), 4, None)
        assert calls == ["beside"]
