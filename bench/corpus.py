"""The benchmark's standard corpus: render-like frames at 4000x3000, 8K and 16K, built in code.

The scene imitates an iModel render rather than a photo or pure noise: a sky and a ground plane
(smooth gradients), flat-shaded boxes with edges (buildings), a thin CAD grid, and a little grain
(+-5 levels) such as a denoised path tracer leaves.  Content matters: noise makes PNG decode and
encode slower and JPEG files bigger, a flat image makes everything look fast.  The file sizes are
printed with the results so the figures can be judged.

Files are cached in ``bench/out/corpus`` (gitignored) under a name that includes
``CORPUS_VERSION``: the 16K PNG alone takes about a minute to encode.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageMath

from shared.imaging.encode import save_png

CORPUS_VERSION = 1

#: zlib's default level, which is what Pillow writes when not told otherwise: the files are the
#: ones a renderer's default export would give (and the cached corpus stays byte-identical).
PNG_LEVEL = 6

K8 = (7680, 4320)
K16 = (15360, 8640)
PHOTO = (4000, 3000)


@dataclass(frozen=True)
class Item:
    """One corpus file: how to make it, and whether it is part of ``--quick`` runs."""

    name: str
    description: str
    suffix: str
    build: Callable[[], bytes]
    quick: bool = True

    def path(self, directory: Path) -> Path:
        return directory / f"{self.name}-v{CORPUS_VERSION}.{self.suffix}"


def render_scene(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """A render-like RGB frame; the same scene at every size."""
    width, height = size
    horizon = height * 55 // 100
    sky = Image.linear_gradient("L").resize((width, horizon))
    ground = Image.linear_gradient("L").resize((width, height - horizon)).point(lambda v: 90 + v // 3)
    red = Image.new("L", size)
    red.paste(sky.point(lambda v: 120 + v // 4), (0, 0))
    red.paste(ground, (0, horizon))
    green = red.point(lambda v: min(255, v + 15))
    blue = Image.new("L", size)
    blue.paste(sky.point(lambda v: 255 - v // 5), (0, 0))
    blue.paste(ground.point(lambda v: v - 40), (0, horizon))
    scene = Image.merge("RGB", (red, green, blue))
    _draw_buildings(ImageDraw.Draw(scene), size, horizon, random.Random(seed))
    grain = Image.frombytes("L", size, random.Random(seed + 1).randbytes(width * height))
    return Image.blend(scene, Image.merge("RGB", (grain, grain, grain)), 0.04)


def _draw_buildings(draw: ImageDraw.ImageDraw, size: tuple[int, int], horizon: int, rng: random.Random) -> None:
    width, height = size
    unit = width / 1920
    for _ in range(60):
        left = rng.uniform(0, width * 0.95)
        box_w = rng.uniform(40, 220) * unit
        box_h = rng.uniform(60, 520) * unit
        base = horizon + rng.uniform(0, height - horizon) * 0.6
        shade = rng.randrange(60, 230)
        face = (shade, shade - rng.randrange(0, 40), shade - rng.randrange(0, 60))
        side = tuple(max(0, channel - 45) for channel in face)
        draw.rectangle((left, base - box_h, left + box_w, base), fill=face, outline=(20, 20, 25), width=round(2 * unit))
        draw.polygon(
            [
                (left + box_w, base - box_h),
                (left + box_w * 1.3, base - box_h * 1.08),
                (left + box_w * 1.3, base - box_h * 0.08),
                (left + box_w, base),
            ],
            fill=side,
        )
    step = round(48 * unit)
    for x in range(0, width, step):
        draw.line((x, horizon, x, height), fill=(70, 70, 80), width=1)
    for y in range(horizon, height, step // 2):
        draw.line((0, y, width, y), fill=(70, 70, 80), width=1)


def jpeg(size: tuple[int, int], orientation: int | None = None) -> bytes:
    image = render_scene(size)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    return encode(image, "JPEG", quality=90, exif=exif.tobytes())


def png_rgb(size: tuple[int, int], level: int = PNG_LEVEL) -> bytes:
    return save_png(render_scene(size), level)


def png_rgba(size: tuple[int, int], level: int = PNG_LEVEL) -> bytes:
    """The scene with a vignette alpha (a render with a transparent background, partly)."""
    image = render_scene(size)
    alpha = Image.radial_gradient("L").resize(size).point(lambda v: 255 if v < 128 else 255 - (v - 128) * 2)
    image.putalpha(alpha)
    return save_png(image, level)


def png_gray16(size: tuple[int, int]) -> bytes:
    """A 16-bit grayscale PNG (Pillow mode I;16), e.g. a depth or luminance pass."""
    gray = render_scene(size).convert("L").convert("I")
    fine = Image.frombytes("L", size, random.Random(3).randbytes(size[0] * size[1])).convert("I")
    return save_png(_add(gray.point(lambda v: v * 256), fine).convert("I;16"), PNG_LEVEL)


def png_rgb16(size: tuple[int, int]) -> bytes:
    """A 16-bit-per-channel RGB PNG, which Pillow cannot write: built here with zlib.

    The high bytes are the scene, the low bytes fine noise (real 16-bit data).  Rows use filter
    type 0; real encoders pick adaptive filters, which decode at about the same speed.
    """
    width, height = size
    red, green, blue = render_scene(size).split()
    low = random.Random(4).randbytes(width * height)
    pixels = bytearray(width * height * 6)
    for index, channel in enumerate((red, green, blue)):
        pixels[2 * index :: 6] = channel.tobytes()
        pixels[2 * index + 1 :: 6] = low
    stride = width * 6
    compressor = zlib.compressobj(6)
    view = memoryview(pixels)
    idat = bytearray()
    for row in range(height):
        idat += compressor.compress(b"\x00")
        idat += compressor.compress(view[row * stride : (row + 1) * stride])
    idat += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", bytes(idat)) + png_chunk(b"IEND", b"")


def _add(image: Image.Image, other: Image.Image) -> Image.Image:
    result = ImageMath.lambda_eval(lambda args: args["a"] + args["b"], a=image, b=other)
    assert isinstance(result, Image.Image)
    return result


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload, CRC.  For PNGs Pillow cannot write (16-bit colour);
    the image tests build their hand-made PNGs with it too."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """The image saved as ``fmt`` with Pillow's ``params``: for the formats production never writes
    (PNG goes through ``shared.imaging.encode.save_png``).  The image tests use it as well."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


