"""OpenEXR renders: the header read here in pure Python, the pixels by the official bindings.

The header is parsed by this module, not by the ``OpenEXR`` bindings, so that every refusal
(pixel cap, deep data, no colour channels) happens from a few hundred bytes, before the library
allocates anything for a data window that a hostile file declares as 2^31 x 2^31.  Only then are
the beauty layer's pixels decoded, by the bindings' ``InputFile`` (the Academy Software
Foundation's own reader: every compression the format defines, scanline and tiled, half, float
and uint channels), into numpy arrays; numpy and the bindings are imported only here, when an
EXR is actually decoded.

The *beauty layer* (the picture a thumbnail shows) is chosen by ``beauty_channels``:

1. unprefixed ``R``, ``G``, ``B`` (and ``A`` if present): the usual single-layer render;
2. otherwise unprefixed ``Y`` (and ``A``): a luminance-only image, shown grey;
3. otherwise the layer ``P`` that has ``P.R``, ``P.G``, ``P.B``, preferring a layer whose last name
   part is ``beauty``, ``combined``, ``rgba``, ``rgb`` or ``color`` (case-insensitive; Blender
   writes ``ViewLayer.Combined.R``), then the shortest name, then alphabetical order; its
   ``P.A`` is the alpha when present.

Of a multi-part file the first part is used.  EXR colour is linear and, by the format's
convention, premultiplied by alpha; ``shared.imaging.hdr`` resamples it as such.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import ImageFile

from shared.core.errors import ErrorCode
from shared.imaging.failures import image_error
from shared.imaging.formats.spec import ImageFormat
from shared.imaging.models import ImageInfo

if TYPE_CHECKING:
    import numpy.typing as npt

MAGIC = b"\x76\x2f\x31\x01"

#: Bytes per sample of each EXR pixel type (0 UINT, 1 HALF, 2 FLOAT) and its bit depth.
_SAMPLE_BYTES = {0: 4, 1: 2, 2: 4}
_TILED, _LONG_NAMES, _DEEP, _MULTIPART = 0x200, 0x400, 0x800, 0x1000

#: Bounds on the header itself, so a flood of attributes or channels is refused while parsing.
MAX_ATTRIBUTES = 1024
MAX_CHANNELS = 1024
MAX_PARTS = 64
#: The OpenEXR library's own buffers: a compressed and an uncompressed chunk per decoding thread,
#: at least this much; more for a chunk of very wide scanlines (``exr_library_bytes``).
EXR_LIBRARY_BYTES = 32 * 1024 * 1024

#: The most scanlines an OpenEXR chunk holds (DWAB; ZIP and PXR24 hold 16, PIZ, B44 and DWAA 32).
EXR_MAX_CHUNK_ROWS = 256

_PREFERRED_LAYERS = ("beauty", "combined", "rgba", "rgb", "color")


@dataclass(frozen=True)
class ExrChannel:
    name: str
    pixel_type: int
    x_sampling: int
    y_sampling: int


@dataclass(frozen=True)
class ExrHeader:
    """What the first part's header says, and the bytes its beauty channels decode to."""

    width: int
    height: int
    channels: tuple[ExrChannel, ...]
    compression: int
    tiled: bool
    parts: int
    decoded_bytes: int

    def beauty(self) -> tuple[str, ...]:
        return beauty_channels([channel.name for channel in self.channels])

    @property
    def bit_depth(self) -> int:
        chosen = set(self.beauty())
        return max(16 if c.pixel_type == 1 else 32 for c in self.channels if c.name in chosen)


def beauty_channels(names: list[str]) -> tuple[str, ...]:
    """The channels of the beauty layer, colour first then alpha (see the module's rule);
    SyntaxError (a corrupt-image error upstream) if the file has no colour layer."""
    present = set(names)
    if {"R", "G", "B"} <= present:
        return ("R", "G", "B", "A") if "A" in present else ("R", "G", "B")
    if "Y" in present:
        return ("Y", "A") if "A" in present else ("Y",)
    layers = sorted(
        {name.rsplit(".", 1)[0] for name in names if "." in name and name.rsplit(".", 1)[1] in ("R", "G", "B")},
        key=lambda layer: (layer.rsplit(".", 1)[-1].lower() not in _PREFERRED_LAYERS, len(layer), layer),
    )
    for layer in layers:
        if {f"{layer}.R", f"{layer}.G", f"{layer}.B"} <= present:
            colour = (f"{layer}.R", f"{layer}.G", f"{layer}.B")
            return (*colour, f"{layer}.A") if f"{layer}.A" in present else colour
    raise SyntaxError(f"no colour layer (R,G,B, Y, or <layer>.R,G,B) among the channels {sorted(names)[:12]}")


