"""A value that must never reach a log: the client secret, a connection string with a key."""

from __future__ import annotations


class Secret(str):
    """A string that never shows itself in a repr, a log record or a traceback's locals."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return "***"

    def __format__(self, format_spec: str) -> str:
        return "***"
