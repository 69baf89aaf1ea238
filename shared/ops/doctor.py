"""``python -m shared.cli doctor``: is this deployment able to do its job, and if not, what to fix.

Each check says ok or the exact problem and its fix.  It writes only to the processed and
dead-letter containers (a probe blob, deleted again): a write to the incoming container would
trigger the function.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from azure.core.exceptions import AzureError
from azure.storage.blob import BlobServiceClient

from shared.core.errors import ErrorCode, ThumbnailError
from shared.core.paths import canonical_guid
from shared.delivery import compose
from shared.edges import storage
from shared.settings import Settings, SettingsError, load_settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<44} {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix else "")


def run_checks(env: Mapping[str, str], imodel_id: str | None = None) -> Iterator[Check]:
    """Yield checks in order; later checks are skipped when what they need failed."""
    try:
        settings = load_settings(env)
    except SettingsError as error:
        yield Check("settings", False, str(error), f"set {error.name} (README, 'Settings', lists every setting)")
        return
    yield Check("settings", True, "every setting present and well-formed")

    wired = compose.connect(settings)  # no image stage: doctor decodes nothing
    yield _token(wired.tokens.get, settings)
    yield from _containers(wired.blobs, settings)
    if imodel_id is not None:
        yield _imodel(wired.itwin.get_imodel, imodel_id, settings)


def _token(get: Callable[[], str], settings: Settings) -> Check:
    try:
        get()
    except ThumbnailError as error:
        return Check("token", False, f"{error.code.value}: {error.message}", error.hint)
    return Check("token", True, f"IMS issued a token for {settings.itwin.client_id} ({settings.itwin.scope})")


def _containers(blobs: BlobServiceClient, settings: Settings) -> Iterator[Check]:
    for name, writable in (
        (settings.incoming_container, False),
        (settings.processed_container, True),
        (settings.deadletter_container, True),
        (settings.state_container, True),
    ):
        container = blobs.get_container_client(name)
        try:
            container.get_container_properties()
            next(iter(container.list_blobs(results_per_page=1)), None)
            if writable:
                probe = container.get_blob_client(f"_doctor/probe-{uuid.uuid4().hex}")
                probe.upload_blob(b"doctor")
                probe.delete_blob()
        except AzureError as error:
            # The same view of the failure the pipeline takes: a 403 is StorageAccessDenied, whose
            # message names the account and the role to assign.
            problem = storage.storage_error(f"use the container {name}", error, account=blobs.account_name)
            status = problem.details.get("status")
            if status == 404:
                fix = f"create the container {name!r}" + (
                    " (the app never creates it: missing, it fails closed)" if name == settings.state_container else ""
                )
            elif problem.code is ErrorCode.STORAGE_ACCESS_DENIED:
                fix = (
                    f"assign the function's identity Storage Blob Data Owner (or Storage Blob Data Contributor) on "
                    f"the storage account {blobs.account_name!r}"
                )
            else:
                fix = "check THUMBNAILS_STORAGE (or THUMBNAILS_STORAGE__blobServiceUri) and the network"
            yield Check(f"container {name}", False, f"{problem.code.value}: {problem.message}", fix)
            continue
        yield Check(f"container {name}", True, "readable and writable" if writable else "readable")


def _imodel(get: Callable[[str], dict[str, object]], imodel_id: str, settings: Settings) -> Check:
    canonical = canonical_guid(imodel_id)
    if canonical is None:
        return Check("imodel", False, f"{imodel_id!r} is not an iModel id", "pass the iModel's GUID")
    try:
        imodel = get(canonical)
    except ThumbnailError as error:
        hint = error.hint.replace("{client id}", settings.itwin.client_id)
        return Check(f"imodel {canonical}", False, f"{error.code.value}: {error.message}", hint)
    state = imodel.get("state", "unknown")
    if state != "initialized":
        return Check(
            f"imodel {canonical}",
            False,
            f"visible, but state is {state!r}",
            f"wait for initialization; uploads are retried for NOT_INITIALIZED_WINDOW_MINUTES "
            f"({ErrorCode.IMODEL_NOT_INITIALIZED.value})",
        )
    return Check(f"imodel {canonical}", True, f"visible and initialized ({imodel.get('displayName', '')})")
