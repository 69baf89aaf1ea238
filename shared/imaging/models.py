"""What the image stage tells the rest of the app: the probed input and the finished thumbnail.

Both are frozen so a result can be logged, put in a dead-letter payload or handed between threads
without anyone changing it on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImageInfo:
    """The input as its header describes it (nothing was decoded to learn this).

    ``width`` and ``height`` are the stored size, before EXIF orientation; ``mode`` is Pillow's mode
    for the decoded pixels (a 16-bit grayscale PNG is ``I;16``; Pillow decodes 16-bit colour PNGs
    straight to 8-bit ``RGB``/``RGBA``).

    ``decode_scale``, ``reduce_factor``, ``reduce_factors``, ``decoder_bytes`` and ``target`` are the plan
    :func:`shared.imaging.probe` worked out for the limits it was given: JPEG draft denominator; the
    integer box reduction after decoding (``reduce_factor`` the same on both axes, ``reduce_factors``
    per axis, which is what is applied: a 40,000,000x1 row is reduced along its length); and the
    decoder's own working memory beyond the bitmap (a progressive JPEG's coefficient buffer, the
    WebP decoder's canvas copies, an RLE BMP's buffers, PNG row buffers).  They only feed
    :func:`shared.imaging.estimate_decode_bytes`; the defaults mean "full size", the conservative
    answer for an ``ImageInfo`` built by hand.

    ``bit_depth`` is bits per stored sample (16 for a 16-bit TIFF, 10 for most iPhone HEICs, 16 or 32
    for EXR half or float); ``hdr`` marks scene-linear float data that is tone-mapped (EXR, float
    TIFF; see :mod:`shared.imaging.hdr`).
    """

    format: str
    width: int
    height: int
    mode: str
    frames: int = 1
    byte_size: int = 0
    orientation: int = 1
    decode_scale: int = 1
    reduce_factor: int = 1
    reduce_factors: tuple[int, int] | None = None
    decoder_bytes: int = 0
    target: tuple[int, int] | None = None
    bit_depth: int = 8
    hdr: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def as_dict(self) -> dict[str, Any]:
        """The fields a person needs in a dead-letter payload (the decode plan is left out)."""
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "frames": self.frames,
            "bytes": self.byte_size,
            "orientation": self.orientation,
            "bitDepth": self.bit_depth,
            "hdr": self.hdr,
        }


@dataclass(frozen=True)
class Thumbnail:
    """The exact bytes to upload, with what went in and how long it took.

    ``data`` is kept out of the repr so that logging a thumbnail never dumps a PNG into a log line.
    ``steps`` names what was done (``draft 1/4``, ``reduce 1/4``, ``orientation 6``, ``icc->sRGB``,
    ...), for the CLI and for support.
    """

    data: bytes = field(repr=False)
    content_type: str
    width: int
    height: int
    source: ImageInfo
    mode: str
    seconds: float
    steps: tuple[str, ...] = ()

    def report(self) -> dict[str, object]:
        """A JSON-able summary for logs and the CLI."""
        return {
            "input": self.source.as_dict(),
            "output": {
                "format": "PNG",
                "contentType": self.content_type,
                "width": self.width,
                "height": self.height,
                "mode": self.mode,
                "bytes": len(self.data),
            },
            "seconds": round(self.seconds, 4),
            "steps": list(self.steps),
        }


def describe(thumb: Thumbnail) -> str:
    """Two human lines for ``python -m shared.cli normalize``: what came in, what goes out."""
    src = thumb.source
    turned = f", EXIF orientation {src.orientation}" if src.orientation != 1 else ""
    frames = f", {src.frames} frames (first used)" if src.frames > 1 else ""
    steps = f" [{', '.join(thumb.steps)}]" if thumb.steps else ""
    depth = f", {src.bit_depth}-bit" + (" HDR (tone-mapped)" if src.hdr else "")
    return (
        f"in:  {src.format} {src.width}x{src.height} {src.mode}{depth}, {src.byte_size:,} bytes{turned}{frames}\n"
        f"out: PNG {thumb.width}x{thumb.height} {thumb.mode}, {len(thumb.data):,} bytes, "
        f"{thumb.seconds:.3f} s{steps}"
    )
