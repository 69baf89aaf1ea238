"""What each decoder holds beyond the bitmap it produces, from the header alone.

``estimate_decode_bytes`` admits an image against the process's memory budget and sizes the
sandbox's address-space limit, so it must not be fooled by a decoder that allocates far more than
the bitmap.  Measured on Pillow 13 (peak RSS against the estimate, before this module):

- a progressive (or multi-scan) JPEG: libjpeg keeps every DCT coefficient of the full-size image,
  whatever the draft scale: 2 bytes per coefficient, 64 per 8x8 block of each component
  (an 11800x11800 CMYK header: 1.1 GB against an estimate of 43 MB);
- WebP: libwebp's animation decoder keeps two canvases, and the frame is copied into a ``bytes``
  object and then into the image (a lossless 11800x11800: 2.15 GB against 549 MB);
- RLE BMP: Pillow decodes RLE in Python into a growing ``bytearray``, copied once more into
  ``bytes`` before the image gets it (418 MB against 151 MB); and it does so one pixel at a time,
  about 0.1 us a pixel, so RLE bitmaps are also bounded in size (``MAX_RLE_BMP_PIXELS``);
- PNG: the decoder's previous and current scanline (large only for very wide images: a
  139,000,000x1 row is 278 MB of scanlines).
"""

from __future__ import annotations

import math

from PIL import ImageFile

from shared.core.errors import ErrorCode
from shared.imaging.failures import image_error
from shared.imaging.formats import sniff
from shared.imaging.headers import webp_canvas
from shared.imaging.structure import JpegLayout

#: Bytes a DCT coefficient takes in libjpeg's buffer (JCOEF is a 16-bit short), per 8x8 block.
COEFFICIENT_BLOCK_BYTES = 64 * 2
#: Canvas-sized copies the WebP path makes beyond the image itself (two decoder canvases, bytes).
WEBP_EXTRA_COPIES = 3
#: The RLE decoder's bytearray (with its growth slack) and the bytes copy, per pixel byte.
RLE_BUFFER_FACTOR = 2.25
#: RLE BMPs above this many pixels are refused: Pillow's pure-Python RLE decoder pads each row one
#: byte at a time, about 0.1 us a pixel, so 11800x11800 took 14 s.
MAX_RLE_BMP_PIXELS = 40_000_000
#: Copies of an embedded ICC profile alive while a file is opened and normalized, whatever the
#: format: the decoder's, ``Image.info``'s, Little CMS's parse for the conversion to sRGB.  Measured
#: with an 8 MB profile through the sandbox: 3 copies beyond the input for JPEG, WebP and TIFF
#: (probe and normalize alike), 3.4 for a JPEG's normalize.
ICC_COPIES = 4
#: Samples per pixel of each PNG colour type (IHDR), for the scanline size.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def decoder_bytes(
    image: ImageFile.ImageFile, fmt: str, data: bytes, jpeg: JpegLayout | None, memory_budget: int
) -> int:
    """The decoder's own working memory for this opened (not decoded) image; may refuse it.

    A JPEG whose coefficient buffer alone is over ``memory_budget`` is refused with
    ``ImageTooComplex`` (it could only run alone, and would still not fit), as is an RLE BMP over
    ``MAX_RLE_BMP_PIXELS``.
    """
    width, height = image.size
    if fmt == "JPEG" and jpeg is not None and jpeg.buffered:
        needed = coefficient_bytes(width, height, jpeg.components or ((1, 1),) * len(image.getbands()))
        if needed > memory_budget:
            raise image_error(
                ErrorCode.IMAGE_TOO_COMPLEX,
                f"a progressive or multi-scan JPEG of this size keeps {needed / 2**20:,.0f} MiB of DCT "
                f"coefficients while decoding, more than the {memory_budget / 2**20:,.0f} MiB memory budget "
                "(IMAGE_MEMORY_BUDGET_MB); save it as baseline (non-progressive) JPEG or PNG",
                format=fmt,
                width=width,
                height=height,
                mode=image.mode,
                limit="jpeg-coefficients",
                coefficient_bytes=needed,
                memory_budget_bytes=memory_budget,
            )
        return needed
    if fmt == "WEBP":
        return WEBP_EXTRA_COPIES * width * height * 4
    if fmt == "BMP" and image.tile and image.tile[0][0] == "bmp_rle":
        if width * height > MAX_RLE_BMP_PIXELS:
            raise image_error(
                ErrorCode.IMAGE_TOO_COMPLEX,
                f"an RLE-compressed BMP of {width}x{height} = {width * height:,} pixels: more than "
                f"{MAX_RLE_BMP_PIXELS:,}, which the RLE decoder (pure Python) cannot decode in time; "
                "save it uncompressed or as PNG",
                format=fmt,
                width=width,
                height=height,
                mode=image.mode,
                limit="rle-bmp-pixels",
                max_pixels=MAX_RLE_BMP_PIXELS,
            )
        return math.ceil(RLE_BUFFER_FACTOR * width * height)
    if fmt == "PNG":
        return 2 * png_scanline_bytes(width, data)
    return 0


def icc_bytes(image: ImageFile.ImageFile) -> int:
    """What the file's ICC profile costs while it is normalized (``ICC_COPIES`` copies).  Known once
    the header is open: every decoder reads the profile while opening."""
    profile = image.info.get("icc_profile")
    return ICC_COPIES * len(profile) if isinstance(profile, bytes) else 0


def png_scanline_bytes(width: int, data: bytes) -> int:
    """One scanline as the PNG decoder buffers it: filter byte + ``width`` x bit depth x samples."""
    depth, colour = (data[24], data[25]) if len(data) >= 26 else (16, 6)
    bits = width * depth * _PNG_CHANNELS.get(colour, 4)
    return -(-bits // 8) + 1


def opening_bytes(data: bytes) -> int:
    """What merely opening the file allocates (``probe`` does that much): WebP's decoder sets up its
    canvases while opening, so a probe of a big WebP needs them; other decoders only parse headers.
    Read from the raw header, so it is known before any decoder runs."""
    if sniff(data) != "WEBP":
        return 0
    canvas = webp_canvas(data)
    return 0 if canvas is None else WEBP_EXTRA_COPIES * canvas[0] * canvas[1] * 4


def coefficient_bytes(width: int, height: int, sampling: tuple[tuple[int, int], ...]) -> int:
    """libjpeg's whole-image coefficient buffer: per component, its 8x8 blocks (padded to whole
    MCUs) x 128 bytes."""
    h_max = max(h for h, _v in sampling)
    v_max = max(v for _h, v in sampling)
    mcus_x = math.ceil(width / (8 * h_max))
    mcus_y = math.ceil(height / (8 * v_max))
    return sum(mcus_x * h * mcus_y * v for h, v in sampling) * COEFFICIENT_BLOCK_BYTES
