"""JPEG pixels through a strict libjpeg-turbo decode (simplejpeg, ``strict=True``).

Pillow's JPEG decoder drops libjpeg's warnings: a scan whose data was overwritten, cut and given a
new EOI, or zeroed over a few KiB decodes "successfully" into stripes or flat grey, and that picture
would become the iModel's thumbnail.  libjpeg reports such damage only as warnings ("Corrupt JPEG
data: bad Huffman code", "premature end of data segment"); simplejpeg's ``strict=True`` turns every
warning into ``ValueError``, which is ``CorruptImage`` here.

Pillow still parses the header (markers, EXIF orientation, ICC profile, Adobe CMYK inversion) and
plans the DCT scale with ``draft``; simplejpeg decodes at exactly that scale (libjpeg-turbo picks
the smallest scale whose output is at least the requested size, and the request is Pillow's
scaled size), into a buffer Pillow then uses in place for ``L``, ``RGBX`` and plain ``CMYK``.
"""

from __future__ import annotations

from PIL import Image, ImageFile

#: Pillow's raw mode for the decoded JPEG -> (simplejpeg colour space, Pillow image mode).
_COLOURSPACES = {
    "L": ("GRAY", "L"),
    "RGB": ("RGBX", "RGBX"),
    "CMYK": ("CMYK", "CMYK"),
    "CMYK;I": ("CMYK", "CMYK"),  # Adobe's inverted CMYK (and YCCK, which libjpeg converts)
}


def decode_strict(image: ImageFile.ImageFile, data: bytes) -> Image.Image:
    """The pixels of an opened (and possibly drafted) JPEG, at ``image.size``.

    Raises ValueError for any damage libjpeg notices, MemoryError when the buffer cannot be had.
    """
    import simplejpeg  # brings numpy; imported on the first JPEG only

    args = image.tile[0].args if image.tile else None
    rawmode = args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else image.mode
    colourspace, mode = _COLOURSPACES.get(rawmode, ("RGBX", "RGBX"))
    width, height = image.size
    pixels = simplejpeg.decode_jpeg(data, colorspace=colourspace, min_width=width, min_height=height, strict=True)
    if pixels.shape[:2] != (height, width):
        raise ValueError(f"the strict decode gave {pixels.shape[1]}x{pixels.shape[0]}, not {width}x{height}")
    if rawmode not in _COLOURSPACES:
        return Image.frombuffer(mode, image.size, pixels, "raw", mode, 0, 1).convert(image.mode)
    return Image.frombuffer(mode, image.size, pixels, "raw", rawmode if mode == "CMYK" else mode, 0, 1)
