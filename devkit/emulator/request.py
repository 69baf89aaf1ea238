"""A request as the handlers see it: already read off the socket, headers keyed in lowercase."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    """``body`` holds at most the first ``MAX_THUMBNAIL_BYTES + 1`` bytes; ``body_length`` is the full
    length the client sent or declared, which is what the 413 check looks at."""

    method: str
    path: str
    correlation_id: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_length: int = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def media_type(content_type: str) -> str:
    """``"Image/PNG; q=1"`` -> ``"Image/PNG"``: the media type as sent, parameters and spaces stripped."""
    return content_type.split(";", 1)[0].strip()
