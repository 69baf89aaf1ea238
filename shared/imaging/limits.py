"""What the image stage accepts and produces.  Owned here so imaging needs no app settings;
``shared.settings`` builds one from the environment."""

from __future__ import annotations

from dataclasses import dataclass

#: The API's own limit on a thumbnail (the contract's 413 message): not a setting.
API_MAX_THUMBNAIL_BYTES = 5_242_880


@dataclass(frozen=True)
class ImageLimits:
    """What the image stage accepts and produces.  No defaults here: the values, defaults included,
    come from the settings' one declaration (``shared.settings.load_image_limits``; tests and benches
    use ``shared.settings.default_limits``)."""

    max_width: int
    max_height: int
    #: The API's limit, :data:`API_MAX_THUMBNAIL_BYTES` in the app (tests set smaller ones).
    max_output_bytes: int
    max_input_bytes: int
    max_pixels: int
    allow_tiff: bool
    memory_budget_bytes: int
    #: Exposure for tone-mapping HDR renders (EXR, float TIFF), in stops; ``None``: automatic,
    #: from the image's log-average luminance (see ``shared.imaging.tonemap``).
    hdr_exposure_stops: float | None
