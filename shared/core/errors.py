"""The one error taxonomy: every way a blob can fail, with a stable code, a stage and a kind.

A code is a contract with users: it appears in dead-letter payloads, logs and the error table
(docs/errors.md), and people filter and alert on it.  Codes are never renamed.

*Permanent* failures are dead-lettered at once (retrying cannot help until someone fixes the
cause).  *Transient* failures leave the blob where it is, so the host (or ``drain``) tries again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    """Where in the pipeline a failure happened (the ``stage`` field of a payload)."""

    PATH = "path"
    READ = "read"
    IMAGE = "image"
    AUTH = "auth"
    UPLOAD = "upload"
    STORAGE = "storage"


class Kind(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"


class ErrorCode(StrEnum):
    """Stable error codes.  Where the iTwin API has a code for the case, we use the API's spelling."""

    # path
    INVALID_BLOB_PATH = "InvalidBlobPath"
    INVALID_IMODEL_ID = "InvalidImodelId"
    # read
    BLOB_TOO_LARGE = "BlobTooLarge"
    EMPTY_BLOB = "EmptyBlob"
    BLOB_NOT_COMMITTED = "BlobNotCommitted"
    # image
    UNSUPPORTED_IMAGE_FORMAT = "UnsupportedImageFormat"
    IMAGE_TOO_MANY_PIXELS = "ImageTooManyPixels"
    CORRUPT_IMAGE = "CorruptImage"
    THUMBNAIL_TOO_LARGE = "ThumbnailTooLarge"
    IMAGE_TOO_COMPLEX = "ImageTooComplex"
    # auth
    TOKEN_REQUEST_REJECTED = "TokenRequestRejected"  # noqa: S105 - a code, not a password
    TOKEN_SERVICE_UNAVAILABLE = "TokenServiceUnavailable"  # noqa: S105 - a code, not a password
    UNAUTHORIZED = "Unauthorized"
    # upload (API codes as the contract spells them)
    INSUFFICIENT_PERMISSIONS = "InsufficientPermissions"
    IMODEL_NOT_FOUND = "iModelNotFound"
    IMODEL_NOT_INITIALIZED = "iModelNotInitialized"
    REQUEST_TOO_LARGE = "RequestTooLarge"
    INVALID_IMODELS_REQUEST = "InvalidiModelsRequest"
    TOO_MANY_REQUESTS = "TooManyRequests"
    API_SERVER_ERROR = "ApiServerError"
    API_UNREACHABLE = "ApiUnreachable"
    UNEXPECTED_API_RESPONSE = "UnexpectedApiResponse"
    # storage
    STORAGE_UNAVAILABLE = "StorageUnavailable"
    STORAGE_ACCESS_DENIED = "StorageAccessDenied"
    DELIVERY_RECORD_BUSY = "DeliveryRecordBusy"
    # any stage: the invocation's deadline came before the next wait could end
    DEADLINE_REACHED = "DeadlineReached"
    DELIVERY_RECORD_UNREADABLE = "DeliveryRecordUnreadable"
    # any stage: the host's retries are used up
    RETRIES_EXHAUSTED = "RetriesExhausted"
    # any stage: a failure the code did not foresee (a bug, or a library's surprise)
    INTERNAL_ERROR = "InternalError"


@dataclass(frozen=True)
class CodeInfo:
    stage: Stage
    kind: Kind
    hint: str


_P, _T = Kind.PERMANENT, Kind.TRANSIENT

