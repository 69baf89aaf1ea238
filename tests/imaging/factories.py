"""Test images, all made in code: Pillow for ordinary files, a few hand-built byte layouts for what
Pillow cannot write (16-bit colour PNG, a PNG "bomb" header, a PSD, a non-sRGB ICC profile)."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageCms

# One implementation for the benchmark corpus and the tests; re-exported so tests import every
# helper from here.
from bench.corpus import encode as encode
from bench.corpus import png_chunk as png_chunk

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def quadrants(width: int, height: int) -> Image.Image:
    """Four solid quadrants: red top-left, green top-right, blue bottom-left, white bottom-right."""
    image = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    image.paste(RED, (0, 0, half_w, half_h))
    image.paste(GREEN, (half_w, 0, width, half_h))
    image.paste(BLUE, (0, half_h, half_w, height))
    image.paste(WHITE, (half_w, half_h, width, height))
    return image


def corner_colours(image: Image.Image) -> tuple[tuple[int, ...], ...]:
    """The colour at the centre of each quadrant: top-left, top-right, bottom-left, bottom-right."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    points = ((w // 4, h // 4), (3 * w // 4, h // 4), (w // 4, 3 * h // 4), (3 * w // 4, 3 * h // 4))
    return tuple(_pixel(rgb, point) for point in points)


def _pixel(image: Image.Image, point: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(point)
    assert isinstance(value, tuple)
    return value


def nearly(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def noise(mode: str, size: tuple[int, int], seed: int = 7) -> Image.Image:
    """Uniform random pixels: the worst case for PNG compression."""
    bands = len(mode)
    return Image.frombytes(mode, size, random.Random(seed).randbytes(size[0] * size[1] * bands))


def gradient16(width: int, height: int) -> Image.Image:
    """A horizontal 16-bit grayscale ramp over the full 0..65535 range (mode I;16)."""
    ramp = Image.linear_gradient("L").rotate(90).resize((width, height), Image.Resampling.BILINEAR)
    return ramp.convert("I").point(lambda v: v * 257).convert("I;16")


# -- hand-built PNGs ---------------------------------------------------------------------------


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, scanlines: bytes) -> bytes:
    """A PNG from already-filtered scanlines (each row starts with its filter byte)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(scanlines))
        + png_chunk(b"IEND", b"")
    )


def png16_rgb_gradient(width: int, height: int) -> bytes:
    """A 16-bit RGB PNG: red ramps 0..65535 left to right, green the reverse, blue constant 40000."""
    rows = bytearray()
    row = bytearray()
    for x in range(width):
        value = round(x * 65535 / (width - 1))
        row += struct.pack(">HHH", value, 65535 - value, 40000)
    for _y in range(height):
        rows += b"\x00" + row
    return raw_png(width, height, 16, 2, bytes(rows))


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny, valid-looking PNG whose header claims a huge RGB canvas."""
    return raw_png(width, height, 8, 2, b"\x00" * 16)


def png_chunk_types(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    kinds: list[bytes] = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def png_ihdr(data: bytes) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type from a PNG's IHDR."""
    width, height, depth, colour = struct.unpack_from(">IIBB", data, 16)
    return width, height, depth, colour


# -- other hand-built files --------------------------------------------------------------------


def gif_frame_bomb(frame_w: int = 30000, frame_h: int = 30000) -> bytes:
    """A GIF with a 1x1 screen whose first frame claims a huge extent."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, frame_w, frame_h, 0)
    return screen + descriptor + b"\x02\x02\x44\x01\x00" + b"\x3b"


def webp_canvas_bomb(width: int = 16383, height: int = 16383) -> bytes:
    """A WebP (VP8X) header claiming a huge canvas, followed by nothing useful."""
    payload = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def psd_rgb(width: int = 4, height: int = 4) -> bytes:
    """A minimal uncompressed 8-bit RGB Photoshop file (Pillow's PSD plugin can open it)."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers
    return header + sections + struct.pack(">H", 0) + bytes(3 * width * height)


def swapped_primaries_profile() -> bytes:
    """An RGB ICC profile that is sRGB with the red and blue primaries exchanged.

    Pixels tagged with it that say (255, 0, 0) are blue; a converter that ignores the profile
    leaves them red, so the test can tell the two apart.
    """
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack_from(">I", profile, 128)
    swap = {b"rXYZ": b"bXYZ", b"bXYZ": b"rXYZ"}
    for index in range(count):
        at = 132 + 12 * index
        signature = bytes(profile[at : at + 4])
        if signature in swap:
            profile[at : at + 4] = swap[signature]
    profile[84:100] = bytes(16)  # the profile ID (an MD5) no longer matches; zero means "not set"
    return bytes(profile)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int | None = None, gps: bool = False) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    exif[0x010F] = "Test Camera Maker"
    if gps:
        exif[0x8825] = {1: "N", 2: (47.0, 22.0, 10.0), 3: "E", 4: (8.0, 32.0, 30.0)}
    return exif.tobytes()


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="secret author"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def tiff16_rgb(width: int, height: int) -> bytes:
    """An uncompressed 16-bit RGB TIFF (BitsPerSample 16,16,16), written by hand: Pillow reads such
    files (as 8-bit RGB) but writes 16-bit TIFFs only with one channel.  Red ramps left to right."""
    import struct

    pixels = bytearray()
    for _y in range(height):
        for x in range(width):
            pixels += struct.pack("<3H", x * 65535 // max(1, width - 1), 20000, 40000)
    entries = [  # (tag, type, count, value or offset); type 3 SHORT, 4 LONG
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 3, 0),  # offset filled below
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 1, 0),  # offset filled below
        (277, 3, 1, 3),
        (278, 4, 1, height),
        (279, 4, 1, len(pixels)),
        (284, 3, 1, 1),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    bits_at = 8 + ifd_size
    data_at = bits_at + 6
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        value = {258: bits_at, 273: data_at}.get(tag, value)
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 and count == 1 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0) + struct.pack("<3H", 16, 16, 16) + pixels
    return bytes(out)
