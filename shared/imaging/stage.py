"""The image stage as the delivery flow and the CLI see it: untrusted bytes in, a thumbnail out.

One seam, so where the decoding runs (in this process, or in a limited worker process) is chosen
where the pipeline is wired, and the flow itself does not change with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shared.core.deadline import Deadline
from shared.imaging.admission import MemoryBudget, admitted_by, estimate_decode_bytes
from shared.imaging.limits import ImageLimits
from shared.imaging.models import ImageInfo, Thumbnail
from shared.imaging.normalize import normalize
from shared.imaging.probe import probe


class ImageStage(Protocol):
    """Two steps, so the flow knows what the file is (for the payload) before it is decoded."""

    def probe(self, data: bytes, deadline: Deadline | None = None) -> ImageInfo:
        """Read the header only; raise ThumbnailError for what will not be decoded.

        With a ``deadline``, waiting for a worker (or for memory) ends by it: ``DeadlineReached``.
        """
        ...

    def normalize(self, data: bytes, info: ImageInfo, deadline: Deadline | None = None) -> Thumbnail:
        """Decode, fit and encode; raise ThumbnailError with a stable code when that fails."""
        ...

    def close(self) -> None:
        """Release what the stage holds (worker processes); the stage is not used afterwards."""
        ...


@dataclass
class InProcessImages:
    """Decode in this process, admitted against a per-process memory budget."""

    limits: ImageLimits
    budget: MemoryBudget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = MemoryBudget(self.limits.memory_budget_bytes)

    def probe(self, data: bytes, deadline: Deadline | None = None) -> ImageInfo:
        return probe(data, self.limits)

    def normalize(self, data: bytes, info: ImageInfo, deadline: Deadline | None = None) -> Thumbnail:
        with admitted_by(self.budget, estimate_decode_bytes(info), deadline):
            return normalize(data, self.limits, info)

    def close(self) -> None:
        """Nothing to release (the sandboxed stage stops its workers here)."""
