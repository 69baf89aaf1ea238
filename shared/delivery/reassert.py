"""The re-assert message: which iModel's newest recorded drop to PUT once more, after the bound T.

The body is JSON ``{"imodelId": ...}``; the queue edge base64-encodes it (the Functions queue
extension's default ``messageEncoding``).  The handler is :meth:`Pipeline.reassert`.
"""

from __future__ import annotations

import json

from shared.core.paths import canonical_guid


def encode(imodel_id: str) -> bytes:
    return json.dumps({"imodelId": imodel_id}).encode("ascii")


def parse(body: bytes) -> str | None:
    """The iModel id a message names, or None for a message that is not ours."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    imodel_id = data.get("imodelId") if isinstance(data, dict) else None
    return canonical_guid(imodel_id) if isinstance(imodel_id, str) else None
