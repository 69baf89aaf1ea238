"""What the image stage accepts and produces.  Owned here so imaging needs no app settings;
``shared.settings`` builds one from the environment."""

from __future__ import annotations

from dataclasses import dataclass

#: The API's own limit on a thumbnail (the contract's 413 message): not a setting.
API_MAX_THUMBNAIL_BYTES = 5_242_880


@dataclass(frozen=True)
class ImageLimits:
    """What the image stage accepts and produces."""

    max_width: int = 800
    max_height: int = 500
    max_output_bytes: int = API_MAX_THUMBNAIL_BYTES
    max_input_bytes: int = 256 * 1024 * 1024
    max_pixels: int = 140_000_000
    allow_tiff: bool = True
    memory_budget_bytes: int = 1024 * 1024 * 1024
    #: Exposure for tone-mapping HDR renders (EXR, float TIFF), in stops; ``None``: automatic,
    #: from the image's log-average luminance (see ``shared.imaging.tonemap``).
    hdr_exposure_stops: float | None = None
