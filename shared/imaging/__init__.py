"""The image stage: from a dropped blob to the PNG thumbnail the iTwin API stores.

    info = probe(data, limits)          # header only; refuses what we will not decode
    budget = MemoryBudget(limits.memory_budget_bytes)
    with budget.admit(estimate_decode_bytes(info)):
        thumb = normalize(data, limits, info)  # the exact bytes to upload: thumb.data

Modules: ``formats`` (allowlist, sniffing), ``headers`` (raw canvas sizes), ``probe``,
``geometry`` (fit, draft, reduction), ``orientation``, ``modes``, ``icc``, ``resize``, ``encode``,
``admission`` (memory budget), ``structure`` (block-count bounds walked before decoding),
``decoder_memory`` (what each decoder holds beyond the bitmap), ``normalize``, ``models`` (results
and ``describe``), ``limits`` (``ImageLimits``, owned here; ``shared.settings`` fills it in), ``decoders``
(TIFF under our cap, HEIC/AVIF, TGA 2.0, OpenEXR), ``hdr`` and ``tonemap`` (EXR and float TIFF:
linear-light resampling, exposure, ACES filmic, sRGB; numpy is imported only there, when such a
file is decoded).

Pure: imports :mod:`shared.core` and Pillow, never the Azure SDK, ``requests``, the settings module
or anything else above it.
"""

from shared.imaging.admission import MemoryBudget, estimate_decode_bytes
from shared.imaging.limits import ImageLimits
from shared.imaging.models import ImageInfo, Thumbnail, describe
from shared.imaging.normalize import normalize
from shared.imaging.probe import probe
from shared.imaging.stage import ImageStage, InProcessImages

__all__ = [
    "ImageInfo",
    "ImageLimits",
    "ImageStage",
    "InProcessImages",
    "MemoryBudget",
    "Thumbnail",
    "describe",
    "estimate_decode_bytes",
    "normalize",
    "probe",
]
