"""Render-farm and phone formats made in code (nothing downloaded): EXR, HEIC, AVIF, TIFF, TGA.

Used by the image tests and by the benchmark's format rows.  numpy and the OpenEXR bindings are
imported only by the EXR and float-TIFF builders.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from PIL import Image

from bench.corpus import K8, render_scene


def exr_bytes(channels: dict[str, Any], *, compression: str = "ZIP", tiled: bool = False, tile: int = 64) -> bytes:
    """An OpenEXR file of ``channels`` (name -> 2-D float16/float32 array), written by the official
    bindings; ``compression`` names an ``OpenEXR.*_COMPRESSION`` constant without the suffix."""
    import OpenEXR

    header: dict[str, Any] = {"compression": getattr(OpenEXR, f"{compression}_COMPRESSION")}
    if tiled:
        header["type"] = OpenEXR.tiledimage
        tiles = OpenEXR.TileDescription()
        tiles.xSize, tiles.ySize, tiles.mode = tile, tile, OpenEXR.ONE_LEVEL
        header["tiles"] = tiles
    else:
        header["type"] = OpenEXR.scanlineimage
    buffer = io.BytesIO()
    with OpenEXR.File(header, channels) as exr:
        exr.write(buffer)
    return buffer.getvalue()


def exr_claiming(width: int, height: int, channels: int) -> bytes:
    """A real EXR of ``channels`` float channels (R, G, B and AOVs), 8x8, whose header is then made
    to claim ``width`` x ``height``: a few KB that a header-only reader takes at its word."""
    import numpy as np

    plane = np.zeros((8, 8), np.float32)
    data = bytearray(
        exr_bytes({f"aov{index:02d}.R": plane for index in range(channels - 3)} | dict.fromkeys("RGB", plane))
    )
    at = data.index(b"dataWindow\x00box2i\x00") + len(b"dataWindow\x00box2i\x00") + 4
    data[at : at + 16] = struct.pack("<4i", 0, 0, width - 1, height - 1)
    return bytes(data)


def exr_many_channels(side: int, channels: int) -> bytes:
    """A real ``side`` x ``side`` EXR of ``channels`` float channels of zeros (ZIP): R, G, B and
    AOVs, as a render farm writes every pass into one file.  Small on disk, huge if all decoded."""
    import numpy as np

    plane = np.zeros((side, side), np.float32)
    return exr_bytes({f"aov{index:02d}.R": plane for index in range(channels - 3)} | dict.fromkeys("RGB", plane))


def padded_icc(size: int) -> bytes:
    """An sRGB ICC profile padded to ``size`` bytes (its header's length field says so): as big as
    a file's embedded profile can make the decoders' copies of it."""
    from PIL import ImageCms

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile += bytes(size - len(profile))
    profile[0:4] = struct.pack(">I", len(profile))
    return bytes(profile)


def heic_with_icc(icc_bytes: int) -> bytes:
    """A small HEIC carrying an ICC profile of ``icc_bytes``."""
    image = render_scene((64, 48))
    image.info["icc_profile"] = padded_icc(icc_bytes)
    return heic_bytes(image)


def uniform_exr(size: tuple[int, int], rgb: tuple[float, float, float], alpha: float | None = None, **kw: Any) -> bytes:
    """A flat linear colour as half-float RGB(A)."""
    import numpy as np

    width, height = size
    channels = {name: np.full((height, width), value, np.float16) for name, value in zip("RGB", rgb, strict=True)}
    if alpha is not None:
        channels["A"] = np.full((height, width), alpha, np.float16)
    return exr_bytes(channels, **kw)


def scene_exr(size: tuple[int, int], *, alpha: bool = True, seed: int = 1) -> bytes:
    """The benchmark scene as a linear half-float render (sRGB decoded, highlights pushed past
    1.0 like a real render's sky and lamps), ZIP-compressed, RGBA."""
    import numpy as np

    rgb = np.asarray(render_scene(size, seed), dtype=np.float32) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    linear *= 1.0 + 3.0 * linear  # a little HDR headroom: whites reach 4.0
    channels = {name: linear[..., i].astype(np.float16) for i, name in enumerate("RGB")}
    if alpha:
        channels["A"] = np.ones(linear.shape[:2], np.float16)
    return exr_bytes(channels)


def heic_bytes(image: Image.Image, *, orientation: int | None = None, quality: int = 85) -> bytes:
    """``image`` as HEIC (x265 through pillow-heif), optionally with an EXIF orientation; pillow-heif
    stores that as HEIF rotation boxes, the way a phone does."""
    import pillow_heif

    params: dict[str, Any] = {"quality": quality}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, **params)
    return buffer.getvalue()


def heic_10bit(size: tuple[int, int], value: int) -> bytes:
    """A flat grey 10-bit HEIC (``value`` in 0..1023)."""
    import pillow_heif

    width, height = size
    # pillow-heif takes 16-bit samples scaled to the full 16-bit range and stores them as 10-bit.
    sample = struct.pack("<H", value << 6) * 3
    buffer = io.BytesIO()
    pillow_heif.from_bytes("RGB;16", size, sample * width * height).save(buffer, quality=-1)
    return buffer.getvalue()


def tiff_bytes(image: Image.Image, compression: str | None = None, **params: Any) -> bytes:
    buffer = io.BytesIO()
    if compression is not None:
        params["compression"] = compression
    image.save(buffer, "TIFF", **params)
    return buffer.getvalue()


def tiff16_gray(size: tuple[int, int], value: int, compression: str | None = "tiff_lzw") -> bytes:
    return tiff_bytes(Image.new("I;16", size, value), compression)


def tiff16_scene(size: tuple[int, int]) -> bytes:
    """The scene's luminance as a 16-bit greyscale TIFF (Deflate), as a render farm writes depth or
    grey passes.  (Pillow writes 16-bit TIFFs only as one channel.)"""
    grey = render_scene(size).convert("L")
    wide = grey.convert("I").point(lambda v: v * 257).convert("I;16")
    return tiff_bytes(wide, "tiff_adobe_deflate")


def float_tiff(size: tuple[int, int], value: float, compression: str | None = None) -> bytes:
    """A flat single-channel 32-bit float TIFF (SampleFormat 3)."""
    return tiff_bytes(Image.new("F", size, value), compression)


def multipage_tiff(first: Image.Image, *others: Image.Image) -> bytes:
    buffer = io.BytesIO()
    first.save(buffer, "TIFF", save_all=True, append_images=list(others))
    return buffer.getvalue()


def tga_bytes(image: Image.Image, rle: bool = False) -> bytes:
    """A TGA 2.0 file (Pillow writes the TRUEVISION-XFILE footer)."""
    buffer = io.BytesIO()
    image.save(buffer, "TGA", compression="tga_rle" if rle else None)
    return buffer.getvalue()


def avif_bytes(image: Image.Image, quality: int = 80, speed: int = 8) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "AVIF", quality=quality, speed=speed)
    return buffer.getvalue()


def scene_avif() -> bytes:
    return avif_bytes(render_scene(K8))


def float_rgb_tiff(size: tuple[int, int], rgb: tuple[float, float, float]) -> bytes:
    """An uncompressed 32-bit float RGB TIFF (three float samples), written by hand: Pillow can
    neither write nor read one."""
    width, height = size
    pixels = struct.pack("<3f", *rgb) * (width * height)
    entries = [  # tag, type, count, value (types: 3 SHORT, 4 LONG)
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 3, 0),  # BitsPerSample: offset filled below
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 1, 0),  # StripOffsets: filled below
        (277, 3, 1, 3),
        (278, 4, 1, height),
        (279, 4, 1, len(pixels)),
        (339, 3, 3, 0),  # SampleFormat: offset filled below
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    bits_at = 8 + ifd_size
    formats_at = bits_at + 6
    data_at = formats_at + 6
    values = {258: bits_at, 273: data_at, 339: formats_at}
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = values.get(tag, value)
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 and count == 1 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return (
        b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<3H", 32, 32, 32) + struct.pack("<3H", 3, 3, 3) + pixels
    )
