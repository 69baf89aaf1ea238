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

The pool is imported on first use of its names, not with the package: ``shared.sandbox.spawn`` must
load without Pillow and the image stage, and the worker needs none of the pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.sandbox.config import SandboxSettings

if TYPE_CHECKING:
    from shared.sandbox.pool import SandboxedImages, image_stage

__all__ = ["SandboxSettings", "SandboxedImages", "image_stage"]


def __getattr__(name: str) -> Any:
    if name in ("SandboxedImages", "image_stage"):
        from shared.sandbox import pool

        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
