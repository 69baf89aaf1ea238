"""Pure decisions: the error taxonomy, blob paths, retry rules, outcomes and dead-letter payloads.

Nothing here does I/O or imports the Azure SDK, ``requests`` or ``azure.functions``: every
function is decided by its arguments, so it is tested without storage, network or waiting.
Everything else in :mod:`shared` may import from here; this package imports nothing above it.
"""
