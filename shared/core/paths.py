"""Blob path → iModel id: the first thing decided about a blob, before any URL is built."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.core.errors import ErrorCode, ThumbnailError


@dataclass(frozen=True)
class BlobRef:
    """A blob in the incoming container that names an iModel: ``{container}/{imodel_id}/{name}``."""

    container: str
    imodel_id: str
    name: str

    @property
    def blob_name(self) -> str:
        """The path inside the container, as the storage SDK names it."""
        return f"{self.imodel_id}/{self.name}"

    @property
    def path(self) -> str:
        return f"{self.container}/{self.blob_name}"


def parse_blob_path(container: str, blob_name: str) -> BlobRef:
    """Split ``{imodelId}/{name}`` and insist the folder is a GUID.

    The id ends up in an API URL, so anything but a canonical GUID (no ``..``, no query string, no
    braces) is refused here.  The id is normalized to lower case, the form the API returns.
    """
    parts = blob_name.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        where = "at the container root" if len(parts) == 1 else f"{len(parts) - 1} folders deep"
        raise ThumbnailError(
            ErrorCode.INVALID_BLOB_PATH,
            f"Blob {container}/{blob_name} is {where}; expected {container}/{{imodelId}}/{{name}}.",
            details={"blob": f"{container}/{blob_name}"},
        )
    folder, name = parts
    imodel_id = canonical_guid(folder)
    if imodel_id is None:
        raise ThumbnailError(
            ErrorCode.INVALID_IMODEL_ID,
            f"Folder {folder!r} is not an iModel id (a GUID such as 5e19bee0-3aea-4355-a9f0-c6df9989ee7d).",
            details={"folder": folder},
        )
    return BlobRef(container=container, imodel_id=imodel_id, name=name)


def canonical_guid(text: str) -> str | None:
    """The lower-case hyphenated form of a GUID, or None when ``text`` is anything else."""
    if len(text) != 36:
        return None
    try:
        value = uuid.UUID(text)
    except ValueError:
        return None
    canonical = str(value)
    return canonical if canonical == text.lower() else None
