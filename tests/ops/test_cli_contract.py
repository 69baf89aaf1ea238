"""The CLI's contract, for every command: exit 0 ok, 1 failed, 2 usage or settings, 3 not found,
and never a traceback.

Most cases run in process (``main(argv, env)`` with captured streams) against the session's real
Azurite; the ones that need a real process run ``python -m shared.cli`` as a user's shell would:
a closed stdout pipe (what ``| head`` does) and Ctrl-C (SIGINT to the whole process group, which is
what a terminal sends, so the image worker processes get it too).
"""

from __future__ import annotations

import io
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
import uuid
from contextlib import redirect_stderr, redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.ops.cli import main
from tests.conftest import new_imodel, png_bytes
from tests.repo import ROOT

OK, FAILED, USAGE, NOT_FOUND = 0, 1, 2, 3

#: Every command and subcommand with arguments that parse; the property tests break them.
COMMANDS: list[list[str]] = [
    ["drain"],
    ["watch"],
    ["upload", "--imodel", "5e19bee0-3aea-4355-a9f0-c6df9989ee7d", "render.png"],
    ["normalize", "render.png"],
    ["deadletter", "list"],
    ["deadletter", "show", "5e19bee0-3aea-4355-a9f0-c6df9989ee7d/render.png"],
    ["deadletter", "redrive", "--all"],
    ["poison", "sweep"],
    ["doctor"],
    ["status", "5e19bee0-3aea-4355-a9f0-c6df9989ee7d/render.png"],
]
#: Commands that read storage (all but normalize, which reads only a file).
STORAGE_COMMANDS = [command for command in COMMANDS if command[0] not in {"normalize", "upload"}]

#: Arguments no command accepts, or values an option refuses.
BAD_ARGUMENTS: dict[str, list[list[str]]] = {
    "drain": [["--workers", "0"], ["--workers", "many"], ["--workers", "-3"]],
    "watch": [["--interval", "-1"], ["--interval", "nan"], ["--interval", "soon"], ["--workers", "0"]],
    "upload": [["--imodel", "not-a-guid"], ["--imodel", ""]],
    "normalize": [["--json"], ["--workers", "2"]],  # many inputs are valid (IN... OUTDIR/), options are not
    "deadletter list": [["--imodel", "bad"], ["--code", "NoSuchCode"], ["--imodel", "5e19bee0"]],
    "deadletter show": [["extra-blob"]],
    "deadletter redrive": [["--imodel", "bad"], ["--code", "NoSuchCode"]],
    "poison sweep": [["--all"]],
    "doctor": [["--imodel", "not-a-guid"]],
    "status": [["--imodel", "bad"]],
}

NOISE = st.sampled_from(["--nope", "-x", "--json=maybe", "--workers", "--imodel", "--", "ü", "%s", "-", ""])


def run(argv: list[str], env: dict[str, str]) -> tuple[int | str, str, str]:
    """Run the CLI in this process; an escaping exception is printed as the user would see it."""
    out_bytes = io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    err = io.StringIO()
    code: int | str
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv, env=env)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:  # the contract is that nothing escapes
            traceback.print_exc(file=err)
            code = "raised"
    out.flush()
    return code, out_bytes.getvalue().decode("utf-8", "replace"), err.getvalue()


def assert_contract(result: tuple[int | str, str, str], expected: int) -> None:
    code, out, err = result
    assert "Traceback" not in out + err, out + err
    assert code == expected, (code, out, err)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- usage ----------------------------------------------------------------------------------------


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_arguments_exit_2_without_a_traceback(data, tmp_path):
    command = data.draw(st.sampled_from(COMMANDS), label="command")
    key = " ".join(command[:2]) if command[0] in {"deadletter", "poison"} else command[0]
    bad = data.draw(st.sampled_from(BAD_ARGUMENTS[key]), label="bad")
    argv = [*command, *bad]
    code, out, err = run(argv, env={})
    assert "Traceback" not in out + err
    assert code == USAGE, (argv, code, out, err)
    assert err.strip(), "a usage error says what is wrong"


