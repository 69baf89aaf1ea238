"""Header-only inspection: what a blob is, and whether we will decode it at all.

Every refusal here is cheap and happens before a single pixel is decoded or allocated: empty or
oversized blobs, formats outside the allowlist, and images over the pixel cap (a 30000x30000 PNG
of a few dozen bytes is refused in tens of microseconds, without allocating its 3.6 GB bitmap).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PIL import Image, ImageFile, PngImagePlugin

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging.admission import estimate_decode_bytes
from shared.imaging.failures import image_error, is_out_of_memory
from shared.imaging.formats import FORMATS, allowed_formats, decoder_for, format_named, sniff
from shared.imaging.formats.spec import ImageFormat
from shared.imaging.geometry import fit_within, reduce_factor, reduce_factors, scaled_size, stored_box
from shared.imaging.icc import icc_bytes
from shared.imaging.limits import ImageLimits
from shared.imaging.models import ImageInfo
from shared.imaging.orientation import read_orientation

#: What Pillow's decoders raise for a damaged header or stream.  MemoryError is deliberately not
#: here: running out of memory says nothing about the file.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError, KeyError)

#: Pillow's messages that name one of its internal limits rather than what is wrong with the file,
#: and what to say instead.  PNG iCCP, zTXt and iTXt chunks are zlib streams that Pillow refuses to
#: inflate past ``MAX_TEXT_CHUNK`` each (or ``MAX_TEXT_MEMORY`` for all text together).
_LIMIT_MESSAGES = (
    (
        "MAX_TEXT_CHUNK",
        f"a metadata chunk (ICC profile or text) is over {PngImagePlugin.MAX_TEXT_CHUNK // 2**20} MiB "
        "decompressed, more than the decoder accepts; export the image without it",
    ),
    (
        "MAX_TEXT_MEMORY",
        f"the text metadata chunks are over {PngImagePlugin.MAX_TEXT_MEMORY // 2**20} MiB decompressed "
        "in total, more than the decoder accepts; export the image without them",
    ),
)


def probe(data: bytes, limits: ImageLimits, *, formats: tuple[ImageFormat, ...] = FORMATS) -> ImageInfo:
    """Describe the image from its header alone; raise ThumbnailError if we will not decode it.

    ``formats`` is the format registry (``shared.imaging.formats.FORMATS`` unless a caller brings
    its own)."""
    try:
        with open_checked(data, limits, formats) as (_image, info):
            return info
    except MemoryError as exc:
        raise out_of_memory("probe", len(data)) from exc


def out_of_memory(
    step: str, size: int, info: ImageInfo | None = None, fmt: str | None = None, said: str | None = None
) -> ThumbnailError:
    """``ImageTooComplex`` for a MemoryError: a decoder that cannot allocate what the file asks for
    (Pillow refuses rows over 2**31 bits outright; in the sandbox, the address-space limit).
    ``said`` is the library's own message, when it reported the failure as an error of its own."""
    return image_error(
        ErrorCode.IMAGE_TOO_COMPLEX,
        f"{step} ran out of memory: the file asks the decoder for more than it can allocate"
        + (f" ({said})" if said else ""),
        info,
        limit="memory",
        bytes=size,
        format=fmt,
    )


@contextmanager
def open_probed(
    data: bytes, limits: ImageLimits, info: ImageInfo, formats: tuple[ImageFormat, ...] = FORMATS
) -> Iterator[ImageFile.ImageFile]:
    """The opened (not yet decoded) image for bytes ``probe`` already described as ``info``.

    Skips the costly part of ``probe`` (sniffing and walking the file to count frames) and parses
    only the header again, with the decoder ``info.format`` names.  The allowlist and pixel cap of
    ``limits`` still apply (both are arithmetic on ``info``).  Raises ValueError if ``info`` does not
    describe these bytes, so a caller mixing up blobs cannot skip the checks.
    """
    check_blob_size(data, limits, formats)
    decoder = decoder_for(info.format, limits, len(data), formats)
    check_pixel_cap({**info.as_dict(), "bytes": len(data)}, limits)
    image = _open(decoder, info.format, data)
    try:
        if image.size != (info.width, info.height):
            raise ValueError(f"{info} does not describe these bytes: they hold a {image.width}x{image.height} image")
        yield image
    finally:
        image.close()


