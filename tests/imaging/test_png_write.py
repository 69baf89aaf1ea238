"""The fast PNG writer: every image it writes decodes back to exactly its pixels.

Checked with the real decoders: Pillow's PNG reader (``PngImagePlugin``, which inflates the IDAT
with zlib and undoes the filters in ``ZipDecode.c``), zlib's own ``decompress`` of the joined
two-band stream (its Adler-32 check included), and our CRC walk (``formats.png.check_crcs``).
Pillow's encoder has no option to choose the row filter (``ZipCodecs.h``: ``ZIP_PNG`` filters
adaptively, ``ZIP_PNG_PALETTE`` not at all), which is why the writer exists; the Up filter and the
chunk layout follow the PNG specification (filter type 2; IHDR, IDAT, IEND with CRC-32).
"""

from __future__ import annotations

import io
import struct
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.imaging.formats.png import check_crcs
from shared.imaging.png_write import TWO_BANDS_ABOVE_BYTES, write_png
from tests.imaging.factories import noise


def _decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def _picture(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """Noise over a gradient with a flat block: rows alike and unlike, so the filter matters."""
    grain = noise(mode, size, seed=seed)
    if mode == "P":
        grain.putpalette(bytes(range(256)) * 3)
        return grain
    base = Image.linear_gradient("L").resize(size).convert(mode)
    picture = Image.blend(base, grain, 0.3)
    picture.paste(Image.new(mode, (max(1, size[0] // 3), max(1, size[1] // 3))), (0, 0))
    return picture


@settings(derandomize=True, max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA", "P"]),
    width=st.integers(1, 700),
    height=st.integers(1, 400),
    level=st.sampled_from([1, 9]),
    seed=st.integers(0, 2**16),
)
def test_what_is_written_decodes_back_to_the_same_pixels(mode, width, height, level, seed):
    picture = _picture(mode, (width, height), seed)
    data = write_png(picture, level)
    check_crcs(data)
    back = _decoded(data)
    assert back.mode == mode
    assert back.size == (width, height)
    if mode == "P":  # not an output mode: Pillow's encoder wrote it (it may renumber the palette)
        assert back.convert("RGB").tobytes() == picture.convert("RGB").tobytes()
    else:
        assert back.tobytes() == picture.tobytes()


def test_a_big_image_is_deflated_in_two_bands_that_zlib_reads_as_one_stream():
    picture = noise("RGB", (800, 450), seed=3)
    data = write_png(picture, 1)
    chunks = _chunks(data)
    assert [kind for kind, _body in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    filtered = zlib.decompress(chunks[1][1])  # checks the joined stream's Adler-32
    stride = 800 * 3 + 1
    assert len(filtered) == 450 * stride > TWO_BANDS_ABOVE_BYTES
    assert {filtered[row * stride] for row in range(450)} == {2}  # Up on every row
    # The first band ends with a sync flush: an empty stored block, 00 00 ff ff, inside the stream.
    assert b"\x00\x00\xff\xff" in chunks[1][1]
    assert _decoded(data).tobytes() == picture.tobytes()


def test_only_pixels_are_written_whatever_the_image_carries():
    picture = noise("RGBA", (64, 48), seed=5)
    picture.info = {"dpi": (300, 300), "icc_profile": b"x" * 200, "exif": b"Exif\x00\x00"}
    assert [kind for kind, _body in _chunks(write_png(picture, 1))] == [b"IHDR", b"IDAT", b"IEND"]