CODES: dict[ErrorCode, CodeInfo] = {
    ErrorCode.INVALID_BLOB_PATH: CodeInfo(
        Stage.PATH, _P, "Drop images as {container}/{imodelId}/{file name}: one folder, named by the iModel id."
    ),
    ErrorCode.INVALID_IMODEL_ID: CodeInfo(
        Stage.PATH, _P, "The folder name must be the iModel id, a GUID such as 5e19bee0-3aea-4355-a9f0-c6df9989ee7d."
    ),
    ErrorCode.BLOB_TOO_LARGE: CodeInfo(
        Stage.READ, _P, "The file is larger than MAX_BLOB_BYTES; render a smaller frame or raise the setting."
    ),
    ErrorCode.EMPTY_BLOB: CodeInfo(Stage.READ, _P, "The file has zero bytes; check the renderer's output step."),
    ErrorCode.BLOB_NOT_COMMITTED: CodeInfo(
        Stage.READ, _T, "The upload is not committed yet; it is processed once the writer commits it."
    ),
    ErrorCode.UNSUPPORTED_IMAGE_FORMAT: CodeInfo(
        Stage.IMAGE,
        _P,
        "Drop PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF, HEIC, OpenEXR or TGA 2.0 (TIFF unless ALLOW_TIFF=false).",
    ),
    ErrorCode.IMAGE_TOO_MANY_PIXELS: CodeInfo(
        Stage.IMAGE, _P, "The image has more pixels than MAX_IMAGE_PIXELS; render smaller or raise the setting."
    ),
    ErrorCode.CORRUPT_IMAGE: CodeInfo(
        Stage.IMAGE, _P, "The file could not be decoded (truncated or damaged); re-render and drop it again."
    ),
    ErrorCode.THUMBNAIL_TOO_LARGE: CodeInfo(
        Stage.IMAGE, _P, "No thumbnail under the API's 5,242,880-byte limit could be made; lower the box size."
    ),
    ErrorCode.IMAGE_TOO_COMPLEX: CodeInfo(
        Stage.IMAGE,
        _P,
        "Decoding needs more time or memory than allowed (details.limit says which); re-export the image plainly.",
    ),
    ErrorCode.TOKEN_REQUEST_REJECTED: CodeInfo(
        Stage.AUTH, _P, "IMS refused the client credentials: check ITWIN_CLIENT_ID, ITWIN_CLIENT_SECRET, ITWIN_SCOPE."
    ),
    ErrorCode.TOKEN_SERVICE_UNAVAILABLE: CodeInfo(
        Stage.AUTH, _T, "The token endpoint did not answer; retried automatically."
    ),
    ErrorCode.UNAUTHORIZED: CodeInfo(
        Stage.AUTH, _P, "The API refused a fresh token: check the client's scopes (itwin-platform) and ITWIN_TOKEN_URL."
    ),
    ErrorCode.INSUFFICIENT_PERMISSIONS: CodeInfo(
        Stage.UPLOAD,
        _P,
        "Add {client id}@apps.imsoidc.bentley.com to the iTwin with a role that has imodels_manage, then redrive.",
    ),
    ErrorCode.IMODEL_NOT_FOUND: CodeInfo(
        Stage.UPLOAD, _P, "No iModel has this id, or the service client cannot see it; check the folder name."
    ),
    ErrorCode.IMODEL_NOT_INITIALIZED: CodeInfo(
        Stage.UPLOAD, _T, "The iModel is still initializing; retried until NOT_INITIALIZED_WINDOW_MINUTES runs out."
    ),
    ErrorCode.REQUEST_TOO_LARGE: CodeInfo(
        Stage.UPLOAD, _P, "The API refused the size of the thumbnail; lower THUMBNAIL_MAX_WIDTH / HEIGHT."
    ),
    ErrorCode.INVALID_IMODELS_REQUEST: CodeInfo(
        Stage.UPLOAD, _P, "The API refused the request; the payload's api.body.error.details says which part."
    ),
    ErrorCode.TOO_MANY_REQUESTS: CodeInfo(
        Stage.UPLOAD,
        _T,
        "Rate limited by the iTwin Platform; retried after retry-after. Lower concurrency if frequent.",
    ),
    ErrorCode.API_SERVER_ERROR: CodeInfo(Stage.UPLOAD, _T, "The iTwin API failed (5xx); retried automatically."),
    ErrorCode.API_UNREACHABLE: CodeInfo(
        Stage.UPLOAD, _T, "The iTwin API could not be reached (connection error or timeout); retried automatically."
    ),
    ErrorCode.UNEXPECTED_API_RESPONSE: CodeInfo(
        Stage.UPLOAD, _P, "The API answered with a status the contract does not list; see api.status and api.body."
    ),
    ErrorCode.STORAGE_UNAVAILABLE: CodeInfo(
        Stage.STORAGE, _T, "Blob storage failed or could not be reached; retried automatically."
    ),
    ErrorCode.STORAGE_ACCESS_DENIED: CodeInfo(
        Stage.STORAGE,
        _T,
        "Storage answered 403: give the function's identity Storage Blob Data Owner (or Storage Blob Data "
        "Contributor) on the storage account named in the message, or fix THUMBNAILS_STORAGE; retried meanwhile.",
    ),
    ErrorCode.DELIVERY_RECORD_BUSY: CodeInfo(
        Stage.STORAGE,
        _T,
        "Another delivery of this iModel held its delivery record until this invocation's deadline, or this "
        "one lost its lease mid-send; the blob stays and the next delivery sends it.",
    ),
    ErrorCode.DEADLINE_REACHED: CodeInfo(
        Stage.STORAGE,
        _T,
        "The invocation's deadline (RETRY_BUDGET_SECONDS) came before the next request or wait could end "
        "(slow storage or API, or a long rate limit); the blob stays and the next delivery continues.",
    ),
    ErrorCode.DELIVERY_RECORD_UNREADABLE: CodeInfo(
        Stage.STORAGE,
        _T,
        "The iModel's delivery record (STATE_CONTAINER/{imodelId}.json) is unreadable, of an unknown version, or "
        "its container is missing; nothing is sent until it is fixed. Restore it (or delete it to start over "
        "for that iModel), then redrive.",
    ),
    ErrorCode.INTERNAL_ERROR: CodeInfo(
        Stage.IMAGE,
        _T,
        "An unexpected error (see message and the function's logs); retried, then dead-lettered. Please report it.",
    ),
    ErrorCode.RETRIES_EXHAUSTED: CodeInfo(
        Stage.UPLOAD,
        _P,
        "Every delivery attempt failed transiently; lastError says why (from `poison sweep`, where the host gave up "
        "itself, the function's logs do: search them for the blob name). Fix it, then redrive.",
    ),
}


