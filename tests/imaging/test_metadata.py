"""No metadata leaves: EXIF (GPS), XMP, ICC, text chunks and resolution are all stripped."""

from __future__ import annotations

from PIL import Image, PngImagePlugin

from shared.imaging import normalize
from tests.imaging.factories import XMP, encode, exif_bytes, png_chunk_types, quadrants, reopen, srgb_profile

PIXELS_ONLY = {b"IHDR", b"IDAT", b"IEND"}


def assert_pixels_only(data: bytes) -> None:
    assert set(png_chunk_types(data)) <= PIXELS_ONLY, png_chunk_types(data)
    output = reopen(data)
    assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "dpi", "Comment", "Author"} & set(output.info)
    assert len(output.getexif()) == 0
    assert isinstance(output, PngImagePlugin.PngImageFile)
    assert output.text == {}


def test_jpeg_photo_metadata_is_stripped(limits):
    source = quadrants(1200, 800)
    data = encode(
        source,
        "JPEG",
        exif=exif_bytes(orientation=1, gps=True),
        icc_profile=srgb_profile(),
        xmp=XMP,
        comment=b"internal project code name",
        dpi=(300, 300),
    )
    reopened = reopen(data)  # the input really carries all of it
    assert reopened.getexif().get_ifd(0x8825)
    assert {"icc_profile", "xmp", "comment", "dpi"} <= set(reopened.info)
    thumb = normalize(data, limits)
    assert_pixels_only(thumb.data)
    assert b"secret author" not in thumb.data
    assert b"Test Camera Maker" not in thumb.data


def test_png_text_exif_icc_and_phys_are_stripped(limits):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone@example.com")
    info.add_text("Comment", "compressed comment " * 20, zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    data = encode(
        Image.new("RGBA", (300, 200), (10, 20, 30, 128)),
        "PNG",
        pnginfo=info,
        exif=exif_bytes(gps=True),
        icc_profile=srgb_profile(),
        dpi=(144, 144),
    )
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"pHYs"} <= set(png_chunk_types(data))
    thumb = normalize(data, limits)
    assert_pixels_only(thumb.data)
    assert thumb.mode == "RGBA"


def test_webp_and_small_unchanged_images_are_stripped_too(limits):
    # An image already inside the box is not resized; its metadata must still go.
    small = Image.new("RGB", (64, 48), (90, 90, 90))
    for fmt in ("WEBP", "PNG", "JPEG"):
        data = encode(small, fmt, exif=exif_bytes(gps=True), icc_profile=srgb_profile())
        thumb = normalize(data, limits)
        assert (thumb.width, thumb.height) == (64, 48)
        assert_pixels_only(thumb.data)


def test_gif_comment_is_stripped(limits):
    data = encode(Image.new("P", (40, 40), 3), "GIF", comment=b"a comment in a GIF")
    thumb = normalize(data, limits)
    assert_pixels_only(thumb.data)
    assert b"a comment in a GIF" not in thumb.data
