"""A PNG's CRCs are checked while Pillow decodes it, and a CRC failure is what is reported.

Real Pillow decodes (``PngImagePlugin``, which hands IDAT to zlib without looking at its CRC) and
real damage: a flipped CRC byte (the pixels still decode) and a zeroed run inside the IDAT (zlib
fails too, and the CRC failure must still be the reason given).
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from shared.imaging.formats.png import load_checked
from tests.imaging.factories import encode, noise


def _idat(data: bytes) -> tuple[int, int]:
    """Offset and length of the first IDAT chunk's data."""
    start = data.index(b"IDAT")
    (length,) = struct.unpack_from(">I", data, start - 4)
    return start + 4, length


ORIGINAL = encode(noise("RGB", (300, 200), seed=11), "PNG")


def test_an_intact_png_loads_with_its_pixels() -> None:
    image = Image.open(io.BytesIO(ORIGINAL))
    load_checked(image, ORIGINAL)
    assert image.tobytes() == noise("RGB", (300, 200), seed=11).tobytes()


def test_a_wrong_crc_is_reported_though_the_pixels_decode() -> None:
    damaged = bytearray(ORIGINAL)
    start, length = _idat(ORIGINAL)
    damaged[start + length] ^= 0x01  # the CRC's first byte
    Image.open(io.BytesIO(bytes(damaged))).load()  # Pillow alone accepts it
    with pytest.raises(ValueError, match=r"IDAT chunk at byte .* fails its CRC check"):
        load_checked(Image.open(io.BytesIO(bytes(damaged))), bytes(damaged))


def test_the_crc_failure_wins_over_the_decoders_own_error() -> None:
    damaged = bytearray(ORIGINAL)
    start, length = _idat(ORIGINAL)
    damaged[start + length // 2 : start + length // 2 + 2048] = bytes(2048)
    with pytest.raises(Exception) as pillow:  # noqa: PT011 - whatever Pillow raises for it
        Image.open(io.BytesIO(bytes(damaged))).load()
    with pytest.raises(ValueError, match="fails its CRC check") as caught:
        load_checked(Image.open(io.BytesIO(bytes(damaged))), bytes(damaged))
    assert type(caught.value.__context__) is type(pillow.value)
