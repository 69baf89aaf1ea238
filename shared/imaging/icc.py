"""Embedded colour profiles: converting to sRGB, because the profile itself will not travel.

The output carries no metadata (see ``normalize``), so a Display P3 or Adobe RGB render would be
shown as if it were sRGB: wrong, usually oversaturated, colours.  Converting the pixels to sRGB
while the profile is still known keeps the colours right.  It is done on the small image, after
resizing, where it costs a few milliseconds.

A profile that cannot be read, or that describes another colour space than the pixels (an RGB
profile on a grayscale image), is ignored rather than failing the blob: browsers do the same, and
the pixels are still an image.
"""

from __future__ import annotations

import io

from PIL import Image, ImageCms

#: ICC colour-space signature (as Pillow reports it, trimmed) for each mode a profile can describe.
_PROFILE_SPACE_OF_MODE = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK", "LAB": "Lab"}
_ALPHA_MODES = frozenset({"RGBA", "LA"})

#: Copies of an embedded profile alive while a file is opened and normalized, whatever the format:
#: the decoder's, ``Image.info``'s, Little CMS's parse for the conversion.  Measured with an 8 MB
#: profile through the sandbox: 3 copies beyond the input for JPEG, WebP and TIFF (probe and
#: normalize alike), 3.4 for a JPEG's normalize.
ICC_COPIES = 4


def icc_bytes(image: Image.Image) -> int:
    """What the image's embedded profile costs while it is normalized (``ICC_COPIES`` copies),
    for the memory estimate.  Known once the header is open: every decoder reads the profile then."""
    profile = image.info.get("icc_profile")
    return ICC_COPIES * len(profile) if isinstance(profile, bytes) else 0


def to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, str | None]:
    """The image converted from its embedded profile to sRGB, and a note of what happened.

    Alpha is set aside and put back: it is not colour.  Grayscale stays grayscale.  The note is
    ``None`` when there was no profile.
    """
    if not icc:
        return image, None
    source = _usable_profile(icc, _colour_mode(image.mode))
    if isinstance(source, str):
        return image, f"icc ignored ({source})"
    return _convert(image, source)


def _colour_mode(mode: str) -> str:
    """The mode without its alpha band (``RGBA`` -> ``RGB``, ``LA`` -> ``L``)."""
    return mode[:-1] if mode in _ALPHA_MODES else mode


def _usable_profile(icc: bytes, colour_mode: str) -> ImageCms.ImageCmsProfile | str:
    """The parsed profile if it describes ``colour_mode`` pixels, else why it is ignored.

    Checked before any pixel is touched, so an unusable profile costs no copy of the image.
    """
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        # Read inside the try: lcms decodes the 4-byte signature as ASCII, and a byte over 0x7F
        # raises UnicodeDecodeError (a ValueError) here, not while parsing.
        space = source.profile.xcolor_space.strip()
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError) as exc:
        return f"unreadable: {exc}"
    if _PROFILE_SPACE_OF_MODE.get(colour_mode) != space:
        return f"{space} profile on {colour_mode} pixels"
    return source


def _convert(image: Image.Image, source: ImageCms.ImageCmsProfile) -> tuple[Image.Image, str]:
    """The colour bands transformed from ``source`` to sRGB, with alpha put back unchanged."""
    alpha = image.getchannel("A") if image.mode in _ALPHA_MODES else None
    colour = image.convert(_colour_mode(image.mode)) if alpha is not None else image
    try:
        # A fresh sRGB profile per call: lcms profile handles are not meant to be shared across
        # threads, and building the built-in sRGB profile costs microseconds.
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        transform = ImageCms.buildTransform(source, srgb, colour.mode, "RGB")
        converted = ImageCms.applyTransform(colour, transform)
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        return image, f"icc ignored (no transform: {exc})"
    assert converted is not None  # applyTransform returns None only when converting in place
    if colour.mode == "L":
        converted = converted.convert("L")
    if alpha is not None:
        converted.putalpha(alpha)
    return converted, "icc->sRGB"