def parse_header(data: bytes) -> ExrHeader:
    """The first part's size and channels, from the header bytes only; SyntaxError when damaged."""
    if not data.startswith(MAGIC) or len(data) < 8:
        raise SyntaxError("not an OpenEXR file")
    flags = struct.unpack_from("<I", data, 4)[0]
    if flags & _DEEP:
        raise image_error(
            ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
            "deep (non-image) OpenEXR data has no picture to show; export a flat render",
            format="OPENEXR",
            bytes=len(data),
        )
    pos = 8
    headers: list[dict[str, tuple[str, bytes]]] = []
    while True:
        attributes, pos = _read_attributes(data, pos)
        if not attributes:
            break
        headers.append(attributes)
        if not flags & _MULTIPART or len(headers) >= MAX_PARTS:
            break
    if not headers:
        raise SyntaxError("the OpenEXR header has no attributes")
    sizes = [_part_geometry(part) for part in headers]
    width, height, channels = sizes[0]
    first = headers[0]
    compression = first["compression"][1][0] if "compression" in first and first["compression"][1] else 0
    beauty = set(beauty_channels([c.name for c in channels]))
    decoded = width * height * sum(_SAMPLE_BYTES.get(c.pixel_type, 4) for c in channels if c.name in beauty)
    tiled = bool(flags & _TILED) or "tiles" in first
    return ExrHeader(width, height, channels, compression, tiled, len(headers), decoded)


def _read_attributes(data: bytes, pos: int) -> tuple[dict[str, tuple[str, bytes]], int]:
    attributes: dict[str, tuple[str, bytes]] = {}
    for _ in range(MAX_ATTRIBUTES):
        name, pos = _cstring(data, pos)
        if not name:
            return attributes, pos
        kind, pos = _cstring(data, pos)
        if pos + 4 > len(data):
            raise SyntaxError("the OpenEXR header is truncated")
        (size,) = struct.unpack_from("<i", data, pos)
        pos += 4
        if size < 0 or pos + size > len(data):
            raise SyntaxError(f"the OpenEXR attribute {name!r} claims {size} bytes past the end of the file")
        attributes[name] = (kind, data[pos : pos + size])
        pos += size
    raise SyntaxError(f"the OpenEXR header has more than {MAX_ATTRIBUTES} attributes")


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\x00", pos, pos + 256)
    if end < 0:
        raise SyntaxError("the OpenEXR header is truncated or has a name over 255 bytes")
    # Names are UTF-8 (Blender writes "ViewLayer.Combiné.R"); the bindings key channels by the
    # decoded name, so this must decode them the same way.  Invalid UTF-8 is damage (ValueError).
    return data[pos:end].decode("utf-8"), end + 1


def _part_geometry(attributes: dict[str, tuple[str, bytes]]) -> tuple[int, int, tuple[ExrChannel, ...]]:
    if "dataWindow" not in attributes or "channels" not in attributes:
        raise SyntaxError("the OpenEXR header lacks dataWindow or channels")
    window = attributes["dataWindow"][1]
    if len(window) != 16:
        raise SyntaxError("the OpenEXR dataWindow is not a box2i")
    x_min, y_min, x_max, y_max = struct.unpack("<4i", window)
    width, height = x_max - x_min + 1, y_max - y_min + 1
    if width <= 0 or height <= 0:
        raise SyntaxError(f"the OpenEXR dataWindow ({x_min},{y_min})-({x_max},{y_max}) is empty")
    return width, height, _channels(attributes["channels"][1])


def _channels(raw: bytes) -> tuple[ExrChannel, ...]:
    channels: list[ExrChannel] = []
    pos = 0
    while pos < len(raw) and raw[pos] != 0:
        if len(channels) >= MAX_CHANNELS:
            raise SyntaxError(f"the OpenEXR file has more than {MAX_CHANNELS} channels")
        name, pos = _cstring(raw, pos)
        if pos + 16 > len(raw):
            raise SyntaxError("the OpenEXR channel list is truncated")
        pixel_type, _linear, x_sampling, y_sampling = struct.unpack_from("<iB3xii", raw, pos)
        pos += 16
        if pixel_type not in _SAMPLE_BYTES or x_sampling < 1 or y_sampling < 1:
            raise SyntaxError(f"the OpenEXR channel {name!r} has an invalid type or sampling")
        channels.append(ExrChannel(name, pixel_type, x_sampling, y_sampling))
    if not channels:
        raise SyntaxError("the OpenEXR file has no channels")
    return tuple(channels)


