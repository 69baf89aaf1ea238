"""One way to build the image stage's errors, so every one carries what was detected.

A dead-lettered blob is only actionable if the payload says what the file was: "CorruptImage" on
its own sends someone to download the blob; "CorruptImage, PNG 7680x4320 RGB" does not.
"""

from __future__ import annotations

import re
from typing import Any

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging.models import ImageInfo


def image_error(code: ErrorCode, message: str, info: ImageInfo | None = None, **known: Any) -> ThumbnailError:
    """A ThumbnailError whose ``details`` hold the probed header (if any) plus ``known`` facts.

    ``known`` values that are ``None`` are dropped, so callers can pass what they have without
    first checking what they know.
    """
    details: dict[str, Any] = info.as_dict() if info is not None else {}
    details.update({key: value for key, value in known.items() if value is not None})
    return ThumbnailError(code, message, details=details)


#: How the C libraries behind the decoders say they could not allocate (libavif, libheif, OpenEXR's
#: C++ ``std::bad_alloc``, libtiff, zlib): such an error says nothing about the file.
_OUT_OF_MEMORY = re.compile(
    r"out of memory|bad.alloc|cannot allocate|could not allocate|failed to allocate|memory allocation"
    r"|allocation fail|insufficient memory|not enough memory|ENOMEM",
    re.IGNORECASE,
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether a decoder's exception is a failed allocation rather than something in the file."""
    return isinstance(exc, MemoryError) or bool(_OUT_OF_MEMORY.search(str(exc)))


def decode_failure(exc: BaseException, info: ImageInfo | None, explained: str | None = None) -> ThumbnailError:
    """The error for a decoder that raised: ``ImageTooComplex`` (``limit: memory``) when it could
    not allocate, else ``CorruptImage``.  Both are permanent; an out-of-memory is never read as
    damage, in a worker under its address-space limit or in process."""
    fmt = info.format if info is not None else "image"
    reason = explained if explained is not None else str(exc) or type(exc).__name__
    if is_out_of_memory(exc):
        return image_error(
            ErrorCode.IMAGE_TOO_COMPLEX,
            f"decoding the {fmt} ran out of memory: the file asks the decoder for more than it can allocate ({reason})",
            info,
            limit="memory",
        )
    return image_error(ErrorCode.CORRUPT_IMAGE, f"the {fmt} data could not be decoded: {reason}", info)
