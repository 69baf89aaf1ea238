"""``python -m shared.cli``: drive the pipeline locally and operate a deployment.

The contract, for every command and every input: exit 0 ok, 1 failed (or needs a person), 2 usage
or settings, 3 not found; a message for people on stderr, never a traceback.

Start-up stays cheap: this module imports only the standard library at the top; each command
(and each argument check) imports the Azure SDK, requests, Pillow and the pipeline it needs when it runs, so
``--help`` and argument errors answer before any of them loads.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import subprocess

    from azure.storage.blob import BlobServiceClient

    from shared.imaging import Thumbnail
    from shared.ops.deadletters import DeadLetters
    from shared.settings import Settings, StorageSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND = 0, 1, 2, 3

DESCRIPTION = """\
Drive the thumbnail pipeline locally and operate a deployment.

Every command reads the function's settings: environment variables, plus the Values of a
Functions local.settings.json given with --settings FILE (before or after the command; the
environment wins). --json prints one JSON document on stdout; messages go to stderr.
"""
EPILOG = """\
exit codes: 0 ok; 1 failed or needs a person (a transient failure left for the next drain, a
failed check, a dead-lettered blob, unreachable storage); 2 usage or settings error (the message
names the argument or setting); 3 not found (a file, blob or dead-letter)."""

#: The setting that names each container, by the attribute that holds it in ``Settings``.
CONTAINER_SETTINGS = {
    "incoming_container": "THUMBNAILS_CONTAINER",
    "processed_container": "PROCESSED_CONTAINER",
    "deadletter_container": "DEADLETTER_CONTAINER",
}


class CliError(Exception):
    """A failure the CLI reports as one line and an exit code (never a traceback)."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


Command = Callable[[argparse.Namespace, dict[str, str]], int]


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse's --help (0) and usage errors (2), already printed
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    command: Command = args.command
    logging.getLogger("azure.identity").setLevel(logging.ERROR)  # the error line below says it once
    try:
        environment = _environment(args.settings, os.environ if env is None else env)
        return command(args, environment)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return EXIT_OK if command is _watch else EXIT_FAILED
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say to it
        return EXIT_FAILED
    except Exception as error:  # the last word: a message and an exit code
        return _report(error)


