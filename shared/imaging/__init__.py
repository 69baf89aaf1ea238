"""The image stage: from a dropped blob to the PNG thumbnail the iTwin API stores.

    info = probe(data, limits)          # header only; refuses what we will not decode
    budget = MemoryBudget(limits.memory_budget_bytes)
    with budget.admit(estimate_decode_bytes(info)):
        thumb = normalize(data, limits, info)  # the exact bytes to upload: thumb.data

Modules: ``formats`` (the format registry ``FORMATS`` and one module per format: signature,
structure bounds, raw canvas, decoder memory, sample facts, decoder class, strict decode, draft
plan, preload; ``formats.refused`` names the formats refused by signature), ``probe``,
``geometry`` (fit, draft, reduction), ``orientation``, ``modes``, ``icc``, ``resize``, ``encode``,
``admission`` (memory budget), ``normalize``, ``models`` (results and ``describe``), ``limits``
(``ImageLimits``, owned here; ``shared.settings`` fills it in), ``failures`` (errors that carry what was detected),
``hdr`` and ``tonemap`` (EXR and float TIFF: linear-light resampling, exposure, ACES filmic, sRGB;
numpy is imported only there and in ``formats.exr``, when such a file is decoded).

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
