"""The sandbox's settings, owned here so :mod:`shared.settings` fills them in without the sandbox
importing the settings module."""

from __future__ import annotations

from dataclasses import dataclass

#: Address space granted to a probe job beyond the worker's own and the input bytes: headers and
#: metadata only, but Pillow keeps PNG text and private chunks in memory while it parses them.
PROBE_ALLOWANCE_BYTES = 256 * 1024 * 1024

#: Address space granted to a normalize job beyond its estimate (``estimate_decode_bytes``):
#: allocator slack, Python objects, the encoder's zlib state.
MEMORY_MARGIN_BYTES = 96 * 1024 * 1024


@dataclass(frozen=True)
class SandboxSettings:
    """Where and under which limits images are decoded.

    ``isolate``: decode in worker processes (``IMAGE_ISOLATION``; off only for debugging, where a
    debugger or profiler must see the decode).  ``timeout_seconds``: wall-clock limit of one probe or
    normalize (``IMAGE_TIMEOUT_SECONDS``).  ``workers``: worker processes, hence images decoded at
    once (``IMAGE_WORKERS``).  ``memory_margin_bytes`` and ``probe_allowance_bytes`` are
    :data:`MEMORY_MARGIN_BYTES` and :data:`PROBE_ALLOWANCE_BYTES` in the app.  No defaults here:
    ``shared.settings.load_sandbox_settings`` fills them in (tests: ``default_sandbox``).
    """

    isolate: bool
    timeout_seconds: float
    workers: int
    memory_margin_bytes: int
    probe_allowance_bytes: int
