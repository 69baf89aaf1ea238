"""The seam between the Functions host and the pipeline: one pipeline per worker process."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from azure.storage.blob import BlobClient

from shared.core.errors import ThumbnailError
from shared.core.outcome import Outcome
from shared.core.paths import parse_blob_path
from shared.delivery import compose
from shared.delivery.log import blob_context, log_outcome
from shared.delivery.pipeline import Pipeline

_lock = threading.Lock()
_pipeline: Pipeline | None = None


class RetryLaterError(Exception):
    """Raised to fail the invocation on a transient failure, so the host delivers the blob again."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(f"{outcome.blob}: {outcome.code}: {outcome.message}")
        self.outcome = outcome


def start(env: Mapping[str, str] | None = None) -> Pipeline:
    """Validate settings and wire the pipeline once; a bad setting fails here, naming itself."""
    global _pipeline
    with _lock:
        if _pipeline is None:
            _pipeline = compose.pipeline_from_env(env)
        return _pipeline


def reset() -> None:
    """Forget the wired pipeline (tests and ``doctor`` use fresh settings)."""
    global _pipeline
    with _lock:
        _pipeline = None


def imodel_of(container: str, blob_name: str) -> str | None:
    """The iModel id a blob path names, or None (the pipeline dead-letters a bad path itself)."""
    try:
        return parse_blob_path(container, blob_name).imodel_id
    except ThumbnailError:
        return None


def handle_blob(client: BlobClient, invocation_id: str | None = None) -> Outcome:
    """Process one blob.  ``invocation_id`` (the Functions invocation context's) tags every log
    record of this blob, with the blob and its iModel, and goes into a dead-letter payload."""
    container, name = client.container_name, client.blob_name
    with blob_context(invocation_id=invocation_id, blob=f"{container}/{name}", imodel_id=imodel_of(container, name)):
        outcome = start().process(client)
        log_outcome(outcome)
    if outcome.must_retry:
        raise RetryLaterError(outcome)
    return outcome


def handle_reassert(body: bytes, invocation_id: str | None = None) -> Outcome | None:
    """One re-assert message; None (and nothing done) for a message that is not ours."""
    with blob_context(invocation_id=invocation_id, blob="reassert", imodel_id=None):
        outcome = start().reassert_message(body)
        if outcome is not None:
            log_outcome(outcome)
    if outcome is not None and outcome.must_retry:
        raise RetryLaterError(outcome)
    return outcome
