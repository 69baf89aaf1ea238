"""Bounds on a file's structure, checked by walking its block headers before any decoder sees it.

Pillow parses some structure in Python, once per block: PNG chunks, JPEG markers and fill bytes,
TIFF IFDs (Pillow's frame count is quadratic: 100,000 IFDs, 44 s) and GIF frames; libjpeg repeats
its work once per progressive scan.  None of these has a use at extreme counts, so each format's
``check_structure`` refuses them with ``ImageTooComplex`` (``details.limit`` names the bound) after
skipping from header to header, which reads a few bytes per block and parses nothing.  The bounds
themselves live with their formats; what several formats share is here.
"""

from __future__ import annotations

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging.failures import image_error

#: TIFF IFDs (pages) and GIF frames: a multi-page TIFF or an animated GIF is rarely beyond a few
#: hundred.
MAX_FRAMES = 10_000


def too_complex(limit: str, fmt: str, what: str, data: bytes, bound: int, **known: int) -> ThumbnailError:
    """``ImageTooComplex`` for a structure over the bound ``limit`` names."""
    return image_error(
        ErrorCode.IMAGE_TOO_COMPLEX,
        f"the {fmt} file has {what}; no real image needs that many, and parsing them costs seconds",
        None,
        format=fmt,
        bytes=len(data),
        limit=limit,
        max_count=bound,
        **known,
    )
