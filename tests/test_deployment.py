"""What ships: ``.funcignore`` leaves out whole development folders, and the deployed files alone import.

Nothing under ``devkit/``, ``tests/`` or ``bench/`` may be reachable from ``function_app``: the test
copies the deployed file set into an empty folder and imports the app there, in a fresh interpreter
whose path holds that folder and the installed packages only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.deployment import copy_deployment, deployed_files, funcignore_patterns

DEV_ONLY_FOLDERS = ("devkit", "tests", "bench", "infra", "node_modules")


def test_funcignore_excludes_each_development_folder_whole():
    patterns = funcignore_patterns()
    for folder in DEV_ONLY_FOLDERS:
        assert folder in patterns, f".funcignore must exclude {folder}/ as a whole folder"
    assert not [pattern for pattern in patterns if "/" in pattern.strip("/")], "no file-by-file exclusions"


def test_the_deployed_file_set_is_the_app_and_its_package_only():
    files = deployed_files()
    tops = {path.parts[0] for path in files}
    assert tops == {"function_app.py", "host.json", "requirements.txt", "shared", "README.md", ".funcignore"}
    assert not [path for path in files if path.suffix == ".py" and path.parts[0] not in ("shared", "function_app.py")]


def test_the_deployed_files_import_function_app_without_the_dev_kit(tmp_path: Path, env):
    copy_deployment(tmp_path)
    probe = (
        "import json, sys\n"
        "import function_app\n"
        "ours = sorted(m for m in sys.modules if m.split('.')[0] in ('shared', 'devkit', 'tests', 'bench'))\n"
        "print(json.dumps({'modules': ours, 'file': function_app.__file__}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", probe],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(seen["file"]).resolve().parent == tmp_path.resolve()
    assert {name.split(".")[0] for name in seen["modules"]} == {"shared"}
    assert "shared.delivery.host" in seen["modules"]
    assert not (tmp_path / "devkit").exists()
