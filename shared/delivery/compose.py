"""The composition root: the one place that turns settings into wired parts.

The Functions host (:mod:`shared.delivery.host`), every CLI command and ``doctor`` get their
pipeline, storage client, iTwin client and image stage here, so they all run the same wiring: one
pooled HTTP session and one token cache per process, one image stage (sandboxed unless
``IMAGE_ISOLATION=false``), storage clients with the same options.  Commands that never call the
API (``deadletter``, ``status``, ``poison sweep``) are wired without the service client's id and
secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import requests
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from shared.core.lifecycle import in_doubt_bound
from shared.core.retry import RetryPolicy
from shared.delivery.archive import Archiver
from shared.delivery.deadletter import DeadLetterer
from shared.delivery.pipeline import Pipeline, utcnow
from shared.delivery.record import RecordStore
from shared.delivery.send import Reasserts
from shared.edges import queues, storage
from shared.edges.attempts import AttemptMarks
from shared.edges.config import ItwinSettings
from shared.edges.itwin import ItwinClient, TokenProvider, new_session
from shared.edges.pace import SharedPace, Unpaced, shared_pace
from shared.imaging.stage import ImageStage
from shared.sandbox import image_stage
from shared.settings import (
    FUNCTION_TIMEOUT_SECONDS,
    Settings,
    StorageSettings,
    load_image_limits,
    load_itwin_settings,
    load_retry_settings,
    load_sandbox_settings,
    load_settings,
    load_storage_settings,
)

__all__ = [
    "Connections",
    "build_pipeline",
    "connect",
    "images_from_env",
    "itwin_client",
    "pipeline_from_env",
    "storage_from_env",
    "uploader_from_env",
]


@dataclass(frozen=True)
class Connections:
    """The app's two outside parts: storage, and the iTwin Platform behind one token cache."""

    blobs: BlobServiceClient
    tokens: TokenProvider
    itwin: ItwinClient


def itwin_client(
    settings: ItwinSettings,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
    pace: SharedPace | Unpaced | None = None,
) -> ItwinClient:
    """One pooled HTTP session and one token cache per process: TLS handshakes and tokens are the
    expensive part of a small PUT.  ``pace``: the client's shared pace (none for a one-off upload)."""
    http = session or new_session()
    return ItwinClient(settings, http, TokenProvider(settings, http, clock=clock), pace)


def connect(
    settings: Settings,
    *,
    session: requests.Session | None = None,
    blobs: BlobServiceClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utcnow,
) -> Connections:
    """Storage and the iTwin client behind the client's shared pace, without an image stage
    (``doctor`` decodes nothing)."""
    store = blobs or storage.blob_service(settings.storage)
    pace = shared_pace(settings.pace, store, settings.itwin.client_id, wall=lambda: now().timestamp(), sleep=sleep)
    itwin = itwin_client(settings.itwin, session, clock, pace)
    return Connections(blobs=store, tokens=itwin.tokens, itwin=itwin)


def build_pipeline(
    settings: Settings,
    *,
    session: requests.Session | None = None,
    blobs: BlobServiceClient | None = None,
    queue: QueueClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utcnow,
    images: ImageStage | None = None,
) -> Pipeline:
    """The production wiring: :func:`connect` plus one image stage per process, and every
    collaborator of the pipeline built here.

    ``session``, ``blobs``, ``queue`` and ``images`` may be handed in (tests add transport policies
    through them).
    """
    s = settings
    wired = connect(s, session=session, blobs=blobs, clock=clock, sleep=sleep, now=now)
    store = wired.blobs
    bound = in_doubt_bound(FUNCTION_TIMEOUT_SECONDS, s.itwin.connect_timeout, s.itwin.read_timeout)
    return Pipeline(
        settings=s,
        blobs=store,
        itwin=wired.itwin,
        images=images or image_stage(s.image, s.sandbox),
        records=RecordStore(store, s.state_container, sleep=sleep, now=now),
        archiver=Archiver(store, s.processed_container, s.deadletter_container, now=now, sleep=sleep),
        deadletterer=DeadLetterer(
            store, s.deadletter_container, s.processed_container, client_id=s.itwin.client_id, now=now, sleep=sleep
        ),
        reasserts=Reasserts(queue or queues.queue_client(s.storage, s.reassert_queue), bound=bound),
        retry_policy=RetryPolicy.from_settings(s.retry),
        attempts=AttemptMarks(store, s.processed_container),
        clock=clock,
        now=now,
        sleep=sleep,
    )


def pipeline_from_env(env: Mapping[str, str] | None = None, *, needs_api: bool = True) -> Pipeline:
    """The pipeline the host runs, from app settings (``needs_api=False``: see ``load_settings``)."""
    return build_pipeline(load_settings(env, needs_api=needs_api))


def storage_from_env(env: Mapping[str, str] | None = None) -> tuple[StorageSettings, BlobServiceClient]:
    """The containers and a storage client: all ``deadletter`` and ``status`` need."""
    settings = load_storage_settings(env)
    return settings, storage.blob_service(settings.storage)


def uploader_from_env(env: Mapping[str, str] | None = None) -> tuple[ItwinClient, RetryPolicy]:
    """The iTwin client and the retry policy of one upload (``cli upload`` needs no storage)."""
    return itwin_client(load_itwin_settings(env)), RetryPolicy.from_settings(load_retry_settings(env))


def images_from_env(env: Mapping[str, str] | None = None, *, workers: int | None = None) -> ImageStage:
    """The image stage the pipeline uses (``workers`` overrides ``IMAGE_WORKERS``: one file needs one)."""
    sandbox = load_sandbox_settings(env)
    if workers is not None:
        sandbox = replace(sandbox, workers=workers)
    return image_stage(load_image_limits(env), sandbox)
