"""From any accepted image to the PNG thumbnail the iTwin API stores.

The order of the steps is chosen for speed and memory: decode as little as possible (JPEG DCT
scaling), reduce before anything else touches the full frame, and do the per-pixel work (colour
management, mode conversion, rotation) on the small image.  Only the first frame of an animation
is used; Pillow opens there.

Nothing but pixels leaves: the output image's ``info`` is emptied before encoding, so no EXIF
(GPS positions of a photo), XMP, ICC profile, text chunk or resolution is written.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, ImageFile

from shared.core.errors import ErrorCode
from shared.imaging.decoders.jpeg import decode_strict
from shared.imaging.decoders.png import load_checked
from shared.imaging.encode import encode_png
from shared.imaging.failures import decode_failure, image_error
from shared.imaging.geometry import Size, draft_request, fit_within, stored_box
from shared.imaging.icc import to_srgb
from shared.imaging.limits import ImageLimits
from shared.imaging.models import ImageInfo, Thumbnail
from shared.imaging.modes import drop_opaque_alpha, resizable_converter, straighten, to_output_mode
from shared.imaging.orientation import apply_orientation, read_orientation
from shared.imaging.probe import DECODE_ERRORS, explain, open_checked, open_probed, out_of_memory
from shared.imaging.resize import Box, downscale

CONTENT_TYPE = "image/png"


def normalize(data: bytes, limits: ImageLimits, info: ImageInfo | None = None) -> Thumbnail:
    """The thumbnail to upload for ``data``: PNG, 8-bit, inside the box, under the byte limit.

    Probes first (every refusal of ``probe`` applies), then decodes.  A caller that already has
    ``probe(data, limits)`` passes it as ``info`` so the header is not inspected twice (counting a
    GIF's frames walks the whole file).  Raises ThumbnailError with the detected format, size and
    mode in ``details``.

    The returned ``source`` is ``info`` with the orientation actually applied: a PNG's ``eXIf``
    chunk may follow the pixel data, where the header-only probe cannot see it.
    """
    started = time.perf_counter()
    try:
        with _opened(data, limits, info) as (image, probed):
            if probed.hdr:
                picture, source, steps = _render_hdr(image, probed, limits)
            else:
                picture, source, steps = _render(image, data, probed, (limits.max_width, limits.max_height))
        encoded, final, notes = encode_png(picture, limits.max_output_bytes, source)
    except MemoryError as exc:
        raise out_of_memory("decoding", len(data), info) from exc
    return Thumbnail(
        data=encoded,
        content_type=CONTENT_TYPE,
        width=final.width,
        height=final.height,
        source=source,
        mode=final.mode,
        seconds=time.perf_counter() - started,
        steps=(*steps, *notes),
    )


@contextmanager
def _opened(
    data: bytes, limits: ImageLimits, info: ImageInfo | None
) -> Iterator[tuple[ImageFile.ImageFile, ImageInfo]]:
    """The opened image and its description: probed here, or reopened for the caller's ``info``."""
    if info is None:
        with open_checked(data, limits) as opened:
            yield opened
    else:
        with open_probed(data, limits, info) as image:
            yield image, info


def _render(
    image: ImageFile.ImageFile, data: bytes, info: ImageInfo, box: Size
) -> tuple[Image.Image, ImageInfo, list[str]]:
    """Decode, shrink into ``box``, convert to an output mode in sRGB, orient; strip metadata.

    Returns the picture, ``info`` with the orientation found after decoding, and the steps.
    """
    steps: list[str] = []
    region = _draft(image, info, box, steps)
    pixels = _decode(image, info, data)
    # Read again: a PNG's eXIf chunk may follow the pixels, where the probe could not see it.
    info = dataclasses.replace(info, orientation=read_orientation(image))
    fit = fit_within((info.width, info.height), stored_box(box, info.orientation))
    picture, (fx, fy) = downscale(pixels, fit, resizable_converter(pixels), region)
    if fx == fy > 1:
        steps.append(f"reduce 1/{fx}")
    elif fx != fy:
        steps.append(f"reduce 1/{fx} x 1/{fy}")
    picture = _finish(picture, image.info.get("icc_profile"), info.orientation, steps)
    if picture is image or picture is pixels:  # nothing changed: copy out of the source's buffer
        picture = picture.copy()
    picture.info = {}
    return picture, info, steps


def _render_hdr(
    image: ImageFile.ImageFile, info: ImageInfo, limits: ImageLimits
) -> tuple[Image.Image, ImageInfo, list[str]]:
    """EXR and float TIFF: shrunk in linear light, then tone-mapped (see ``shared.imaging.hdr``)."""
    from shared.imaging.hdr import render_hdr

    box = (limits.max_width, limits.max_height)
    picture, steps = render_hdr(image, info, box, limits.hdr_exposure_stops, _decode)
    picture = drop_opaque_alpha(picture)
    picture.info = {}
    return picture, info, steps


def _finish(picture: Image.Image, icc: object, orientation: int, steps: list[str]) -> Image.Image:
    """The per-pixel work, done on the small image where it is cheap: sRGB, output mode, rotation."""
    picture, icc_note = to_srgb(straighten(picture), icc if isinstance(icc, bytes) else None)
    if icc_note:
        steps.append(icc_note)
    picture = drop_opaque_alpha(to_output_mode(picture))
    if orientation != 1:
        steps.append(f"orientation {orientation}")
    return apply_orientation(picture, orientation)


def _draft(image: ImageFile.ImageFile, info: ImageInfo, box: Size, steps: list[str]) -> Box | None:
    """Ask the JPEG decoder for a DCT-scaled decode (1/2, 1/4, 1/8) at no less than twice the final
    size; the box is swapped for orientations 5-8 so the scale is right for the rotated result.
    Returns the picture's region in decoded pixels, or ``None`` when nothing was drafted."""
    if info.format != "JPEG":
        return None
    fit = fit_within((info.width, info.height), stored_box(box, info.orientation))
    drafted = image.draft(None, draft_request(fit))
    if drafted is None:
        return None
    _mode, region = drafted
    scale = round(info.width / region[2])
    if scale > 1:
        steps.append(f"draft 1/{scale}")
    return region


def _decode(image: ImageFile.ImageFile, info: ImageInfo, data: bytes | None = None) -> Image.Image:
    """The decoded pixels; truncation and damage become CORRUPT_IMAGE (truncated images are never
    accepted: ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays off).

    With ``data``, damage the format can show is looked for as well: a JPEG is decoded by a strict
    libjpeg-turbo (``decoders.jpeg``), which refuses what Pillow's decoder only warns about, and a
    PNG's chunk CRCs are checked (``decoders.png``).  The JPEG's pixels are then a new image;
    for every other format they are ``image`` itself.
    """
    try:
        if data is not None and info.format == "JPEG":
            return decode_strict(image, data)
        if data is not None and info.format == "PNG":
            load_checked(image, data)  # the CRCs are checked while the pixels decode
        else:
            image.load()
    except Image.DecompressionBombError as exc:
        raise image_error(ErrorCode.IMAGE_TOO_MANY_PIXELS, str(exc), info) from exc
    except (*DECODE_ERRORS, RuntimeError) as exc:  # RuntimeError: libavif's and libheif's failures
        raise decode_failure(exc, info, explain(exc)) from exc
    return image