@settings(derandomize=True, max_examples=40, deadline=None)
@given(command=st.sampled_from(COMMANDS), noise=st.lists(NOISE, min_size=1, max_size=3))
def test_unknown_options_exit_2(command, noise):
    argv = [*command, "--no-such-option", *noise]
    assert_contract(run(argv, env={}), USAGE)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    command=st.sampled_from([*COMMANDS, ["deadletter"], ["poison"], ["demo"], []]),
    extra=st.lists(st.one_of(NOISE, st.text(max_size=12)), max_size=4),
)
def test_any_arguments_without_settings_end_in_a_documented_code(command, extra):
    """Whatever follows a command, with no settings nothing can reach storage or the API: the answer
    is help (0), a usage or settings error (2) or a missing file (3), never a traceback."""
    argv = [*command, *extra]
    code, out, err = run(argv, env={})
    assert "Traceback" not in out + err, (argv, out + err)
    assert code in (OK, USAGE, NOT_FOUND), (argv, code, out, err)
    assert code != OK or {"-h", "--help"} & set(argv), (argv, out, err)


@pytest.mark.parametrize("command", [[], ["deadletter"], ["poison"]])
def test_a_missing_command_exits_2(command):
    assert_contract(run(command, env={}), USAGE)


@pytest.mark.parametrize("command", [[], ["deadletter"], ["drain"], ["status"], ["normalize"]])
def test_help_exits_0(command):
    code, out, err = run([*command, "--help"], env={})
    assert_contract((code, out, err), OK)
    assert "usage:" in out
    assert "``" not in out, "help is plain text, not reStructuredText"


# -- settings -------------------------------------------------------------------------------------


@settings(derandomize=True, max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    command=st.sampled_from(STORAGE_COMMANDS),
    storage=st.sampled_from([None, "", "   ", "not a connection string"]),
    settings_after=st.booleans(),
)
def test_missing_or_empty_storage_setting_exits_2(command, storage, settings_after, tmp_path):
    env = {"ITWIN_CLIENT_ID": "client", "ITWIN_CLIENT_SECRET": "secret"}
    if storage is not None:
        env["THUMBNAILS_STORAGE"] = storage
    code, out, err = run(command, env=env)
    assert_contract((code, out, err), USAGE)
    assert "THUMBNAILS_STORAGE" in out + err  # doctor prints its failed check on stdout


@settings(derandomize=True, max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    command=st.sampled_from(COMMANDS),
    problem=st.sampled_from(["missing", "directory", "not json", "a list", "Values not an object", "binary"]),
    after=st.booleans(),
)
def test_a_bad_settings_file_exits_2_before_or_after_the_command(command, problem, after, tmp_path):
    path = tmp_path / f"settings-{uuid.uuid4().hex[:6]}.json"
    if problem == "directory":
        path.mkdir()
    elif problem == "not json":
        path.write_text("{ not json")
    elif problem == "a list":
        path.write_text("[1, 2]")
    elif problem == "Values not an object":
        path.write_text('{"Values": "x"}')
    elif problem == "binary":
        path.write_bytes(b"\xff\xfe\x00garbage")
    argv = [*command, "--settings", str(path)] if after else ["--settings", str(path), *command]
    code, out, err = run(argv, env={})
    assert_contract((code, out, err), USAGE)
    assert str(path) in err


def test_doctor_without_the_client_secret_is_a_settings_error(env, containers):
    without = {key: value for key, value in env.items() if key != "ITWIN_CLIENT_SECRET"}
    code, out, err = run(["doctor"], env=without)
    assert_contract((code, out, err), USAGE)
    assert "ITWIN_CLIENT_SECRET" in out + err


def test_settings_are_accepted_after_the_command(env, containers, tmp_path):
    path = tmp_path / "local.settings.json"
    import json

    path.write_text(json.dumps({"IsEncrypted": False, "Values": env}))
    assert_contract(run(["deadletter", "list", "--settings", str(path)], env={}), OK)
    assert_contract(run(["--settings", str(path), "deadletter", "list"], env={}), OK)


