"""The command line, in process (``main(argv, env)``) and once as ``python -m shared.cli``."""

import base64
import io
import json
import re
import subprocess
import sys

from PIL import Image

from shared.ops.cli import main
from tests.conftest import new_imodel, png_bytes
from tests.repo import ROOT


def test_drain_settles_every_blob_and_says_so(env, containers, emulator, capsys):
    good, bad = new_imodel(), new_imodel()
    containers.incoming.upload_blob(f"{good}/render.png", png_bytes(400, 300))
    containers.incoming.upload_blob(f"{bad}/notes.png", b"this is not an image")

    assert main(["drain"], env=env) == 0

    out = capsys.readouterr().out
    assert f"uploaded      {containers.incoming.container_name}/{good}/render.png" in out
    assert "deadlettered" in out
    assert "UnsupportedImageFormat" in out
    assert "2 blobs in" in out
    assert "1 uploaded, 1 deadlettered" in out


def test_drain_exits_non_zero_when_a_blob_failed_transiently(env, containers, emulator, capsys):
    containers.incoming.upload_blob(f"{new_imodel()}/render.png", png_bytes(100, 100))
    emulator.state.rate_limit_next(count=1, retry_after=3600)

    assert main(["drain"], env=env) == 1

    out = capsys.readouterr().out
    assert "retry" in out
    assert "TooManyRequests" in out
    assert "run drain again" in out
    assert len(containers.names(containers.incoming)) == 1


def test_deadletter_list_show_and_redrive(env, containers, emulator, capsys):
    imodel = new_imodel()
    emulator.state.forbid(imodel)
    containers.incoming.upload_blob(f"{imodel}/render.png", png_bytes(100, 100))
    main(["drain"], env=env)
    capsys.readouterr()

    assert main(["deadletter", "list", "--code", "InsufficientPermissions"], env=env) == 0
    listing = capsys.readouterr().out
    assert f"{imodel}/render.png" in listing
    assert "403" in listing
    assert "1 dead-letter(s)" in listing

    assert main(["deadletter", "show", f"{imodel}/render.png"], env=env) == 0
    assert json.loads(capsys.readouterr().out)["api"]["status"] == 403

    assert main(["deadletter", "redrive"], env=env) == 2  # refuses to redrive everything by accident
    emulator.state.allow(imodel)
    assert main(["deadletter", "redrive", "--imodel", imodel], env=env) == 0
    assert "1 redriven" in capsys.readouterr().out
    assert containers.names(containers.incoming) == [f"{imodel}/render.png"]
    assert main(["drain"], env=env) == 0
    assert len(emulator.state.uploads[imodel]) == 1


def test_normalize_writes_what_would_be_uploaded(tmp_path, capsys):
    source = tmp_path / "render.png"
    source.write_bytes(png_bytes(2000, 1000))
    target = tmp_path / "out.png"

    assert main(["normalize", str(source), str(target)], env={}) == 0

    with Image.open(io.BytesIO(target.read_bytes())) as image:
        assert image.size == (800, 400)
        assert image.format == "PNG"
    assert "wrote" in capsys.readouterr().out


def test_normalize_refuses_with_the_code_and_a_hint(tmp_path, capsys):
    source = tmp_path / "vector.svg"
    source.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert main(["normalize", str(source)], env={}) == 1
    err = capsys.readouterr().err
    assert "UnsupportedImageFormat" in err
    assert "hint:" in err


def test_upload_one_file_directly(env, emulator, tmp_path, capsys):
    imodel = new_imodel()
    source = tmp_path / "render.png"
    source.write_bytes(png_bytes(900, 500))
    assert main(["upload", "--imodel", imodel, str(source)], env=env) == 0
    assert "uploaded: 201" in capsys.readouterr().out
    assert len(emulator.state.uploads[imodel]) == 1


def test_upload_refuses_a_non_guid(env, tmp_path, capsys):
    assert main(["upload", "--imodel", "nope", str(tmp_path / "x.png")], env=env) == 2


def test_doctor_reports_each_check_and_the_fix(env, containers, emulator, capsys):
    imodel = new_imodel()
    assert main(["doctor", "--imodel", imodel], env=env) == 0
    out = capsys.readouterr().out
    assert out.count("ok  ") == 7  # settings, token, 4 containers (the state container too), imodel
    emulator.state.forbid(imodel)
    assert main(["doctor", "--imodel", imodel], env=env) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert "InsufficientPermissions" in out
    assert f"{env['ITWIN_CLIENT_ID']}@apps.imsoidc.bentley.com" in out


def test_doctor_names_a_bad_setting(env, capsys):
    assert main(["doctor"], env={**env, "ITWIN_TOKEN_URL": "http://ims.example.com/token"}) == 2
    out = capsys.readouterr().out
    assert "FAIL  settings" in out
    assert "ITWIN_TOKEN_URL" in out


def test_doctor_says_when_the_secret_is_wrong(env, containers, capsys):
    assert main(["doctor"], env={**env, "ITWIN_CLIENT_SECRET": "wrong"}) == 1
    out = capsys.readouterr().out
    assert "TokenRequestRejected" in out
    assert "wrong" not in out


def test_a_bad_setting_is_a_usage_error(env, capsys):
    assert main(["drain"], env={**env, "MAX_BLOB_BYTES": "lots"}) == 2
    assert "MAX_BLOB_BYTES" in capsys.readouterr().err


def test_the_module_runs_as_a_program(env, containers, emulator):
    containers.incoming.upload_blob(f"{new_imodel()}/render.png", png_bytes(300, 200))
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "drain"],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 uploaded" in result.stdout


def test_doctor_names_the_role_and_the_account_when_storage_answers_403(env, containers, capsys):
    """A key the account does not accept: what a missing data role looks like to the app (403)."""
    wrong_key = base64.b64encode(b"not the account key" * 3).decode()
    connection = re.sub("AccountKey=[^;]+", f"AccountKey={wrong_key}", env["THUMBNAILS_STORAGE"])
    assert main(["doctor"], env={**env, "THUMBNAILS_STORAGE": connection}) == 1
    out = capsys.readouterr().out
    assert "StorageAccessDenied" in out
    assert "Storage Blob Data Owner" in out
    assert "devstoreaccount1" in out