class ExrImageFile(ImageFile.ImageFile):
    """An EXR as a Pillow image *header*: size and nominal mode for ``probe``; the pixels come
    from ``linear_planes`` (never ``load``: they are not 8-bit, see ``shared.imaging.hdr``)."""

    format = "OPENEXR"
    format_description = "OpenEXR"
    exr: ExrHeader

    def _open(self) -> None:
        assert self.fp is not None
        self._data: bytes = self.fp.read()
        self.exr = parse_header(self._data)
        beauty = self.exr.beauty()
        chosen = [c for c in self.exr.channels if c.name in beauty]
        names = {c.name for c in self.exr.channels}
        luma_chroma = beauty[0] == "Y" and {"RY", "BY"} & names  # Y alone would render grey
        if luma_chroma or any(c.x_sampling != 1 or c.y_sampling != 1 for c in chosen):
            raise image_error(
                ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
                "subsampled OpenEXR channels (luminance/chroma images) are not supported; export RGB",
                format="OPENEXR",
                width=self.exr.width,
                height=self.exr.height,
                bytes=len(self._data),
            )
        colour = "L" if len(beauty) <= 2 else "RGB"
        self._mode = colour + ("A" if beauty[-1].endswith("A") else "")
        self._size = (self.exr.width, self.exr.height)
        self.tile = []

    def load(self) -> Any:
        raise NotImplementedError("EXR pixels are HDR floats: read them with linear_planes()")

    def linear_planes(self) -> list[npt.NDArray[Any]]:
        """The beauty layer's channels as 2-D arrays (float16, float32 or uint32, as stored), in
        the order ``beauty_channels`` gives.

        Only those channels are decoded, through the bindings' ``InputFile.channels`` (the C++
        ``Imf::InputFile`` with a frame buffer of just these slices; it reads the first part of a
        multi-part file).  ``OpenEXR.File`` decodes every channel of every part: a render with 30
        float AOVs at 1500x1500 took 289 MiB and 6.6 s that way, 32 MiB and 2.5 s this way.
        """
        import numpy as np
        import OpenEXR

        names = list(self.exr.beauty())
        kinds = {channel.name: channel.pixel_type for channel in self.exr.channels}
        exr = OpenEXR.InputFile(io.BytesIO(self._data))
        try:
            raw = exr.channels(names)
        finally:
            exr.close()
        dtypes = {0: np.uint32, 1: np.float16, 2: np.float32}
        planes = []
        for name, samples in zip(names, raw, strict=True):
            dtype = dtypes[kinds[name]]
            if len(samples) != self.width * self.height * np.dtype(dtype).itemsize:
                raise SyntaxError(f"the decoded channel {name} is not {self.width}x{self.height}")
            planes.append(np.frombuffer(samples, dtype).reshape(self.height, self.width))
        return planes


def exr_library_bytes(info: ImageInfo) -> int:
    """The OpenEXR library's chunk buffers: a packed and an unpacked chunk of up to
    ``EXR_MAX_CHUNK_ROWS`` rows of every channel.  For ordinary frames that is under
    ``EXR_LIBRARY_BYTES``; a 40,000,000x1 half RGB row is one 240 MB chunk, which the library
    allocates next to the decoded channels (in a worker granted only the 32 MB it failed with
    EXR_ERR_OUT_OF_MEMORY)."""
    rows = min(info.height, EXR_MAX_CHUNK_ROWS)
    chunk = -(-info.decoder_bytes * rows // max(1, info.height))
    return max(EXR_LIBRARY_BYTES, 2 * chunk)


def _header(image: ImageFile.ImageFile) -> ExrHeader:
    if not isinstance(image, ExrImageFile):
        raise TypeError(f"an OPENEXR entry was given a {type(image).__name__}")
    return image.exr


def _sample_facts(image: ImageFile.ImageFile) -> dict[str, Any]:
    return {"bit_depth": _header(image).bit_depth, "hdr": True}


def _beauty_bytes(image: ImageFile.ImageFile, _data: bytes, _layout: Any, _budget: int) -> int:
    """The beauty channels as stored (only they are decoded; the HDR estimate counts no Pillow
    frame for an EXR)."""
    return _header(image).decoded_bytes


def _decoder() -> type[ImageFile.ImageFile]:
    return ExrImageFile


FORMAT = ImageFormat(
    "OPENEXR",
    matches=lambda data: data.startswith(MAGIC),
    decoder=_decoder,
    decoder_bytes=_beauty_bytes,
    sample_facts=_sample_facts,
    hdr_decode_bytes=exr_library_bytes,
)
