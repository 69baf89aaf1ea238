"""The format registry: one ordered tuple drives sniffing, and a format added to a registry
instance is probed and normalized through its own hooks.

The throwaway format is QOI, decoded by Pillow's own plugin (``PIL/QoiImagePlugin.py`` in the
installed Pillow 13: ``QoiImageFile`` reads the ``qoif`` header, ``Image.save(..., "QOI")`` writes
one); the signature checks follow ``shared/imaging/formats`` (TGA 2.0 footer: the last 18 bytes
``TRUEVISION-XFILE.\\0``; OpenEXR magic ``76 2f 31 01``; ICO/CUR: ``00 00 01 00`` with a non-zero
entry count and a zero reserved byte).
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, QoiImagePlugin

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging import normalize, probe
from shared.imaging.formats import FORMATS, allowed_formats, sniff
from shared.imaging.formats.bounds import too_complex
from shared.imaging.formats.exr import MAGIC as EXR_MAGIC
from shared.imaging.formats.spec import ImageFormat
from shared.imaging.formats.tga import FOOTER as TGA_FOOTER
from tests.imaging.factories import encode, reopen

GREEN = (20, 180, 60)


def _qoi_decoder() -> type[ImageFile.ImageFile]:
    return QoiImagePlugin.QoiImageFile


#: QOI as a decoded format: one entry, with the defaults for every hook it does not need.
QOI = ImageFormat("QOI", matches=lambda data: data.startswith(b"qoif"), decoder=_qoi_decoder)


def with_entry(entry: ImageFormat, formats: tuple[ImageFormat, ...] = FORMATS) -> tuple[ImageFormat, ...]:
    """The registry with ``entry`` in place of the entry of the same name (QOI is refused by default)."""
    return tuple(entry if existing.name == entry.name else existing for existing in formats)


def qoi_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, GREEN).save(buffer, "QOI")
    return buffer.getvalue()


def test_a_format_added_to_a_registry_is_probed_and_normalized_through_it(limits):
    data = qoi_bytes()
    with pytest.raises(ThumbnailError) as refused:
        probe(data, limits)
    assert refused.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT
    assert refused.value.details["format"] == "QOI"

    formats = with_entry(QOI)
    assert "QOI" in allowed_formats(limits, formats)
    info = probe(data, limits, formats=formats)
    assert (info.format, info.width, info.height, info.mode) == ("QOI", 64, 48, "RGB")
    thumb = normalize(data, limits, formats=formats)
    assert thumb.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert (thumb.width, thumb.height) == (64, 48)
    assert reopen(thumb.data).convert("RGB").getpixel((10, 10)) == GREEN
    assert normalize(data, limits, info, formats=formats).data == thumb.data


def test_the_added_formats_structure_and_decode_hooks_are_what_probe_and_normalize_call(limits):
    def too_many_blocks(data: bytes) -> None:
        raise too_complex("qoi-blocks", "QOI", "too many blocks", data, 1)

    def damaged(_image: ImageFile.ImageFile, _data: bytes) -> Image.Image:
        raise ValueError("the test format's checksum does not match")

    data = qoi_bytes((8, 8))
    with pytest.raises(ThumbnailError) as bounded:
        probe(data, limits, formats=with_entry(dataclasses.replace(QOI, check_structure=too_many_blocks)))
    assert bounded.value.code is ErrorCode.IMAGE_TOO_COMPLEX
    assert bounded.value.details["limit"] == "qoi-blocks"

    with pytest.raises(ThumbnailError) as corrupt:
        normalize(data, limits, formats=with_entry(dataclasses.replace(QOI, decode=damaged)))
    assert corrupt.value.code is ErrorCode.CORRUPT_IMAGE
    assert "checksum" in corrupt.value.message


def test_the_registry_holds_every_format_once_in_sniffing_order():
    assert [entry.name for entry in FORMATS] == [
        "PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "PDF", "EPS", "PSD", "SVG", "AVIF", "HEIF",
        "JPEG2000", "JPEGXL", "OPENEXR", "HDR", "QOI", "DDS", "ZIP", "GZIP", "TGA", "ICO", "HTML", "XML",
    ]  # fmt: skip


def test_a_tga_footer_after_the_exr_magic_is_an_exr_because_magic_numbers_come_first():
    data = EXR_MAGIC + b"\x00" * 64 + TGA_FOOTER
    assert sniff(data) == "OPENEXR"
    footer_first = (*(e for e in FORMATS if e.name == "TGA"), *(e for e in FORMATS if e.name != "TGA"))
    assert sniff(data, footer_first) == "TGA"


def test_an_ico_is_ico_and_a_targa_header_that_looks_like_one_is_tga():
    assert sniff(encode(Image.new("RGB", (16, 16), GREEN), "ICO")) == "ICO"
    # An uncompressed colour-mapped Targa header can begin 00 00 01 00 like an ICO directory.
    targa_like = b"\x00\x00\x01\x00\x01\x00" + b"\x00" * 40 + TGA_FOOTER
    assert sniff(targa_like) == "TGA"
    ico_first = tuple(sorted(FORMATS, key=lambda entry: entry.name != "ICO"))
    assert sniff(targa_like, ico_first) == "ICO"


@settings(max_examples=25, derandomize=True, deadline=None)
@given(
    magic=st.sampled_from(
        [(b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF89a", "GIF"), (EXR_MAGIC, "OPENEXR"), (b"qoif", "QOI")]
    ),
    body=st.binary(max_size=200),
)
def test_a_leading_magic_wins_over_a_trailing_tga_footer(magic: tuple[bytes, str], body: bytes):
    prefix, name = magic
    data = prefix + body + TGA_FOOTER
    assume(b"%PDF-" not in data[:1024] and data[4:8] != b"ftyp")  # PDF and ISO-BMFF are tried earlier
    assert sniff(data) == name
