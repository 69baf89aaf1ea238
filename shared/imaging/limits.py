"""What the image stage accepts and produces.  Owned here so imaging needs no app settings;
``shared.settings`` builds one from the environment."""

from __future__ import annotations

from dataclasses import dataclass

#: The API's own limit on a thumbnail (the contract's 413 message): not a setting.
API_MAX_THUMBNAIL_BYTES = 5_242_880

#: The memory sizes of a Flex Consumption instance (``instanceMemoryMB``), in MB.
INSTANCE_MEMORY_SIZES_MB = (512, 2048, 4096)


def decode_cap_for(instance_memory_mb: int) -> int:
    """The per-decode memory cap for an instance of this size: half of it.  The other half holds
    the Functions host, the Python worker, the image workers' own baseline (about 40 MB each) and
    the blobs in flight; a decode over half the instance would leave a second one no room at all."""
    return instance_memory_mb * 1024 * 1024 // 2


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
    #: The most one decode may use (``decode_cap_for``): nothing whose estimate is larger runs,
    #: and no worker is granted more address space than this for a job.
    decode_cap_bytes: int
    #: Exposure for tone-mapping HDR renders (EXR, float TIFF), in stops; ``None``: automatic,
    #: from the image's log-average luminance (see ``shared.imaging.tonemap``).
    hdr_exposure_stops: float | None
