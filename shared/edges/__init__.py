"""The I/O edge: blob storage clients and the iTwin Platform client (with the HTTP answer -> error map).

These modules turn SDK and HTTP results into :mod:`shared.core` types and errors, and each owns its
own connection settings dataclass (``shared.settings`` fills them in).  They may import
:mod:`shared.core`; never :mod:`shared.imaging`, the delivery flow or the operator commands.
"""