ITEMS: tuple[Item, ...] = (
    Item("jpeg-8k", "8K JPEG q90", "jpg", lambda: jpeg(K8)),
    Item("jpeg-4000x3000-exif6", "4000x3000 JPEG q90, EXIF orientation 6", "jpg", lambda: jpeg(PHOTO, 6)),
    Item("png-8k-rgb", "8K RGB PNG", "png", lambda: png_rgb(K8)),
    Item("png-8k-rgba", "8K RGBA PNG", "png", lambda: png_rgba(K8)),
    Item("png-8k-rgb16", "8K 16-bit RGB PNG", "png", lambda: png_rgb16(K8)),
    Item("png-8k-gray16", "8K 16-bit grayscale PNG", "png", lambda: png_gray16(K8)),
    Item("jpeg-16k", "16K JPEG q90", "jpg", lambda: jpeg(K16), quick=False),
    Item("png-16k-rgb", "16K RGB PNG", "png", lambda: png_rgb(K16), quick=False),
)


def ensure(item: Item, directory: Path, log: Callable[[str], None] = print) -> Path:
    """The item's file, generated (and cached) if it is not there yet."""
    path = item.path(directory)
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    log(f"generating {item.description} -> {path} (cached for later runs)")
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(item.build())
    partial.replace(path)
    return path
