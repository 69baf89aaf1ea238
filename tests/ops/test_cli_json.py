"""`--json` and `status`: what a script sees, against Azurite and the emulator, and the exit codes."""

from __future__ import annotations

import json

import pytest

from shared.delivery import host
from shared.delivery.source import DROPPED_METADATA
from shared.ops.cli import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, main
from tests.conftest import new_imodel, png_bytes


def run_json(argv, env, capsys):
    status = main(argv, env=env)
    out = capsys.readouterr().out
    return status, json.loads(out)


def test_drain_json_is_one_document_with_every_outcome(env, containers, emulator, capsys):
    good, bad = new_imodel(), new_imodel()
    containers.incoming.upload_blob(f"{good}/render.png", png_bytes(400, 300))
    containers.incoming.upload_blob(f"{bad}/notes.png", b"this is not an image")

    status, document = run_json(["drain", "--json"], env, capsys)

    assert status == EXIT_OK
    assert document["ok"] is True
    assert document["counts"] == {"uploaded": 1, "deadlettered": 1}
    by_blob = {o["blob"].split("/", 1)[1]: o for o in document["outcomes"]}
    assert by_blob[f"{good}/render.png"]["status"] == "uploaded"
    assert by_blob[f"{good}/render.png"]["correlation_id"]
    assert by_blob[f"{bad}/notes.png"]["code"] == "UnsupportedImageFormat"


def test_drain_json_exit_code_says_a_blob_is_left_for_later(env, containers, emulator, capsys):
    containers.incoming.upload_blob(f"{new_imodel()}/render.png", png_bytes(100, 100))
    emulator.state.rate_limit_next(count=1, retry_after=3600)

    status, document = run_json(["drain", "--json"], env, capsys)

    assert status == EXIT_FAILED
    assert document["ok"] is False
    assert document["outcomes"][0]["code"] == "TooManyRequests"


def test_deadletter_list_and_show_json(env, containers, emulator, capsys):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(300, 200))
    main(["drain"], env=env)
    capsys.readouterr()

    status, listed = run_json(["deadletter", "list", "--json"], env, capsys)
    assert status == EXIT_OK
    assert [(e["deadletter"], e["payload"]["code"]) for e in listed] == [
        (f"{imodel}/render.png", "InsufficientPermissions")
    ]
    status, shown = run_json(["deadletter", "show", f"{imodel}/render.png", "--json"], env, capsys)
    assert status == EXIT_OK
    assert shown["payload"]["hint"].startswith("Add ")
    assert main(["deadletter", "show", f"{new_imodel()}/nothing.png"], env=env) == EXIT_NOT_FOUND


def test_doctor_json_lists_each_check_with_its_fix(env, containers, emulator, capsys):
    status, document = run_json(["doctor", "--json"], env, capsys)
    assert status == EXIT_OK
    assert document["ok"] is True
    assert document["checks"][0] == {
        "name": "settings",
        "ok": True,
        "detail": "every setting present and well-formed",
        "fix": None,
    }

    status, document = run_json(["doctor", "--json"], {**env, "ITWIN_CLIENT_SECRET": "wrong"}, capsys)
    assert status == EXIT_FAILED
    failed = [check for check in document["checks"] if not check["ok"]]
    assert failed
    assert failed[0]["name"] == "token"
    assert failed[0]["fix"]


def test_status_of_a_blob_waiting_with_attempts(env, containers, emulator, capsys):
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(300, 200))
    assert main(["status", name], env=env) == EXIT_OK
    line = capsys.readouterr().out
    # the count is of attempts that ended: one may be retrying right now, so never "not tried yet"
    assert "not tried yet" not in line
    assert "no attempt has ended yet" in line

    emulator.state.rate_limit_next(count=1, retry_after=3600)
    main(["drain"], env=env)
    capsys.readouterr()

    status, found = run_json(["status", name, "--json"], env, capsys)
    assert status == EXIT_OK
    assert found == [
        {
            "blob": name,
            "state": "incoming",
            "container": containers.incoming.container_name,
            "imodel_id": name.split("/")[0],
            "attempts": 1,
            "at": found[0]["at"],
        }
    ]


