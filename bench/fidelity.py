"""How close a thumbnail is to what the file holds: PSNR against a reference made without our pipeline.

The reference is the full-resolution decode, by the format's own library, brought to 8-bit sRGB and
downscaled once with Pillow's LANCZOS straight to the thumbnail's size.  Our pipeline takes
shortcuts (a JPEG decoded at 1/4, integer box reductions before LANCZOS, HDR shrunk in linear light
before tone mapping), and this measures what they cost.  A damaged or wrongly decoded file (stripes,
grey, a wrong channel order, a double rotation) lands far below ``RIGHT_DB``; the shortcuts land
around 40-50 dB on the benchmark scenes.

HDR files have no 8-bit truth: the reference is the full decode downscaled once with LANCZOS in
linear light (as it should be: averaging after tone mapping darkens bright edges), then tone-mapped
with the exposure our thumbnail reports (``shared.imaging.tonemap``, the same curve); so for them the
figure measures our reductions, not the curve.
"""

from __future__ import annotations

import io
import math
import re
import warnings

import numpy as np
from PIL import Image

#: Below this, the thumbnail is not the same picture (the benches flag the row).
RIGHT_DB = 30.0

_EXR_MAGIC = b"\x76\x2f\x31\x01"
_STOPS = re.compile(r"exposure ([+-][0-9.]+) stops")


def psnr(png: bytes, reference: Image.Image) -> float | None:
    """PSNR in dB (RGB) of a PNG against the reference; ``None`` when the sizes differ."""
    with Image.open(io.BytesIO(png)) as image:
        picture = image.convert("RGB")
    if picture.size != reference.size:
        return None
    a = np.asarray(picture, dtype=np.float64)
    b = np.asarray(reference.convert("RGB"), dtype=np.float64)
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def reference(data: bytes, size: tuple[int, int], steps: tuple[str, ...] = ()) -> Image.Image:
    """The full decode of ``data`` in 8-bit RGB, downscaled with LANCZOS to ``size``.

    ``steps`` are the thumbnail's steps: an HDR reference uses the exposure they name.
    """
    if data.startswith(_EXR_MAGIC):
        return _exr_reference(data, size, steps)
    return _decoded(data).resize(size, Image.Resampling.LANCZOS)


def _decoded(data: bytes) -> Image.Image:
    """Pillow's full decode (pillow-heif for HEIC), 16-bit greys scaled to 8 bits, as RGB."""
    if data[4:12] in (b"ftypheic", b"ftypmif1", b"ftypheix"):
        from pillow_heif import open_heif

        image = open_heif(data, convert_hdr_to_8bit=True).to_pillow()
    else:
        with warnings.catch_warnings():  # the bench made the file: a 16K frame is not a bomb
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(image, dtype=np.uint32)
        image = Image.fromarray((wide >> 8).clip(0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def _exr_reference(data: bytes, size: tuple[int, int], steps: tuple[str, ...]) -> Image.Image:
    import OpenEXR

    from shared.imaging.tonemap import tone_map

    found = next((m for m in map(_STOPS.search, steps) if m), None)
    stops = float(found.group(1)) if found else None
    with OpenEXR.File(io.BytesIO(data), separate_channels=True) as exr:
        channels = exr.channels()
        full = [Image.fromarray(np.asarray(channels[name].pixels, dtype=np.float32), "F") for name in "RGB"]
    small = [np.asarray(plane.resize(size, Image.Resampling.LANCZOS)) for plane in full]
    mapped = tone_map(small, False, stops)
    return Image.merge("RGB", [Image.fromarray(plane, "L") for plane in mapped.planes])