@contextmanager
def open_checked(
    data: bytes, limits: ImageLimits, formats: tuple[ImageFormat, ...] = FORMATS
) -> Iterator[tuple[ImageFile.ImageFile, ImageInfo]]:
    """The opened (not yet decoded) image and its description, after every header check.

    The image is closed on exit.  ``normalize`` decodes it inside this block; ``probe`` does not.
    """
    check_blob_size(data, limits, formats)
    fmt = sniff(data, formats)
    decoder = decoder_for(fmt, limits, len(data), formats)
    entry = format_named(fmt, formats)
    _check_raw_canvas(entry, data, limits)
    layout = entry.check_structure(data)  # before Pillow parses chunks, markers or IFDs in Python
    image = _open(decoder, entry.name, data)
    try:
        known = {
            "format": entry.name,
            "width": image.width,
            "height": image.height,
            "mode": image.mode,
            "bytes": len(data),
        }
        check_pixel_cap(known, limits)  # before counting frames, which walks the whole file
        info = _describe(image, entry, data, limits, layout)
        check_decode_cap(info, limits, formats)
        yield image, info
    finally:
        image.close()


def check_blob_size(data: bytes, limits: ImageLimits, formats: tuple[ImageFormat, ...] = FORMATS) -> None:
    """EMPTY_BLOB for zero bytes, BLOB_TOO_LARGE above ``max_input_bytes`` (before any parsing)."""
    if not data:
        raise image_error(ErrorCode.EMPTY_BLOB, "the blob has zero bytes", bytes=0)
    if len(data) > limits.max_input_bytes:
        fmt = sniff(data, formats)
        raise image_error(
            ErrorCode.BLOB_TOO_LARGE,
            f"the blob has {len(data):,} bytes, more than the limit of {limits.max_input_bytes:,}",
            format=fmt or "unknown",
            bytes=len(data),
            max_input_bytes=limits.max_input_bytes,
            **_header_facts(fmt, data, limits, formats),
        )


def _header_facts(
    fmt: str | None, data: bytes, limits: ImageLimits, formats: tuple[ImageFormat, ...]
) -> dict[str, Any]:
    """Width, height and mode for an error's details when the header says them cheaply, else {}.

    Best effort, for a blob refused before decoding: WebP and GIF from their raw headers (their
    decoders act on size while opening), other allowed formats by parsing the header only.
    """
    if fmt is None or fmt not in allowed_formats(limits, formats):
        return {}
    canvas = format_named(fmt, formats).raw_canvas(data)
    if canvas is not None:
        return {"width": canvas[0], "height": canvas[1]}
    try:
        with decoder_for(fmt, limits, len(data), formats)(io.BytesIO(data)) as image:
            return {"width": image.width, "height": image.height, "mode": image.mode}
    except DECODE_ERRORS:
        return {}


def check_pixel_cap(known: dict[str, Any], limits: ImageLimits) -> None:
    """IMAGE_TOO_MANY_PIXELS above our cap.

    ``known`` holds the header's ``format``, ``width`` and ``height`` (and whatever else belongs in
    the error's details).  This is the one size limit for every decoder: TIFF is decoded by
    ``formats.tiff.CappedTiffImageFile``, which skips Pillow's process-wide
    ``Image.MAX_IMAGE_PIXELS`` check, so that check neither refuses nor warns about a TIFF our cap
    allows.  (GIF's equivalent is checked from the raw header, see ``_check_raw_canvas``.)
    """
    pixels = known["width"] * known["height"]
    if pixels > limits.max_pixels:
        raise _too_many_pixels(known, limits.max_pixels, "MAX_IMAGE_PIXELS")


def check_decode_cap(info: ImageInfo, limits: ImageLimits, formats: tuple[ImageFormat, ...] = FORMATS) -> None:
    """IMAGE_TOO_COMPLEX (``limit: memory-cap``) when decoding needs more than one decode may have
    (``limits.decode_cap_bytes``, from ``INSTANCE_MEMORY_MB``): such a file is refused from its
    header, instead of running alone over the whole budget or being granted more than the
    instance has."""
    needed = estimate_decode_bytes(info, formats)
    if needed > limits.decode_cap_bytes:
        raise _over_cap(needed, limits, info)


def _over_cap(needed: int, limits: ImageLimits, info: ImageInfo | None = None, **known: Any) -> ThumbnailError:
    return image_error(
        ErrorCode.IMAGE_TOO_COMPLEX,
        f"decoding needs about {needed / 2**20:,.0f} MiB, more than one decode may use "
        f"({limits.decode_cap_bytes / 2**20:,.0f} MiB, half of INSTANCE_MEMORY_MB)",
        info,
        limit="memory-cap",
        estimate_bytes=needed,
        decode_cap_bytes=limits.decode_cap_bytes,
        **known,
    )


