"""What every thumbnail must be (the API contract), checked the same way by every test that makes one."""

from __future__ import annotations

from shared.imaging import ImageLimits, Thumbnail
from shared.imaging.geometry import swaps_axes
from shared.imaging.limits import API_MAX_THUMBNAIL_BYTES
from tests.imaging.factories import png_chunk_types, reopen

PIXELS_ONLY = {b"IHDR", b"IDAT", b"IEND"}


def assert_meets_the_contract(thumb: Thumbnail, limits: ImageLimits) -> None:
    """PNG, inside the box, never larger than the source (as displayed), pixels only, under 5 MiB."""
    assert thumb.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert thumb.content_type == "image/png"
    assert set(png_chunk_types(thumb.data)) <= PIXELS_ONLY
    assert len(thumb.data) <= min(limits.max_output_bytes, API_MAX_THUMBNAIL_BYTES)
    image = reopen(thumb.data)
    assert image.size == (thumb.width, thumb.height)
    assert image.mode in ("L", "LA", "RGB", "RGBA")
    assert 1 <= thumb.width <= limits.max_width
    assert 1 <= thumb.height <= limits.max_height
    source = thumb.source
    shown = (source.height, source.width) if swaps_axes(source.orientation) else (source.width, source.height)
    assert thumb.width <= shown[0]
    assert thumb.height <= shown[1]
