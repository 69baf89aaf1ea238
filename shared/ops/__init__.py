"""Operator commands behind ``python -m shared.cli``: drain, watch, dead-letters, poison sweep, doctor, status.

The top layer: it may import everything below it in :mod:`shared`; nothing in :mod:`shared`
imports it (``shared/cli.py`` is only the documented entry point's name).
"""