def run() -> NoReturn:
    """``python -m shared.cli``: ``main`` plus a quiet exit when stdout's reader has gone away."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or EXIT_FAILED
    if _stdout_broken():
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's last flush
    raise SystemExit(code)


def _stdout_broken() -> bool:
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        return True
    return False


def _report(error: Exception) -> int:
    """Known failures as ``code: message`` and their hint; anything else as one line."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError

    from shared.core.errors import ThumbnailError
    from shared.edges.storage import storage_error
    from shared.settings import SettingsError

    if isinstance(error, SettingsError):
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, ClientAuthenticationError):  # no credential: the environment, not an outage
        print(f"error: cannot sign in to storage: {_first_line(error)}\n{SIGN_IN_HINT}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, AzureError):
        error = storage_error("reach the storage account", error)
    if isinstance(error, ThumbnailError):
        print(f"failed: {error.code.value}: {error.message}\nhint: {error.hint}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(error, OSError):
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"error: unexpected {type(error).__name__}: {error} (please report it)", file=sys.stderr)
    return EXIT_FAILED


SIGN_IN_HINT = (
    "hint: the CLI signs in as you: `az login`, and set THUMBNAILS_STORAGE__blobServiceUri and "
    "__queueServiceUri only. THUMBNAILS_STORAGE__credential=managedidentity works only inside Azure, "
    "and a connection string cannot work where shared keys are off."
)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _environment(settings_file: str | None, env: Mapping[str, str]) -> dict[str, str]:
    """The ``Values`` of ``settings_file`` under ``env``; a file that cannot be used is a settings error."""
    merged: dict[str, str] = {}
    if settings_file:
        try:
            document = json.loads(Path(settings_file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CliError(EXIT_USAGE, f"--settings {settings_file}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CliError(EXIT_USAGE, f"--settings {settings_file}: not a readable JSON file ({exc})") from exc
        values = document.get("Values", {}) if isinstance(document, dict) else None
        if not isinstance(values, dict):
            raise CliError(EXIT_USAGE, f'--settings {settings_file}: expected {{"Values": {{NAME: value}}}}')
        merged.update({str(key): str(value) for key, value in values.items()})
    merged.update(env)
    return merged


# -- arguments ------------------------------------------------------------------------------------


def _guid(text: str) -> str:
    from shared.core.paths import canonical_guid

    guid = canonical_guid(text)
    if guid is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an iModel id (a GUID)")
    return guid


def _code(text: str) -> str:
    from shared.core.errors import ErrorCode

    if text not in {code.value for code in ErrorCode}:
        raise argparse.ArgumentTypeError(f"{text!r} is not an error code (docs/errors.md lists them)")
    return text


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 64")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings", metavar="FILE", default=argparse.SUPPRESS, help="a local.settings.json whose Values to use"
    )
    parser = argparse.ArgumentParser(
        prog="python -m shared.cli",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--settings", metavar="FILE", help="a local.settings.json whose Values to use")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_text: str, run: Command, into: Any = commands) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = into.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(command=run)
        return sub

    sub = command("drain", "process every blob in the incoming container once", _drain)
    sub.add_argument("--workers", type=_workers, default=4, help="blobs handled at once (default 4)")
    _json(sub)

    sub = command("watch", "keep draining as blobs arrive (a local stand-in for the host); Ctrl-C stops", _watch)
    sub.add_argument("--workers", type=_workers, default=4, help="blobs handled at once (default 4)")
    sub.add_argument("--interval", type=_seconds, default=2.0, help="seconds between polls (default 2)")

    sub = command("upload", "normalize one file and upload it as an iModel's thumbnail", _upload)
    sub.add_argument("--imodel", type=_guid, required=True, help="the iModel id")
    sub.add_argument("file", type=Path)

    sub = command(
        "normalize",
        "write exactly the bytes that would be uploaded, and say how: normalize IN [OUT|-] | normalize IN... OUTDIR/ "
        "(files, or folders of files, through one warm worker pool; OUTDIR is created)",
        _normalize,
    )
    sub.add_argument("paths", nargs="+", metavar="PATH", help="inputs, then the output (- for stdout)")

    deadletter = commands.add_parser("deadletter", help="list, show and redrive dead-letters", parents=[common])
    actions = deadletter.add_subparsers(required=True, metavar="ACTION")
    sub = command("list", "a table of dead-lettered blobs", _deadletter_list, actions)
    _filters(sub)
    _json(sub)
    sub = command("show", "print one payload", _deadletter_show, actions)
    sub.add_argument("blob", help="the blob, e.g. {imodelId}/render.png")
    _json(sub)
    sub = command("redrive", "move originals back to the incoming container", _deadletter_redrive, actions)
    _filters(sub)
    sub.add_argument("--blob", action="append", default=[], help="only this blob (repeatable)")
    sub.add_argument("--all", action="store_true", help="redrive everything (needed when no filter is given)")

    poison = commands.add_parser("poison", help="the host's poison queue", parents=[common])
    actions = poison.add_subparsers(required=True, metavar="ACTION")
    command("sweep", "dead-letter every blob named by a poison-queue message", _poison_sweep, actions)

    sub = command("doctor", "check settings, token, containers and (with --imodel) access", _doctor)
    sub.add_argument("--imodel", type=_guid, help="also check that the service client can see this iModel")
    _json(sub)

    sub = command("status", "where is this render now, and why (or every render of an iModel)", _status)
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("blob", nargs="?", help="the blob, e.g. {imodelId}/render.png")
    target.add_argument("--imodel", type=_guid, help="every blob of this iModel id")
    _json(sub)

    sub = command("demo", "the demo is in the dev kit: make run (make run-keep keeps the services up)", _demo)
    sub.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    return parser


def _json(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def _filters(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--imodel", type=_guid, help="only this iModel id")
    sub.add_argument("--code", type=_code, help="only this error code, e.g. InsufficientPermissions")


# -- shared steps ---------------------------------------------------------------------------------


def _settings(env: dict[str, str], *, needs_api: bool = True) -> Settings:
    """Every setting (``needs_api=False``: without the service client, for commands that never call the API)."""
    from shared.settings import SettingsError, load_settings

    try:
        return load_settings(env, needs_api=needs_api)
    except SettingsError as error:
        raise CliError(EXIT_USAGE, str(error)) from error


def _storage_settings(env: dict[str, str]) -> StorageSettings:
    """The containers and the account: all ``deadletter`` and ``status`` need."""
    from shared.settings import SettingsError, load_storage_settings

    try:
        return load_storage_settings(env)
    except SettingsError as error:
        raise CliError(EXIT_USAGE, str(error)) from error


def _storage(settings: StorageSettings, *containers: str) -> BlobServiceClient:
    """The account's client, after checking that ``containers`` exist: a missing one is a setting
    that names the wrong container (or a deployment not made yet), not an outage."""
    from shared.edges.storage import blob_service

    service = blob_service(settings.storage)
    credential = getattr(service, "credential", None)
    if settings.storage.connection_string is None and credential is not None:
        # sign in once, up front: the storage SDK retries a failed sign-in like an outage (seconds)
        credential.get_token("https://storage.azure.com/.default")
    for attribute in containers:
        name = getattr(settings, attribute)
        if not service.get_container_client(name).exists():
            raise CliError(
                EXIT_USAGE,
                f"container {name!r} (set by {CONTAINER_SETTINGS[attribute]}) does not exist in "
                f"{service.account_name}: check the setting, or deploy the app (azd up) first",
            )
    return service


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise CliError(EXIT_NOT_FOUND, f"{path}: no such file") from None
    except OSError as exc:
        raise CliError(EXIT_FAILED, f"{path}: cannot be read ({exc.strerror})") from exc


def _thumbnail(data: bytes, env: dict[str, str]) -> Thumbnail:
    """The thumbnail the pipeline would make, through the same (by default sandboxed) image stage."""
    from shared.delivery import compose
    from shared.settings import SettingsError

    try:
        images = compose.images_from_env(env, workers=1)
    except SettingsError as error:
        raise CliError(EXIT_USAGE, str(error)) from error
    try:
        return images.normalize(data, images.probe(data))
    finally:
        images.close()


def _dead_letters(env: dict[str, str], *containers: str) -> DeadLetters:
    from shared.delivery.pipeline import utcnow
    from shared.ops.deadletters import DeadLetters

    settings = _storage_settings(env)
    return DeadLetters(_storage(settings, "deadletter_container", *containers), settings, utcnow)


def _announcing_sleep(seconds: float) -> None:
    """The pipeline's sleep, saying so on stderr when a wait is long enough for a person to wonder
    (a ``retry-after``, a backoff): otherwise ``watch`` and ``drain`` are silent for up to a minute."""
    import time

    if seconds >= 1:
        print(
            f"retry         waiting {seconds:.1f} s before trying a blob again "
            "(a transient failure; its line follows when it settles)",
            file=sys.stderr,
            flush=True,
        )
    time.sleep(seconds)


# -- commands -------------------------------------------------------------------------------------


def _drain(args: argparse.Namespace, env: dict[str, str]) -> int:
    from shared.delivery.compose import build_pipeline
    from shared.ops.drain import drain
    from shared.ops.output import outcome_json, print_json, print_outcome

    settings = _settings(env)
    _storage(settings, *CONTAINER_SETTINGS)
    pipeline = build_pipeline(settings, sleep=_announcing_sleep)
    try:
        report = drain(pipeline, workers=args.workers, on_outcome=None if args.json else print_outcome)
    finally:
        pipeline.close()
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
    from shared.delivery.compose import build_pipeline
    from shared.ops.drain import watch
    from shared.ops.output import print_outcome

    settings = _settings(env)
    _storage(settings, *CONTAINER_SETTINGS)
    pipeline = build_pipeline(settings, sleep=_announcing_sleep)
    try:
        print(f"watching {settings.incoming_container} (Ctrl-C to stop)", flush=True)
        watch(pipeline, interval=args.interval, workers=args.workers, on_outcome=print_outcome)
    finally:
        pipeline.close()
    return EXIT_OK


def _upload(args: argparse.Namespace, env: dict[str, str]) -> int:
    from shared.core.errors import ThumbnailError
    from shared.core.retry import call_with_retries
    from shared.delivery import compose
    from shared.imaging import describe
    from shared.settings import SettingsError

    data = _read(args.file)
    try:
        client, policy = compose.uploader_from_env(env)
    except SettingsError as error:
        raise CliError(EXIT_USAGE, str(error)) from error
    try:
        thumbnail = _thumbnail(data, env)
        print(describe(thumbnail))
        receipt = call_with_retries(
            lambda: client.put_thumbnail(args.imodel, thumbnail.data, thumbnail.content_type),
            policy,
        )
    except ThumbnailError as error:
        api = f" (api {error.api.status}, correlation {error.api.correlation_id})" if error.api else ""
        print(f"failed: {error.code.value}: {error.message}{api}\nhint: {error.hint}", file=sys.stderr)
        return EXIT_FAILED
    print(f"uploaded: {receipt.status} correlation {receipt.correlation_id}")
    return EXIT_OK


def _normalize(args: argparse.Namespace, env: dict[str, str]) -> int:
    from shared.ops.normalize import missing_inputs, normalize_plan
    from shared.sandbox.spawn import start_worker

    missing = missing_inputs(args.paths)
    if missing:
        raise CliError(EXIT_NOT_FOUND, "; ".join(missing))
    to_stdout = len(args.paths) == 2 and args.paths[1] == "-"
    plan = [(Path(args.paths[0]), Path("-"))] if to_stdout else normalize_plan(args.paths)
    if isinstance(plan, str):
        raise CliError(EXIT_USAGE, plan)
    if to_stdout and not plan[0][0].is_file():
        raise CliError(EXIT_USAGE, f"{args.paths[0]} is not a file")
    # The arguments hold: start one worker now, so its start-up runs while this process imports the
    # settings, Pillow and the pipeline.  Only with IMAGE_ISOLATION unset (isolation is the default;
    # a set value is parsed by the settings, and an unneeded worker is closed by image_stage).
    started = [start_worker()] if "IMAGE_ISOLATION" not in env else []
    try:
        return _normalize_planned(plan, to_stdout, env, started)
    finally:
        for process in started:  # only when the settings failed before the stage adopted it
            if process.returncode is None and process.stdin is not None and not process.stdin.closed:
                process.stdin.close()
                process.wait()


def _normalize_planned(
    plan: list[tuple[Path, Path]], to_stdout: bool, env: dict[str, str], started: list[subprocess.Popen[bytes]]
) -> int:
    import dataclasses

    from shared.core.errors import ThumbnailError
    from shared.imaging import describe
    from shared.ops.normalize import normalize_all
    from shared.sandbox import image_stage
    from shared.settings import SettingsError, load_image_limits, load_sandbox_settings

    try:
        limits, sandbox = load_image_limits(env), load_sandbox_settings(env)
    except SettingsError as error:
        raise CliError(EXIT_USAGE, str(error)) from error
    # One stage for every file: its workers start once and stay warm (no more workers than files).
    images = image_stage(limits, dataclasses.replace(sandbox, workers=min(sandbox.workers, len(plan))), started)
    try:
        results = normalize_all(images, [source for source, _ in plan])
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
        if to_stdout:  # the PNG is stdout's only content, so it can be piped
            print(describe(result), file=sys.stderr)
            sys.stdout.flush()
            sys.stdout.buffer.write(result.data)
            sys.stdout.buffer.flush()
            continue
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(result.data)
        except OSError as exc:
            raise CliError(EXIT_FAILED, f"{output}: cannot be written ({exc.strerror})") from exc
        print(f"{prefix}{describe(result)}")
        print(f"wrote {output}")
    if len(plan) > 1:
        print(f"{len(plan) - failed} written, {failed} refused")
    return EXIT_FAILED if failed else EXIT_OK


def _deadletter_list(args: argparse.Namespace, env: dict[str, str]) -> int:
    from shared.ops.output import print_json

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
    from shared.ops.output import print_json

    entry = _dead_letters(env).show(args.blob)
    if entry is None:
        raise CliError(EXIT_NOT_FOUND, f"no dead-letter payload for {args.blob}")
    if args.json:
        print_json({"deadletter": entry.blob, "payload": entry.payload})
    else:
        print(json.dumps(entry.payload, indent=2))
    return EXIT_OK


def _deadletter_redrive(args: argparse.Namespace, env: dict[str, str]) -> int:
    if not (args.imodel or args.code or args.blob or args.all):
        raise CliError(EXIT_USAGE, "say what to redrive: --imodel, --code, --blob, or --all")
    letters = _dead_letters(env, "incoming_container")
    entries = letters.list(imodel_id=args.imodel, code=args.code)
    if args.blob:
        wanted = {letters.name_of(name) for name in args.blob}
        missing = sorted(wanted - {entry.blob for entry in entries})
        if missing:
            raise CliError(EXIT_NOT_FOUND, f"not dead-lettered (nothing redriven): {', '.join(missing)}")
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
    from shared.delivery.compose import build_pipeline
    from shared.ops.poison import poison_queue, sweep

    settings = _settings(env, needs_api=False)  # it settles blobs, never calls the API
    _storage(settings, "incoming_container", "deadletter_container")
    try:
        queue = poison_queue(settings.storage)
    except ValueError as error:  # identity-based settings without the queue endpoint
        raise CliError(EXIT_USAGE, str(error)) from error
    pipeline = build_pipeline(settings)
    try:
        results = sweep(pipeline, queue)
    finally:
        pipeline.close()
    for result in results:
        name = f"{result.message.container}/{result.message.blob_name}" if result.message else "(unreadable)"
        print(f"{result.note:<55} {name}")
    print(f"{len(results)} poison message(s) seen")
    return EXIT_OK if all(r.outcome is None or r.outcome.settled for r in results) else EXIT_FAILED


def _doctor(args: argparse.Namespace, env: dict[str, str]) -> int:
    """1 when a check fails; 2 when the first one, the settings, does (nothing else can be checked)."""
    from shared.ops.doctor import run_checks
    from shared.ops.output import print_json

    ok, settings_ok = True, True
    checks = []
    for check in run_checks(env, args.imodel):
        if args.json:
            checks.append({"name": check.name, "ok": check.ok, "detail": check.detail, "fix": check.fix or None})
        else:
            print(check.line(), flush=True)
        ok = ok and check.ok
        settings_ok = settings_ok and (check.ok or check.name != "settings")
    if args.json:
        print_json({"ok": ok, "checks": checks})
    if not settings_ok:
        return EXIT_USAGE
    return EXIT_OK if ok else EXIT_FAILED


def _status(args: argparse.Namespace, env: dict[str, str]) -> int:
    """0: found, nothing dead-lettered; 1: something is dead-lettered; 3: nowhere to be found."""
    from shared.ops.output import print_json
    from shared.ops.status import DEADLETTERED, StatusReader

    settings = _storage_settings(env)
    reader = StatusReader(_storage(settings, *CONTAINER_SETTINGS), settings)
    found = reader.of_imodel(args.imodel) if args.imodel is not None else reader.of_blob(args.blob)
    if args.json:
        print_json([status.as_json() for status in found])
    else:
        for status in found:
            print(status.line())
    if not found:
        raise CliError(EXIT_NOT_FOUND, f"{args.blob or args.imodel} is in none of the containers")
    return EXIT_FAILED if any(status.state == DEADLETTERED for status in found) else EXIT_OK


def _demo(args: argparse.Namespace, env: dict[str, str]) -> int:
    """The demo needs Azurite and the emulator, which are development tools and never deployed."""
    target = "make run-keep" if args.keep else "make run"
    raise CliError(
        EXIT_USAGE,
        f"the demo is part of the dev kit, not of the deployed package: run `{target}` "
        f"(or `python -m devkit.demo{' --keep' if args.keep else ''}`)",
    )


if __name__ == "__main__":
    run()
