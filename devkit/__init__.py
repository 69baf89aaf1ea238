"""The dev kit: what a developer runs locally and the tests use, never deployed.

Holds the iTwin emulator, the Azurite launcher, the local environment helpers and the demo behind
``make run``.  It may import :mod:`shared`; nothing in :mod:`shared` may import it (an
import-linter contract in ``pyproject.toml`` enforces that, and ``.funcignore`` leaves this whole
folder out of the deployment).
"""