def test_status_of_a_processed_blob_has_the_upload_time_and_correlation_id(env, containers, emulator, capsys):
    name = f"{new_imodel()}/render.png"
    containers.incoming.upload_blob(name, png_bytes(300, 200))
    main(["drain", "--json"], env=env)
    correlation = json.loads(capsys.readouterr().out)["outcomes"][0]["correlation_id"]

    status, (found,) = run_json(["status", f"{containers.processed.container_name}/{name}", "--json"], env, capsys)

    assert status == EXIT_OK
    assert found["state"] == "processed"
    assert found["correlation_id"] == correlation
    assert found["at"].endswith("Z")
    assert main(["status", name], env=env) == EXIT_OK
    assert f"uploaded at {found['at']}, correlation {correlation}" in capsys.readouterr().out


def test_status_of_a_dead_lettered_blob_says_its_code_hint_and_invocation(env, containers, emulator, capsys):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    name = f"{imodel}/render.png"
    containers.incoming.upload_blob(name, png_bytes(300, 200))
    host.reset()
    host.start(env)
    try:
        host.handle_blob(containers.incoming.get_blob_client(name), invocation_id="inv-42")
    finally:
        host.reset()

    status, (found,) = run_json(["status", name, "--json"], env, capsys)

    assert status == EXIT_FAILED  # a person has to act
    assert (found["state"], found["code"], found["invocation_id"]) == (
        "deadlettered",
        "InsufficientPermissions",
        "inv-42",
    )
    assert found["hint"].startswith("Add ")
    assert found["attempts"] == 1
    main(["status", name], env=env)
    assert "hint: Add " in capsys.readouterr().out


def test_status_of_an_imodel_lists_each_render_in_each_place(env, containers, emulator, capsys):
    imodel = new_imodel()
    containers.incoming.upload_blob(f"{imodel}/first.png", png_bytes(300, 200))
    main(["drain"], env=env)
    containers.incoming.upload_blob(f"{imodel}/second.png", png_bytes(300, 200))
    containers.incoming.upload_blob(f"{new_imodel()}/other.png", png_bytes(300, 200))
    capsys.readouterr()

    status, found = run_json(["status", "--imodel", imodel.upper(), "--json"], env, capsys)

    assert status == EXIT_OK
    assert [(s["blob"], s["state"]) for s in found] == [
        (f"{imodel}/first.png", "processed"),
        (f"{imodel}/second.png", "incoming"),
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "nowhere/render.png"], EXIT_NOT_FOUND),
        (["status", "--imodel", "not-a-guid"], EXIT_USAGE),
    ],
)
def test_status_exit_codes(env, containers, argv, expected, capsys):
    assert main(argv, env=env) == expected
    assert "error: " in capsys.readouterr().err  # argparse's usage line comes first on a usage error


def test_status_of_a_superseded_blob_names_the_newer_one(env, containers, emulator, pipeline, capsys):
    imodel = new_imodel()
    older, newer = f"{imodel}/older.png", f"{imodel}/newer.png"
    containers.incoming.upload_blob(newer, png_bytes(300, 200))
    assert pipeline.process(containers.incoming.get_blob_client(newer)).status.value == "uploaded"
    # The older render arrives late: a redrive keeps its original (earlier) drop time in metadata.
    containers.incoming.upload_blob(older, png_bytes(300, 200), metadata={DROPPED_METADATA: "2000-01-01T00:00:00Z"})
    assert pipeline.process(containers.incoming.get_blob_client(older)).status.value == "superseded"

    status, (found,) = run_json(["status", older, "--json"], env, capsys)

    assert status == EXIT_OK
    assert (found["state"], found["superseded_by"]) == ("superseded", newer)
    main(["status", older], env=env)
    assert f"not uploaded, {newer} was newer" in capsys.readouterr().out
