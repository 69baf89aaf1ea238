"""``python -m shared.cli``: drive the pipeline locally and operate a deployment.

Every command reads the same settings as the function (environment variables, plus the
``Values`` of a Functions ``local.settings.json`` given with ``--settings``; the environment wins).
``--json`` (drain, deadletter list|show, doctor, status) prints one JSON document instead of text.

Exit codes: 0 done / all well; 1 something failed or needs a person (a transient failure left for
another drain, a failed check, a dead-lettered blob); 2 usage or settings error; 3 (status,
deadletter show) no such blob.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shared.core.errors import ThumbnailError
from shared.core.paths import canonical_guid
from shared.core.retry import call_with_retries
from shared.delivery import compose
from shared.delivery.pipeline import utcnow
from shared.imaging import Thumbnail, describe
from shared.ops.deadletters import DeadLetters
from shared.ops.doctor import run_checks
from shared.ops.drain import drain, watch
from shared.ops.output import outcome_json, print_json, print_outcome
from shared.ops.poison import poison_queue, sweep
from shared.ops.status import DEADLETTERED, StatusReader
from shared.settings import SettingsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    environment = _environment(args.settings, os.environ if env is None else env)
    command: Callable[[argparse.Namespace, dict[str, str]], int] = args.command
    try:
        return command(args, environment)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


def _environment(settings_file: str | None, env: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    if settings_file:
        values = json.loads(Path(settings_file).read_text()).get("Values", {})
        merged.update({str(key): str(value) for key, value in values.items()})
    merged.update(env)
    return merged


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__)
    parser.add_argument("--settings", metavar="FILE", help="a local.settings.json whose Values to use")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    sub = commands.add_parser("drain", help="process every blob in the incoming container once")
    sub.add_argument("--workers", type=int, default=4, help="blobs handled at once (default 4)")
    _json(sub)
    sub.set_defaults(command=_drain)

    sub = commands.add_parser("watch", help="keep draining as blobs arrive (a local stand-in for the host)")
    sub.add_argument("--workers", type=int, default=4)
    sub.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    sub.set_defaults(command=_watch)

    sub = commands.add_parser("upload", help="normalize one file and upload it as an iModel's thumbnail")
    sub.add_argument("--imodel", required=True, help="the iModel id")
    sub.add_argument("file", type=Path)
    sub.set_defaults(command=_upload)

    sub = commands.add_parser("normalize", help="write exactly the bytes that would be uploaded, and say how")
    sub.add_argument("input", type=Path)
    sub.add_argument("output", type=Path, nargs="?")
    sub.set_defaults(command=_normalize)

    deadletter = commands.add_parser("deadletter", help="list, show and redrive dead-letters").add_subparsers(
        required=True, metavar="ACTION"
    )
    sub = deadletter.add_parser("list", help="a table of dead-lettered blobs")
    _filters(sub)
    _json(sub)
    sub.set_defaults(command=_deadletter_list)
    sub = deadletter.add_parser("show", help="print one payload")
    sub.add_argument("blob", help="the blob, e.g. {imodelId}/render.png")
    _json(sub)
    sub.set_defaults(command=_deadletter_show)
    sub = deadletter.add_parser("redrive", help="move originals back to the incoming container")
    _filters(sub)
    sub.add_argument("--blob", action="append", default=[], help="only this blob (repeatable)")
    sub.add_argument("--all", action="store_true", help="redrive everything (needed when no filter is given)")
    sub.set_defaults(command=_deadletter_redrive)

    poison = commands.add_parser("poison", help="the host's poison queue").add_subparsers(
        required=True, metavar="ACTION"
    )
    sub = poison.add_parser("sweep", help="dead-letter every blob named by a poison-queue message")
    sub.set_defaults(command=_poison_sweep)

    sub = commands.add_parser("doctor", help="check settings, token, containers and (with --imodel) access")
    sub.add_argument("--imodel", help="also check that the service client can see this iModel")
    _json(sub)
    sub.set_defaults(command=_doctor)

    sub = commands.add_parser("status", help="where is this render now, and why (or every render of an iModel)")
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("blob", nargs="?", help="the blob, e.g. {imodelId}/render.png")
    target.add_argument("--imodel", help="every blob of this iModel id")
    _json(sub)
    sub.set_defaults(command=_status)

    sub = commands.add_parser("demo", help="moved to the dev kit: run `make run` (or python -m devkit.demo)")
    sub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    sub.set_defaults(command=_demo)
    return parser


def _json(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def _filters(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--imodel", help="only this iModel id")
    sub.add_argument("--code", help="only this error code, e.g. InsufficientPermissions")


# -- commands -----------------------------------------------------------------------------------


def _drain(args: argparse.Namespace, env: dict[str, str]) -> int:

    pipeline = compose.pipeline_from_env(env)
    report = drain(pipeline, workers=args.workers, on_outcome=None if args.json else print_outcome)
    if args.json:
        print_json(
            {
                "ok": report.ok,
                "seconds": round(report.seconds, 3),
                "counts": dict(report.counts),
                "outcomes": [outcome_json(outcome) for outcome in report.outcomes],
            }
        )
    else:
        print(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED


def _watch(args: argparse.Namespace, env: dict[str, str]) -> int:

    pipeline = compose.pipeline_from_env(env)
    print(f"watching {pipeline.settings.incoming_container} (Ctrl-C to stop)", flush=True)
    watch(pipeline, interval=args.interval, workers=args.workers, on_outcome=print_outcome)
    return EXIT_OK


def _upload(args: argparse.Namespace, env: dict[str, str]) -> int:

    imodel_id = canonical_guid(args.imodel)
    if imodel_id is None:
        print(f"error: {args.imodel!r} is not an iModel id (a GUID)", file=sys.stderr)
        return EXIT_USAGE
    client, policy = compose.uploader_from_env(env)
    try:
        thumbnail = _thumbnail(args.file.read_bytes(), env)
        print(describe(thumbnail))
        receipt = call_with_retries(
            lambda: client.put_thumbnail(imodel_id, thumbnail.data, thumbnail.content_type),
            policy,
        )
    except ThumbnailError as error:
        api = f" (api {error.api.status}, correlation {error.api.correlation_id})" if error.api else ""
        print(f"failed: {error.code.value}: {error.message}{api}\nhint: {error.hint}", file=sys.stderr)
        return EXIT_FAILED
    print(f"uploaded: {receipt.status} correlation {receipt.correlation_id}")
    return EXIT_OK


def _thumbnail(data: bytes, env: dict[str, str]) -> Thumbnail:
    """The thumbnail the pipeline would make, through the same (by default sandboxed) image stage."""
    images = compose.images_from_env(env, workers=1)
    try:
        return images.normalize(data, images.probe(data))
    finally:
        images.close()


def _normalize(args: argparse.Namespace, env: dict[str, str]) -> int:

    try:
        thumbnail = _thumbnail(args.input.read_bytes(), env)
    except ThumbnailError as error:
        print(f"refused: {error.code.value}: {error.message}\nhint: {error.hint}", file=sys.stderr)
        if error.details:
            print(f"detected: {json.dumps(error.details)}", file=sys.stderr)
        return EXIT_FAILED
    output = args.output or args.input.with_name(args.input.stem + ".thumbnail.png")
    output.write_bytes(thumbnail.data)
    print(describe(thumbnail))
    print(f"wrote {output}")
    return EXIT_OK


def _dead_letters(env: dict[str, str]) -> DeadLetters:

    settings, blobs = compose.storage_from_env(env)
    return DeadLetters(blobs, settings, utcnow)


def _deadletter_list(args: argparse.Namespace, env: dict[str, str]) -> int:
    entries = _dead_letters(env).list(imodel_id=args.imodel, code=args.code)
    if args.json:
        print_json([{"deadletter": entry.blob, "payload": entry.payload} for entry in entries])
        return EXIT_OK
    rows = [("BLOB", "CODE", "STATUS", "TIME", "ATTEMPTS"), *(entry.row() for entry in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"{len(entries)} dead-letter(s)")
    return EXIT_OK


def _deadletter_show(args: argparse.Namespace, env: dict[str, str]) -> int:
    entry = _dead_letters(env).show(args.blob)
    if entry is None:
        print(f"error: no dead-letter payload for {args.blob}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.json:
        print_json({"deadletter": entry.blob, "payload": entry.payload})
    else:
        print(json.dumps(entry.payload, indent=2))
    return EXIT_OK


def _deadletter_redrive(args: argparse.Namespace, env: dict[str, str]) -> int:
    if not (args.imodel or args.code or args.blob or args.all):
        print("error: say what to redrive: --imodel, --code, --blob, or --all", file=sys.stderr)
        return EXIT_USAGE
    letters = _dead_letters(env)
    entries = letters.list(imodel_id=args.imodel, code=args.code)
    if args.blob:
        wanted = {letters.name_of(name) for name in args.blob}
        entries = [entry for entry in entries if entry.blob in wanted]
    failed = 0
    for entry in entries:
        try:
            print(f"redriven     {entry.blob} ({entry.code}) -> {letters.redrive(entry)}")
        except (FileExistsError, FileNotFoundError) as problem:
            failed += 1
            print(f"not redriven {entry.blob}: {problem}", file=sys.stderr)
    print(f"{len(entries) - failed} redriven" + (f", {failed} not" if failed else ""))
    return EXIT_FAILED if failed else EXIT_OK


def _poison_sweep(args: argparse.Namespace, env: dict[str, str]) -> int:

    pipeline = compose.pipeline_from_env(env, needs_api=False)  # it settles blobs, never calls the API
    results = sweep(pipeline, poison_queue(pipeline.settings.storage))
    for result in results:
        name = f"{result.message.container}/{result.message.blob_name}" if result.message else "(unreadable)"
        print(f"{result.note:<55} {name}")
    print(f"{len(results)} poison message(s) seen")
    return EXIT_OK if all(r.outcome is None or r.outcome.settled for r in results) else EXIT_FAILED


def _doctor(args: argparse.Namespace, env: dict[str, str]) -> int:

    ok = True
    checks = []
    for check in run_checks(env, args.imodel):
        if args.json:
            checks.append({"name": check.name, "ok": check.ok, "detail": check.detail, "fix": check.fix or None})
        else:
            print(check.line(), flush=True)
        ok = ok and check.ok
    if args.json:
        print_json({"ok": ok, "checks": checks})
    return EXIT_OK if ok else EXIT_FAILED


def _status(args: argparse.Namespace, env: dict[str, str]) -> int:
    """0: found, nothing dead-lettered; 1: something is dead-lettered; 3: nowhere to be found."""
    settings, blobs = compose.storage_from_env(env)
    reader = StatusReader(blobs, settings)
    if args.imodel is not None:
        imodel_id = canonical_guid(args.imodel)
        if imodel_id is None:
            print(f"error: {args.imodel!r} is not an iModel id (a GUID)", file=sys.stderr)
            return EXIT_USAGE
        found = reader.of_imodel(imodel_id)
    else:
        found = reader.of_blob(args.blob)
    if args.json:
        print_json([status.as_json() for status in found])
    else:
        for status in found:
            print(status.line())
    if not found:
        print(f"error: {args.blob or args.imodel} is in none of the containers", file=sys.stderr)
        return EXIT_NOT_FOUND
    return EXIT_FAILED if any(status.state == DEADLETTERED for status in found) else EXIT_OK


def _demo(args: argparse.Namespace, env: dict[str, str]) -> int:
    """The demo needs Azurite and the emulator, which are development tools and never deployed."""
    print(
        "error: the demo is part of the dev kit, not of the deployed package: run `make run` "
        "(or `python -m devkit.demo`, `make run-keep` to keep the services up)",
        file=sys.stderr,
    )
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