def _check_raw_canvas(entry: ImageFormat, data: bytes, limits: ImageLimits) -> None:
    """The pixel cap for decoders that allocate or check while opening (WebP, GIF).

    Pillow's GIF decoder runs Pillow's own bomb check when the first frame outgrows the screen;
    such a GIF is refused here if that check would object, so it never warns.
    """
    canvas = entry.raw_canvas(data)
    if canvas is None:
        return
    width, height = canvas
    known: dict[str, Any] = {"format": entry.name, "width": width, "height": height, "bytes": len(data)}
    if width * height > limits.max_pixels:
        raise _too_many_pixels(known, limits.max_pixels, "MAX_IMAGE_PIXELS")
    opening = entry.opening_bytes(data)  # WebP's decoder sets up its canvases while opening
    if opening > limits.decode_cap_bytes:
        raise _over_cap(opening, limits, None, **known)
    if entry.grows_canvas(data, canvas) and pillow_would_object(width * height):
        threshold = Image.MAX_IMAGE_PIXELS or 0
        raise _too_many_pixels(known, threshold, "Pillow's GIF decoder limit (PIL.Image.MAX_IMAGE_PIXELS)")


def pillow_would_object(pixels: int) -> bool:
    """Whether Pillow's own, process-wide bomb check would warn about (or refuse) this many pixels.

    Some decoders run that check internally while decoding (TIFF always, GIF when a frame outgrows
    the screen).  We read the threshold, never change it: callers refuse such images themselves
    with IMAGE_TOO_MANY_PIXELS, so Pillow's DecompressionBombWarning is never emitted.
    """
    threshold = Image.MAX_IMAGE_PIXELS
    return threshold is not None and pixels > threshold


def _too_many_pixels(known: dict[str, Any], cap: int, what: str) -> ThumbnailError:
    width, height = known["width"], known["height"]
    return image_error(
        ErrorCode.IMAGE_TOO_MANY_PIXELS,
        f"the image is {width}x{height} = {width * height:,} pixels, more than {what} ({cap:,})",
        **known,
        max_pixels=cap,
    )


def _open(decoder: type[ImageFile.ImageFile], fmt: str, data: bytes) -> ImageFile.ImageFile:
    """Parse the header with the one allowed decoder; damage becomes CORRUPT_IMAGE."""
    try:
        return decoder(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise image_error(ErrorCode.IMAGE_TOO_MANY_PIXELS, str(exc), format=fmt, bytes=len(data)) from exc
    except (*DECODE_ERRORS, RuntimeError) as exc:  # RuntimeError: libheif's and libavif's failures
        if is_out_of_memory(exc):
            raise out_of_memory("opening the file", len(data), None, fmt, explain(exc)) from exc
        raise image_error(
            ErrorCode.CORRUPT_IMAGE, f"the {fmt} header could not be read: {explain(exc)}", format=fmt, bytes=len(data)
        ) from exc


def explain(exc: BaseException) -> str:
    """A decoder's error message, reworded where Pillow names its own limit instead of the problem
    (so the person reading the dead letter knows what to change in the file)."""
    message = str(exc)
    for marker, explanation in _LIMIT_MESSAGES:
        if marker in message:
            return f"{explanation} (Pillow: {message})"
    return message


def _describe(
    image: ImageFile.ImageFile, entry: ImageFormat, data: bytes, limits: ImageLimits, layout: Any
) -> ImageInfo:
    """The header's facts plus the decode plan for these limits (see ``ImageInfo``); ``layout``
    is what the format's structure walk learnt."""
    width, height = image.size
    orientation = read_orientation(image)
    fit = fit_within((width, height), stored_box((limits.max_width, limits.max_height), orientation))
    decode_scale = entry.decode_scale(image.size, fit)
    decoded = scaled_size(image.size, decode_scale)
    return ImageInfo(
        format=entry.name,
        width=width,
        height=height,
        mode=image.mode,
        frames=_count_frames(image, entry.name, data),
        byte_size=len(data),
        orientation=orientation,
        decode_scale=decode_scale,
        reduce_factor=reduce_factor(decoded, fit),
        reduce_factors=reduce_factors(decoded, fit),
        target=fit,
        decoder_bytes=entry.decoder_bytes(image, data, layout, limits.memory_budget_bytes) + icc_bytes(image),
        **entry.sample_facts(image),
    )


def _count_frames(image: ImageFile.ImageFile, fmt: str, data: bytes) -> int:
    """Frames in an animation (only the first is used).  GIF and TIFF walk their blocks to count
    (reading block headers, decoding nothing) and return to the first frame."""
    try:
        frames = getattr(image, "n_frames", 1)
    except DECODE_ERRORS as exc:
        raise image_error(
            ErrorCode.CORRUPT_IMAGE,
            f"the {fmt} frame structure is damaged: {exc}",
            format=fmt,
            width=image.width,
            height=image.height,
            mode=image.mode,
            bytes=len(data),
        ) from exc
    return frames if isinstance(frames, int) and frames > 0 else 1
