"""``python -m shared.cli``: the users' entry point (their scripts and pipelines call it by this name).

The commands themselves live in :mod:`shared.ops.cli`; this module only keeps the documented name.
"""

from shared.ops.cli import main, run

__all__ = ["main"]

if __name__ == "__main__":
    run()