# -- not found ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["normalize", "upload"])
@pytest.mark.parametrize("what", ["missing", "directory"])
def test_a_missing_input_file_exits_3(command, what, tmp_path, env):
    target = tmp_path / "render.png"
    if what == "directory":
        target.mkdir()
    argv = ["normalize", str(target)] if command == "normalize" else ["upload", "--imodel", new_imodel(), str(target)]
    code, out, err = run(argv, env=env)
    assert_contract((code, out, err), NOT_FOUND)
    assert str(target) in err


@pytest.mark.parametrize(
    "argv",
    [
        ["deadletter", "show", "5e19bee0-3aea-4355-a9f0-c6df9989ee7d/none.png"],
        ["deadletter", "redrive", "--blob", "5e19bee0-3aea-4355-a9f0-c6df9989ee7d/none.png"],
        ["status", "5e19bee0-3aea-4355-a9f0-c6df9989ee7d/none.png"],
        ["status", "--imodel", "5e19bee0-3aea-4355-a9f0-c6df9989ee7d"],
    ],
)
def test_what_is_not_there_exits_3(argv, env, containers):
    code, out, err = run(argv, env=env)
    assert_contract((code, out, err), NOT_FOUND)
    assert "0 redriven" not in out


@settings(derandomize=True, max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from([c for c in STORAGE_COMMANDS if c[0] != "doctor"]))
def test_a_missing_container_is_a_settings_error_that_names_it(command, env):
    # ``env`` names four containers of its own, none of them created: a typo in a container setting
    code, out, err = run(command, env=env)
    assert_contract((code, out, err), USAGE)
    assert "_CONTAINER" in err, err


def test_doctor_reports_a_missing_container_as_a_failed_check(env):
    code, out, err = run(["doctor"], env=env)
    assert_contract((code, out, err), FAILED)
    assert env["THUMBNAILS_CONTAINER"] in out


def test_poison_sweep_without_a_poison_queue_has_nothing_to_do(env, containers):
    code, out, _ = run(["poison", "sweep"], env=env)
    assert_contract((code, out, _), OK)
    assert "0 poison message(s)" in out


# -- unreachable storage --------------------------------------------------------------------------


def test_unreachable_storage_fails_with_exit_1(env):
    """One command: every storage command meets the closed port in the same container check, and
    each case waits out the storage SDK's own retries (about 7 s)."""
    command = ["status", "--imodel", "5e19bee0-3aea-4355-a9f0-c6df9989ee7d"]
    port = closed_port()
    unreachable = {
        **env,
        "THUMBNAILS_STORAGE": (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        ),
    }
    code, out, err = run(command, env=unreachable)
    assert_contract((code, out, err), FAILED)
    assert "StorageUnavailable" in err
    assert "a2V5" not in out + err, "the account key never reaches the output"


# -- output ---------------------------------------------------------------------------------------


def test_normalize_dash_writes_the_png_to_stdout(tmp_path):
    source = tmp_path / "render.png"
    source.write_bytes(png_bytes(300, 200))
    assert not Path("-").exists()
    out_bytes = io.BytesIO()
    out = io.TextIOWrapper(out_bytes, write_through=True)
    err = io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["normalize", str(source), "-"], env={})
    assert code == OK, err.getvalue()
    assert out_bytes.getvalue().startswith(b"\x89PNG\r\n\x1a\n")
    assert not Path("-").exists()
    assert "PNG" in err.getvalue(), "the description goes to stderr, so stdout holds only the image"


def test_demo_keep_points_at_make_run_keep():
    code, out, err = run(["demo", "--keep"], env={})
    assert_contract((code, out, err), USAGE)
    assert "make run-keep" in err


# -- real processes: closed pipes and Ctrl-C ------------------------------------------------------


def _cli(*argv: str, env: dict[str, str] | None = None, **popen: object) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "shared.cli", *argv], cwd=ROOT, env=environment, **popen)  # type: ignore[call-overload, no-any-return]


