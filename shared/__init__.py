"""Thumbnail drop for iModels: the deployed package, everything that runs in Azure or operates it.

Its folders are layers, and imports only go down (import-linter contracts in ``pyproject.toml``)::

    shared.cli          the users' entry point: ``python -m shared.cli``
    shared.ops          operator commands: drain, watch, dead-letters, poison sweep, doctor
    shared.delivery     one blob from trigger to outcome: pipeline, moves, host glue, log
    shared.settings     the one place that reads settings, validated at start-up
    shared.sandbox      the image stage in limited worker processes (time and memory limits)
    shared.edges        I/O: blob storage, the iTwin Platform client    | side by side,
    shared.imaging      pure: bytes in, PNG thumbnail out                | neither imports the other
    shared.core         pure decisions: errors, paths, retry, deadline, names, outcome, payload

``function_app.py`` is a thin shell over :func:`shared.delivery.host.handle_blob`.  Development
tools (the iTwin emulator, Azurite, the demo) live in ``devkit/``, which is never deployed.
"""
