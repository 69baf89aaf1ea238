"""Decoding untrusted images in limited worker processes.

A blob is attacker-controlled: a few hundred bytes can ask a decoder for gigabytes or minutes.
:class:`SandboxedImages` implements :class:`shared.imaging.ImageStage` by sending each ``probe`` and
``normalize`` to a pool of pre-started worker processes (``python -m shared.sandbox.worker``, Pillow
imported once), each job under an address-space limit derived from its admitted estimate and a
wall-clock limit.  A job over a limit, or a worker killed by a signal, becomes the permanent
``ImageTooComplex``; that worker is replaced and the host process and other jobs carry on.

    stage = image_stage(settings.image, settings.sandbox)   # SandboxedImages, or InProcessImages
    info = stage.probe(data)                                # when IMAGE_ISOLATION=false
    thumb = stage.normalize(data, info)
    stage.close()

Layer: above :mod:`shared.imaging` and :mod:`shared.core`, below :mod:`shared.settings` (which only
imports :class:`SandboxSettings` from here).
"""

from shared.sandbox.config import SandboxSettings
from shared.sandbox.pool import SandboxedImages, image_stage

__all__ = ["SandboxSettings", "SandboxedImages", "image_stage"]
