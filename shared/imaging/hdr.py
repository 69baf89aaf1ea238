"""The HDR render path (OpenEXR, 32-bit float TIFF): shrink in linear light, then tone-map small.

Resampling has to happen on the linear values: averaging after tone mapping darkens every bright
edge (a lamp filament next to a dark wall), and tone-mapping the full 8K frame would cost a pass of
float maths over 33 M pixels where 400 K suffice.  Each plane is reduced by the same integer box
factor as the 8-bit path (``geometry.reduce_factor``), converted to float32 one strip at a time
(a float16 EXR channel is never copied whole), then resampled with LANCZOS to the exact fit; only
that small image is tone-mapped (``shared.imaging.tonemap``), with the exposure chosen from it.

numpy and the OpenEXR bindings are imported here and in ``formats.exr`` only, i.e. only when an
HDR image is decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image, ImageFile

from shared.core.errors import ErrorCode
from shared.imaging.failures import decode_failure, image_error
from shared.imaging.formats.exr import ExrImageFile
from shared.imaging.geometry import Size, fit_within, reduce_factors, stored_box
from shared.imaging.models import ImageInfo
from shared.imaging.orientation import apply_orientation, read_orientation
from shared.imaging.resize import downscale, strip_bytes, strip_rows, tile_columns

#: Float arrays alive at once while tone-mapping the small image (planes, straight colour,
#: luminance, logs, curve temporaries), each 4 bytes a pixel of the fitted size.
#: The estimate counts them at the reduced size (up to 4x the fitted pixels), so 8 suffice.
TONEMAP_ARRAYS = 8

#: Planes shrunk at once (the function instance's two cores).
SHRINK_THREADS = 2

#: What the OpenEXR bindings raise for a damaged or truncated file.
EXR_ERRORS = (RuntimeError, ValueError, OSError, TypeError, KeyError, EOFError, IndexError)


def render_hdr(
    image: ImageFile.ImageFile,
    info: ImageInfo,
    box: Size,
    fixed_stops: float | None,
    decode: Callable[[ImageFile.ImageFile, ImageInfo], object],
) -> tuple[Image.Image, list[str]]:
    """The 8-bit picture for an HDR image, fitted into ``box`` and oriented; and the steps taken.

    ``decode`` loads a Pillow-decoded image (float TIFF) with the 8-bit path's error mapping.
    """
    from shared.imaging.tonemap import tone_map

    steps: list[str] = []
    orientation = info.orientation
    if isinstance(image, ExrImageFile):
        fit = fit_within((info.width, info.height), stored_box(box, orientation))
        source = _exr_planes(image, info)
        has_alpha = image.mode.endswith("A")
        if has_alpha and _is_opaque(source[-1]):
            source, has_alpha = source[:-1], False
            steps.append("opaque alpha dropped")
        planes = _shrink_all(source, fit)
    else:
        decode(image, info)
        # Pillow applies a TIFF's Orientation tag while loading (and removes the tag): read it again
        # so the picture is turned once.
        orientation = read_orientation(image)
        fit = fit_within(image.size, stored_box(box, orientation))
        small, _factor = downscale(image, fit, None)
        planes = [small]
        has_alpha = False
    fx, fy = reduce_factors((info.width, info.height), fit)
    if (fx, fy) != (1, 1):
        steps.append(f"reduce 1/{fx} (linear)" if fx == fy else f"reduce 1/{fx}x1/{fy} (linear)")
    mapped = tone_map([_array(plane) for plane in planes], has_alpha, fixed_stops)
    how = "auto" if mapped.automatic else "HDR_EXPOSURE_STOPS"
    steps.append(f"tone-map ACES filmic, exposure {round(mapped.stops, 2) + 0.0:+.2f} stops ({how}), sRGB")
    picture = _merge(mapped.planes)
    if orientation != 1:
        steps.append(f"orientation {orientation}")
    return apply_orientation(picture, orientation), steps


def estimate_hdr_bytes(info: ImageInfo, fixed_overhead: int, decoding: int) -> int:
    """Peak memory of ``render_hdr`` beyond the input bytes (see ``admission``), for the box
    reduction ``probe`` planned (``info.reduce_factors``).

    = the decoded channels as stored and the decoder's buffers: ``info.decoder_bytes`` plus
      ``decoding``, the format's ``hdr_decode_bytes`` (an EXR's beauty channels and the OpenEXR
      library's chunk buffers; a float TIFF's ``F`` frame, 4 bytes a pixel)
    + per beauty plane, the reduced float32 plane; or, when nothing is reduced, three float32
      copies of it (converted, reduced canvas, resampled)
    + a float32 tile (counted twice) per shrinking thread, the tone-mapping arrays (counted at
      the reduced size, no smaller than the fitted one) and ``fixed_overhead``.
    """
    pixels = info.width * info.height
    decoded = info.decoder_bytes + decoding
    planes = {"L": 1, "LA": 2, "RGB": 3}.get(info.mode, 4)
    fx, fy = info.reduce_factors or (info.reduce_factor, info.reduce_factor)
    reduced = -(-info.width // fx) * -(-info.height // fy)
    if (fx, fy) != (1, 1):
        working = planes * reduced * 4 + SHRINK_THREADS * 2 * strip_bytes(info.width, fy, fx)
    else:
        working = 3 * planes * pixels * 4
    tonemap = TONEMAP_ARRAYS * reduced * 4
    return decoded + working + tonemap + fixed_overhead


def _exr_planes(image: ExrImageFile, info: ImageInfo) -> list[Any]:
    try:
        return image.linear_planes()
    except EXR_ERRORS as exc:
        raise decode_failure(exc, info) from exc
    except SyntaxError as exc:
        raise image_error(ErrorCode.CORRUPT_IMAGE, f"the OpenEXR data is inconsistent: {exc}", info) from exc


def _is_opaque(alpha: Any) -> bool:
    """Whether an alpha channel is exactly 1.0 everywhere (renderers often write such RGBA), by
    comparing the bit patterns as integers: far cheaper than float16 arithmetic, and it saves
    reducing a whole plane."""
    import numpy as np

    one = {np.dtype(np.float16): (np.uint16, 0x3C00), np.dtype(np.float32): (np.uint32, 0x3F800000)}
    if alpha.dtype not in one:
        return False
    bits, pattern = one[alpha.dtype]
    return bool((alpha.view(bits) == pattern).all())


def _shrink_all(planes: list[Any], fit: Size) -> list[Image.Image]:
    """Every plane shrunk, two at a time: both the numpy conversion and Pillow's reduce release
    the GIL, so the planes of an 8K render shrink in about half the time on two cores."""
    if len(planes) == 1:
        return [_shrink(planes[0], fit)]
    with ThreadPoolExecutor(max_workers=SHRINK_THREADS) as pool:
        return list(pool.map(lambda plane: _shrink(plane, fit), planes))


def _shrink(plane: Any, fit: Size) -> Image.Image:
    """One channel (2-D numpy array, any float or uint dtype) as an ``F`` image of exactly ``fit``.

    Box-reduced per axis (``geometry.reduce_factors``: a 40,000,000x1 row is reduced along its
    length) one tile at a time, each tile converted to float32 on its own (``resize``'s strip and
    tile sizes, about 2 MiB), then LANCZOS.
    """
    import numpy as np

    height, width = plane.shape
    fx, fy = reduce_factors((width, height), fit)
    rows = strip_rows(width, fy) if (fx, fy) != (1, 1) else height
    columns = tile_columns(width, rows, fx) if (fx, fy) != (1, 1) else width
    reduced = Image.new("F", (-(-width // fx), -(-height // fy)))
    buffer = np.empty((min(rows, height), columns), np.float32)  # one tile buffer, reused
    for top in range(0, height, rows):
        for left in range(0, width, columns):
            source = plane[top : top + rows, left : left + columns]
            tile = buffer[: source.shape[0], : source.shape[1]]
            if source.shape[1] != columns:  # the last column of tiles: a contiguous buffer of its own
                tile = np.empty(source.shape, np.float32)
            np.copyto(tile, source, casting="unsafe")
            small = _reduce_strip(tile, (fx, fy))
            # NaN or inf in a source pixel makes its reduced block non-finite: checking the reduced
            # tile (1/(fx*fy) the size) is cheap, and only a tile that has them is cleaned and redone.
            if not np.isfinite(np.asarray(small)).all():
                np.nan_to_num(tile, copy=False, nan=0.0, posinf=65504.0, neginf=-65504.0)
                small = _reduce_strip(tile, (fx, fy))
            reduced.paste(small, (left // fx, top // fy))
    if reduced.size == fit:
        return reduced
    region = (0.0, 0.0, width / fx, height / fy)
    return reduced.resize(fit, Image.Resampling.LANCZOS, box=region)


def _reduce_strip(tile: Any, factors: Size) -> Image.Image:
    frame = Image.frombuffer("F", (tile.shape[1], tile.shape[0]), tile, "raw", "F", 0, 1)
    return frame.reduce(factors) if factors != (1, 1) else frame


def _array(plane: Image.Image) -> Any:
    import numpy as np

    return np.asarray(plane, dtype=np.float32)


def _merge(planes: list[Any]) -> Image.Image:
    """8-bit planes (grey or RGB, then alpha) as one Pillow image."""
    import numpy as np

    if len(planes) == 1:
        return Image.fromarray(planes[0])
    return Image.fromarray(np.ascontiguousarray(np.stack(planes, axis=-1)))  # LA, RGB or RGBA