@dataclass(frozen=True)
class ApiFailure:
    """What the iTwin API (or IMS) said, kept verbatim for the payload and for support."""

    status: int
    body: Any
    correlation_id: str | None = None
    retry_after: float | None = None


class ThumbnailError(Exception):
    """A failure with a code from the taxonomy.

    ``transient`` defaults from the code, and may be overridden: a 409 ``iModelNotInitialized`` is
    transient until its window runs out, and permanent after.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        stage: Stage | None = None,
        details: dict[str, Any] | None = None,
        api: ApiFailure | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        info = CODES[code]
        self.code = code
        self.message = message
        self.stage = stage or info.stage
        self.details: dict[str, Any] = dict(details or {})
        self.api = api
        self.transient = info.kind is Kind.TRANSIENT if transient is None else transient

    @property
    def kind(self) -> Kind:
        return Kind.TRANSIENT if self.transient else Kind.PERMANENT

    @property
    def hint(self) -> str:
        return CODES[self.code].hint

    def as_permanent(self) -> ThumbnailError:
        """The same failure, now final (a retry window ran out)."""
        return ThumbnailError(
            self.code, self.message, stage=self.stage, details=self.details, api=self.api, transient=False
        )

    def __repr__(self) -> str:
        return (
            f"ThumbnailError({self.code.value!r}, {self.message!r}, stage={self.stage.value!r}, kind={self.kind.value})"
        )


@dataclass
class ErrorSummary:
    """A JSON-friendly view of a ThumbnailError (for payloads, logs and the CLI)."""

    code: str
    message: str
    stage: str
    kind: str
    hint: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, error: ThumbnailError) -> ErrorSummary:
        return cls(
            code=error.code.value,
            message=error.message,
            stage=error.stage.value,
            kind=error.kind.value,
            hint=error.hint,
            details=error.details,
        )


def markdown_table() -> str:
    """The error table of docs/errors.md, generated from :data:`CODES` (a test keeps the two equal)."""
    rows = ["| code | stage | kind | what to do |", "|---|---|---|---|"]
    rows += [
        f"| `{code.value}` | {info.stage.value} | {info.kind.value} | {info.hint} |" for code, info in CODES.items()
    ]
    return "\n".join(rows) + "\n"
