"""What became of one blob: the value the pipeline returns, the CLI prints and the log records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    UPLOADED = "uploaded"  # thumbnail set, source archived in the processed container
    DEADLETTERED = "deadlettered"  # permanent failure, source moved beside its payload
    RETRY = "retry"  # transient failure, source left in place for the next attempt
    SKIPPED = "skipped"  # nothing to do: the blob is gone (already handled) or not committed yet
    SUPERSEDED = "superseded"  # a newer image for the iModel was already uploaded; archived unsent


@dataclass
class Outcome:
    status: Status
    blob: str
    imodel_id: str | None = None
    code: str | None = None
    message: str | None = None
    stage: str | None = None
    attempts: int = 0  # delivery attempts of this blob, this one included
    api_calls: int = 0  # upload requests made in this attempt (retries included)
    api_status: int | None = None
    correlation_id: str | None = None
    destination: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    source_image: dict[str, Any] | None = None
    output_image: dict[str, Any] | None = None

    @property
    def must_retry(self) -> bool:
        """True when the host (or ``drain``) must try this blob again later."""
        return self.status is Status.RETRY

    @property
    def settled(self) -> bool:
        """True when the blob reached a final place (or had nothing left to do)."""
        return self.status is not Status.RETRY

    def line(self) -> str:
        """One human line: what the CLI prints per blob."""
        detail = self.code or ""
        if self.api_status:
            detail += f" (api {self.api_status})" if detail else f"api {self.api_status}"
        seconds = sum(self.timings.values())
        return f"{self.status.value:<13} {self.blob:<70} {detail:<36} {seconds:6.2f}s"

    def log_fields(self) -> dict[str, Any]:
        """Flat fields for a structured log line (Application Insights custom dimensions)."""
        fields = {key: value for key, value in asdict(self).items() if value not in (None, {}, [])}
        fields["status"] = self.status.value
        fields["timings"] = {stage: round(seconds, 4) for stage, seconds in self.timings.items()}
        return fields
