"""The wire between the host and a worker: length-prefixed JSON headers, each optionally followed
by raw bytes (the blob going in, the PNG coming back).

JSON, not pickle: the worker parses hostile input, so whatever it sends back is treated as data;
unpickling it would let a compromised worker run code in the host.  The raw bytes travel through
the pipe straight from the caller's buffer into one ``bytes`` object on the other side (buffered
``read(n)`` fills its result in place), so neither side makes an extra full copy.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from typing import IO, Any

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging.models import ImageInfo, Thumbnail

_LENGTH = struct.Struct(">I")
#: A header is a few hundred bytes; anything longer means the stream is out of step.
MAX_HEADER_BYTES = 1024 * 1024


class ChannelClosedError(EOFError):
    """The other side closed the pipe (exited or was killed) before a whole frame arrived."""


def write_frame(stream: IO[bytes], header: dict[str, Any], payload: bytes | memoryview | None = None) -> None:
    """Send ``header`` (and ``payload``, whose length goes in the header as ``size``)."""
    body = json.dumps({**header, "size": 0 if payload is None else len(payload)}, default=str).encode()
    stream.write(_LENGTH.pack(len(body)) + body)
    if payload is not None and len(payload):
        stream.write(payload)
    stream.flush()


def read_header(stream: IO[bytes]) -> dict[str, Any]:
    """The next header; the payload (``header["size"]`` bytes) is left for ``read_payload``."""
    length = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))[0]
    if length > MAX_HEADER_BYTES:
        raise ChannelClosedError(f"a {length:,}-byte header: the stream is out of step")
    header = json.loads(_read_exactly(stream, length))
    if not isinstance(header, dict):
        raise ChannelClosedError("a header that is not a JSON object")
    return header


def read_payload(stream: IO[bytes], header: dict[str, Any]) -> bytes:
    return _read_exactly(stream, int(header.get("size", 0)))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size) if size else b""
    if data is None or len(data) != size:
        raise ChannelClosedError(f"the pipe closed after {0 if data is None else len(data)} of {size} bytes")
    return data


# -- results as JSON ---------------------------------------------------------------------------------


def info_to_json(info: ImageInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def info_from_json(data: dict[str, Any]) -> ImageInfo:
    """The ``ImageInfo`` again (JSON turned its size pairs into lists)."""
    pairs = {key: _pair(data.get(key)) for key in ("reduce_factors", "target")}
    return ImageInfo(**{**data, **pairs})


def _pair(value: Any) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def thumbnail_to_json(thumb: Thumbnail) -> dict[str, Any]:
    return {
        "content_type": thumb.content_type,
        "width": thumb.width,
        "height": thumb.height,
        "source": info_to_json(thumb.source),
        "mode": thumb.mode,
        "seconds": thumb.seconds,
        "steps": list(thumb.steps),
    }


def thumbnail_from_json(data: dict[str, Any], png: bytes) -> Thumbnail:
    return Thumbnail(
        data=png,
        content_type=str(data["content_type"]),
        width=int(data["width"]),
        height=int(data["height"]),
        source=info_from_json(data["source"]),
        mode=str(data["mode"]),
        seconds=float(data["seconds"]),
        steps=tuple(str(step) for step in data["steps"]),
    )


def error_to_json(error: ThumbnailError) -> dict[str, Any]:
    return {"code": error.code.value, "message": error.message, "details": error.details, "transient": error.transient}


def error_from_json(data: dict[str, Any]) -> ThumbnailError:
    return ThumbnailError(
        ErrorCode(data["code"]), str(data["message"]), details=dict(data["details"]), transient=bool(data["transient"])
    )
