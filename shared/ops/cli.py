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
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shared.core.errors import ThumbnailError
from shared.core.paths import canonical_guid
from shared.core.retry import RetryPolicy, call_with_retries
from shared.delivery.pipeline import build_pipeline, utcnow
from shared.edges.itwin import ItwinClient, TokenProvider, new_session
from shared.edges.storage import blob_service
from shared.imaging import InProcessImages, Thumbnail, describe
from shared.ops.deadletters import DeadLetters
from shared.ops.doctor import run_checks
from shared.ops.drain import drain, watch
from shared.ops.output import outcome_json, print_json, print_outcome
from shared.ops.poison import poison_queue, sweep
from shared.ops.status import DEADLETTERED, StatusReader
from shared.sandbox import SandboxedImages, image_stage
from shared.settings import (
    SettingsError,
    load_image_limits,
    load_itwin_settings,
    load_retry_settings,
    load_sandbox_settings,
    load_settings,
)

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

    sub = commands.add_parser(
        "normalize",
        help="write exactly the bytes that would be uploaded, and say how",
        description="normalize IN [OUT.png] | normalize IN... OUTDIR/ (files, or folders of files; "
        "one warm worker pool for all of them; OUTDIR is created; without OUT, next to IN)",
    )
    sub.add_argument("paths", nargs="+", metavar="PATH")  # str: a trailing "/" says "folder"
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

    pipeline = build_pipeline(load_settings(env))
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

    pipeline = build_pipeline(load_settings(env))
    print(f"watching {pipeline.settings.incoming_container} (Ctrl-C to stop)", flush=True)
    watch(pipeline, interval=args.interval, workers=args.workers, on_outcome=print_outcome)
    return EXIT_OK


def _upload(args: argparse.Namespace, env: dict[str, str]) -> int:

    imodel_id = canonical_guid(args.imodel)
    if imodel_id is None:
        print(f"error: {args.imodel!r} is not an iModel id (a GUID)", file=sys.stderr)
        return EXIT_USAGE
    itwin_settings = load_itwin_settings(env)
    retry = load_retry_settings(env)
    session = new_session()
    client = ItwinClient(itwin_settings, session, TokenProvider(itwin_settings, session))
    try:
        thumbnail = _thumbnail(args.file.read_bytes(), env)
        print(describe(thumbnail))
        receipt = call_with_retries(
            lambda: client.put_thumbnail(imodel_id, thumbnail.data, thumbnail.content_type),
            RetryPolicy.from_settings(retry),
        )
    except ThumbnailError as error:
        api = f" (api {error.api.status}, correlation {error.api.correlation_id})" if error.api else ""
        print(f"failed: {error.code.value}: {error.message}{api}\nhint: {error.hint}", file=sys.stderr)
        return EXIT_FAILED
    print(f"uploaded: {receipt.status} correlation {receipt.correlation_id}")
    return EXIT_OK


def _thumbnail(data: bytes, env: dict[str, str]) -> Thumbnail:
    """The thumbnail the pipeline would make, through the same (by default sandboxed) image stage."""
    sandbox = dataclasses.replace(load_sandbox_settings(env), workers=1)
    images = image_stage(load_image_limits(env), sandbox)
    try:
        return images.normalize(data, images.probe(data))
    finally:
        images.close()


def _normalize(args: argparse.Namespace, env: dict[str, str]) -> int:
    plan = normalize_plan(args.paths)
    if isinstance(plan, str):
        print(f"error: {plan}", file=sys.stderr)
        return EXIT_USAGE
    sandbox = load_sandbox_settings(env)
    # One stage for every file: its workers start once and stay warm (no more workers than files).
    images = image_stage(load_image_limits(env), dataclasses.replace(sandbox, workers=min(sandbox.workers, len(plan))))
    try:
        with ThreadPoolExecutor(max_workers=_images_at_once(images, len(plan))) as pool:
            results = list(pool.map(lambda job: _normalize_one(images, job[0]), plan))
    finally:
        images.close()
    failed = 0
    for (source, output), result in zip(plan, results, strict=True):
        prefix = f"{source}: " if len(plan) > 1 else ""
        if isinstance(result, ThumbnailError):
            failed += 1
            print(f"{prefix}refused: {result.code.value}: {result.message}\nhint: {result.hint}", file=sys.stderr)
            if result.details:
                print(f"{prefix}detected: {json.dumps(result.details)}", file=sys.stderr)
            continue
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(result.data)
        print(f"{prefix}{describe(result)}")
        print(f"wrote {output}")
    if len(plan) > 1:
        print(f"{len(plan) - failed} written, {failed} refused")
    return EXIT_FAILED if failed else EXIT_OK


def _normalize_one(images: SandboxedImages | InProcessImages, source: Path) -> Thumbnail | ThumbnailError:
    try:
        data = source.read_bytes()
        return images.normalize(data, images.probe(data))
    except ThumbnailError as error:
        return error


def _images_at_once(images: SandboxedImages | InProcessImages, files: int) -> int:
    """Files decoded at once: one per worker (in process: one)."""
    workers = images.sandbox.workers if isinstance(images, SandboxedImages) else 1
    return max(1, min(workers, files))


def normalize_plan(arguments: Sequence[str | Path]) -> list[tuple[Path, Path]] | str:
    """(input, output) pairs for ``normalize PATH...``, or what is wrong with the arguments.

    Like ``cp``: ``IN`` writes ``IN``'s stem + ``.thumbnail.png`` next to it; ``IN OUT`` writes
    ``OUT`` when ``OUT`` is not a folder; otherwise the last path is the output folder (made if
    needed; a path ending in ``/``, or after a folder input, is a folder too) and every other path
    is an input, a folder standing for the files directly in it (not hidden ones), in name order.
    """
    *inputs, last = [Path(argument) for argument in arguments]
    named_folder = str(arguments[-1]).endswith(("/", os.sep))
    to_folder = bool(inputs) and (
        last.is_dir() or named_folder or len(arguments) > 2 or any(path.is_dir() for path in inputs)
    )
    if inputs and not to_folder:
        return f"{inputs[0]} is not a file" if not inputs[0].is_file() else [(inputs[0], last)]
    files: list[Path] = []
    for source in inputs if to_folder else [last]:
        if source.is_dir():
            files += sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
        elif source.is_file():
            files.append(source)
        else:
            return f"{source} is neither a file nor a folder"
    if not files:
        return "no files to normalize"
    if not to_folder:
        return [(file, file.with_name(file.stem + ".thumbnail.png")) for file in files]
    stems = [file.stem for file in files]
    clashes = sorted({stem for stem in stems if stems.count(stem) > 1})
    if clashes:
        return f"several inputs would write {', '.join(c + '.thumbnail.png' for c in clashes)}"
    return [(file, last / (file.stem + ".thumbnail.png")) for file in files]


def _dead_letters(env: dict[str, str]) -> DeadLetters:

    settings = load_settings(env)
    return DeadLetters(blob_service(settings.storage), settings, utcnow)


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

    settings = load_settings(env)
    results = sweep(build_pipeline(settings), poison_queue(settings.storage))
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
    settings = load_settings(env)
    reader = StatusReader(blob_service(settings.storage), settings)
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