@pytest.mark.parametrize("argv", [["--help"], ["deadletter", "list"]])
def test_a_closed_stdout_pipe_is_not_a_traceback(argv, env, containers):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte, as with `| head -c0`
    process = _cli(*argv, env=env, stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()
    assert b"Exception ignored" not in err, err.decode()
    assert process.returncode in (OK, FAILED), err.decode()


def test_ctrl_c_on_watch_exits_0_without_a_traceback(env, containers):
    process = _cli(
        "watch", "--interval", "0.2", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready, "watch printed nothing within 30 s"
    first = process.stdout.readline()
    assert b"watching" in first
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches every process of the group
    out, err = process.communicate(timeout=30)
    text = (first + out + err).decode()
    assert "Traceback" not in text, text
    assert "KeyboardInterrupt" not in text, text
    assert process.returncode == OK, text


def test_the_module_runs_as_documented(tmp_path: Path):
    process = _cli("--help", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=60)
    assert process.returncode == OK, err
    assert b"usage: python -m shared.cli" in out


@pytest.mark.parametrize("argv", [["--help"], ["drain", "--workers", "0"], ["status", "--imodel", "bad"]])
def test_help_and_usage_errors_load_no_sdk(argv):
    """Start-up cost is imports: --help and argument errors must not pay for the Azure SDK, requests,
    Pillow or the pipeline (bench/cli_startup.py measures the time)."""
    probe = (
        "import sys\nfrom shared.ops.cli import main\ncode = main(sys.argv[1:])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'azure', 'requests', 'PIL', 'numpy'})\n"
        "heavy += sorted(m for m in sys.modules if m.startswith(('shared.delivery', 'shared.imaging')))\n"
        "print('heavy:', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert "heavy: []" in result.stderr, result.stderr


def test_drain_says_when_it_waits_to_retry(env, containers, emulator):
    """A retry-after inside an invocation is silent time: the CLI says it is waiting, and for what."""
    containers.incoming.upload_blob(f"{new_imodel()}/render.png", png_bytes(100, 100))
    emulator.state.rate_limit_next(count=1, retry_after=1)
    code, out, err = run(["drain"], env=env)
    assert_contract((code, out, err), OK)
    assert "waiting 1.0 s" in err, err
    assert "uploaded" in out


@pytest.mark.parametrize("argv", [["doctor"], ["poison", "sweep"]])
def test_commands_that_start_image_workers_end_them_quietly(argv, env, containers):
    """A command that builds the pipeline starts image worker processes; left to interpreter exit,
    they died on a closed pipe and printed BrokenPipeError tracebacks (poison sweep: 6 runs of 6)."""
    process = _cli(*argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=60)
    text = (out + err).decode()
    assert "Traceback" not in text, text
    assert process.returncode == OK, text


class _NoIdentityImds(BaseHTTPRequestHandler):
    """The instance metadata endpoint of a machine with no managed identity assigned: 400 to every
    token request, as IMDS answers (azure-identity's imds.py turns that 400 into
    ``CredentialUnavailableError`` without retrying; a laptop, with no endpoint at all, gets the same
    error after its connection retries)."""

    def do_GET(self) -> None:
        body = b'{"error":"invalid_request","error_description":"Identity not found"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_apps_managed_identity_setting_on_a_laptop_is_a_settings_error(monkeypatch):
    """``THUMBNAILS_STORAGE__credential=managedidentity`` copied to an operator's machine: the managed
    identity credential asks the metadata endpoint, which has no identity for it.
    ``AZURE_POD_IDENTITY_AUTHORITY_HOST``, which azure-identity's imds.py reads, points it at one."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoIdentityImds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://127.0.0.1:{server.server_address[1]}")
    env = {
        "THUMBNAILS_STORAGE__blobServiceUri": f"https://127.0.0.1:{closed_port()}/devstoreaccount1",
        "THUMBNAILS_STORAGE__queueServiceUri": f"https://127.0.0.1:{closed_port()}/devstoreaccount1",
        "THUMBNAILS_STORAGE__credential": "managedidentity",
        "ITWIN_CLIENT_ID": "client",
        "ITWIN_CLIENT_SECRET": "secret",
    }
    try:
        code, out, err = run(["deadletter", "list"], env=env)
    finally:
        server.shutdown()
    assert_contract((code, out, err), USAGE)
    assert "THUMBNAILS_STORAGE__credential" in err
    assert "az login" in err
