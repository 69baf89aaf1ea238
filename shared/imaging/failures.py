"""One way to build the image stage's errors, so every one carries what was detected.

A dead-lettered blob is only actionable if the payload says what the file was: "CorruptImage" on
its own sends someone to download the blob; "CorruptImage, PNG 7680x4320 RGB" does not.
"""

from __future__ import annotations

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
