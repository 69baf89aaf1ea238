"""The preprovision hook: after `azd down`, `azd up` with the same environment name recovers the
soft-deleted Key Vault instead of failing on its taken name.

There is no Azure here, so the hook runs against a stand-in ``az`` on PATH that records each call
and answers ``keyvault list-deleted`` with what Azure would list; the test checks the calls the hook
makes (and in which order), not Azure's behaviour.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.infra import templates as t

HOOK = t.INFRA / "hooks" / "preprovision.sh"

FAKE_AZ = """#!/bin/sh
printf '%s\\n' "$*" >> "$AZ_CALLS"
case "$1 $2" in
  "keyvault list-deleted") cat "$AZ_DELETED" ;;
esac
"""


def run_hook(tmp_path: Path, deleted: str, env_name: str = "thumbnails-dev") -> tuple[int, list[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ)
    az.chmod(0o755)
    (tmp_path / "deleted.tsv").write_text(deleted)
    calls = tmp_path / "calls.txt"
    calls.touch()
    result = subprocess.run(
        ["sh", str(HOOK)],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "AZURE_ENV_NAME": env_name,
            "AZURE_SUBSCRIPTION_ID": "sub-1",
            "AZ_CALLS": str(calls),
            "AZ_DELETED": str(tmp_path / "deleted.tsv"),
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, calls.read_text().splitlines(), result.stdout + result.stderr


def test_a_first_deployment_recovers_nothing(tmp_path: Path) -> None:
    status, calls, output = run_hook(tmp_path, deleted="")

    assert status == 0, output
    assert len(calls) == 1
    assert calls[0].startswith("keyvault list-deleted --subscription sub-1 --resource-type vault")
    assert "=='thumbnails-dev'" in calls[0]  # only this environment's vaults
    assert "nothing to recover" in output


def test_after_azd_down_the_vault_is_recovered_into_a_recreated_resource_group(tmp_path: Path) -> None:
    vault_id = "/subscriptions/sub-1/resourceGroups/rg-thumbnails-dev/providers/Microsoft.KeyVault/vaults/kv-abc"
    status, calls, output = run_hook(tmp_path, deleted=f"kv-abc\twesteurope\t{vault_id}\n")

    assert status == 0, output
    assert [shlex.split(call)[:2] for call in calls] == [
        ["keyvault", "list-deleted"],
        ["group", "create"],
        ["keyvault", "recover"],
    ]
    group = shlex.split(calls[1])
    assert group[group.index("--name") + 1] == "rg-thumbnails-dev"
    assert group[group.index("--location") + 1] == "westeurope"
    recover = shlex.split(calls[2])
    assert recover[recover.index("--name") + 1] == "kv-abc"
    assert recover[recover.index("--resource-group") + 1] == "rg-thumbnails-dev"


def test_a_vault_id_without_a_resource_group_fails_loudly(tmp_path: Path) -> None:
    status, calls, output = run_hook(tmp_path, deleted="kv-abc\twesteurope\tnot-an-id\n")

    assert status != 0
    assert "cannot tell the resource group" in output
    assert not [call for call in calls if call.startswith("keyvault recover")]


@pytest.mark.parametrize("hook", ["preprovision.sh", "postdeploy.sh"])
def test_posix_hooks_are_executable_and_parse(hook: str) -> None:
    path = t.INFRA / "hooks" / hook
    assert os.access(path, os.X_OK)
    assert subprocess.run(["sh", "-n", str(path)], check=False).returncode == 0


def test_azure_yaml_runs_the_preprovision_hooks() -> None:
    text = (t.ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert "preprovision:" in text
    assert "run: infra/hooks/preprovision.sh" in text
    assert "run: infra/hooks/preprovision.ps1" in text
