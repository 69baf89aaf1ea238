"""Where the repository is, for tests that run a program from its root."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
