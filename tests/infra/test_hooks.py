"""The preprovision hook: after `azd down`, `azd up` with the same environment name recovers this
deployment's soft-deleted Key Vault (and no other) instead of failing on its taken name.

There is no Azure here, so the .sh hook runs against a stand-in ``az`` on PATH (tests/infra/azcli.py)
that records each call and answers ``keyvault list-deleted`` from a list shaped like the real one
(``az keyvault list-deleted --resource-type vault``: name, and under properties the location, tags and
the vault's former resource id), evaluating the hook's ``--query`` with the same ``jmespath`` package
the Azure CLI uses and printing ``--output tsv`` as the CLI's knack does.  The .ps1 twin cannot run here
(no PowerShell on this machine): its ``--query`` is taken from the script text, passed through the
model of what ``az.cmd`` receives (Azure/azure-cli doc/quoting-issues-with-powershell.md), and
evaluated the same way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jmespath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.infra import azcli
from tests.infra import templates as t

HOOK = t.INFRA / "hooks" / "preprovision.sh"
PS1_HOOKS = [t.INFRA / "hooks" / "preprovision.ps1", t.INFRA / "hooks" / "postdeploy.ps1"]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


def deleted_vault(name: str, location: str, resource_group: str, tags: dict[str, str] | None) -> dict[str, Any]:
    """One entry of `az keyvault list-deleted --resource-type vault` (Microsoft.KeyVault/deletedVaults)."""
    return {
        "id": f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}",
        "name": name,
        "type": "Microsoft.KeyVault/deletedVaults",
        "properties": {
            "deletionDate": "2026-12-01T10:00:00+00:00",
            "location": location,
            "purgeProtectionEnabled": True,
            "scheduledPurgeDate": "2027-03-01T10:00:00+00:00",
            "tags": tags,
            "vaultId": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.KeyVault/vaults/{name}",
        },
    }


def run_hook(
    tmp_path: Path, deleted: list[dict[str, Any]], env_name: str = "thumbnails-dev", location: str = "westeurope"
) -> tuple[int, list[list[str]], str]:
    azcli.install_fake_az(tmp_path / "bin")
    (tmp_path / "deleted.json").write_text(json.dumps(deleted), encoding="utf-8")
    calls = tmp_path / "calls.jsonl"
    calls.write_text("", encoding="utf-8")
    result = subprocess.run(
        ["sh", str(HOOK)],
        env={
            "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
            "AZURE_ENV_NAME": env_name,
            "AZURE_LOCATION": location,
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
            "AZ_CALLS": str(calls),
            "AZ_DELETED": str(tmp_path / "deleted.json"),
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    recorded = [json.loads(line) for line in calls.read_text(encoding="utf-8").splitlines()]
    return result.returncode, recorded, result.stdout + result.stderr


def option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def recovered(calls: list[list[str]]) -> list[str]:
    return [option(call, "--name") for call in calls if call[:2] == ["keyvault", "recover"]]


OURS = deleted_vault("kv-abc123", "westeurope", "rg-thumbnails-dev", {"azd-env-name": "thumbnails-dev"})


def test_a_first_deployment_recovers_nothing(tmp_path: Path) -> None:
    status, calls, output = run_hook(tmp_path, deleted=[])

    assert status == 0, output
    assert [call[:2] for call in calls] == [["keyvault", "list-deleted"]]
    assert option(calls[0], "--subscription") == SUBSCRIPTION
    assert option(calls[0], "--resource-type") == "vault"
    assert "nothing to recover" in output


def test_after_azd_down_the_vault_is_recovered_into_a_recreated_resource_group(tmp_path: Path) -> None:
    status, calls, output = run_hook(tmp_path, deleted=[OURS])

    assert status == 0, output
    assert [call[:2] for call in calls] == [["keyvault", "list-deleted"], ["group", "create"], ["keyvault", "recover"]]
    group, recover = calls[1], calls[2]
    assert (option(group, "--name"), option(group, "--location")) == ("rg-thumbnails-dev", "westeurope")
    assert option(group, "--tags") == "azd-env-name=thumbnails-dev"
    assert (option(recover, "--name"), option(recover, "--resource-group")) == ("kv-abc123", "rg-thumbnails-dev")
    assert option(recover, "--location") == "westeurope"


@pytest.mark.parametrize(
    "other",
    [
        # another azd template deployed with the same environment name: same tag, its own names
        pytest.param(
            deleted_vault("kvchat7x2", "westeurope", "rg-thumbnails-dev", {"azd-env-name": "thumbnails-dev"}),
            id="another-projects-vault-name",
        ),
        pytest.param(
            deleted_vault("kv-abc123", "westeurope", "rg-chatbot", {"azd-env-name": "thumbnails-dev"}),
            id="another-resource-group",
        ),
        # this environment before a region change: recovering it would put the group in the old region
        pytest.param(
            deleted_vault("kv-old999", "northeurope", "rg-thumbnails-dev", {"azd-env-name": "thumbnails-dev"}),
            id="the-old-region",
        ),
        pytest.param(
            deleted_vault("kv-abc123", "westeurope", "rg-thumbnails-dev", {"azd-env-name": "thumbnails-prod"}),
            id="another-environment",
        ),
        pytest.param(deleted_vault("kv-abc123", "westeurope", "rg-thumbnails-dev", None), id="untagged"),
    ],
)
def test_only_this_deployments_vault_is_recovered(tmp_path: Path, other: dict[str, Any]) -> None:
    status, calls, output = run_hook(tmp_path, deleted=[other])

    assert status == 0, output
    assert recovered(calls) == []
    assert not [call for call in calls if call[:2] == ["group", "create"]]


def test_without_a_location_nothing_is_recovered_and_the_hook_says_why(tmp_path: Path) -> None:
    """No AZURE_LOCATION (and no azd to ask): no deleted vault can be told to be this deployment's."""
    status, calls, output = run_hook(tmp_path, deleted=[OURS], location="")

    assert status == 0, output
    assert calls == []
    assert "AZURE_LOCATION is not set" in output


def test_a_vault_id_without_a_resource_group_fails_loudly(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(OURS))
    broken["properties"]["vaultId"] = "not-an-id"
    status, calls, output = run_hook(tmp_path, deleted=[broken])

    assert status != 0
    assert "cannot tell the resource group" in output
    assert recovered(calls) == []


_ENV_NAME = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9-]{0,20}", fullmatch=True)
_LOCATIONS = ["westeurope", "northeurope", "eastus2"]


@settings(max_examples=12, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    env_name=_ENV_NAME,
    location=st.sampled_from(_LOCATIONS),
    vaults=st.lists(
        st.tuples(
            st.sampled_from(["kv-a1", "kv-b2", "vault-c3"]),
            st.sampled_from(_LOCATIONS),
            st.booleans(),  # in this environment's resource group
            st.booleans(),  # tagged with this environment
        ),
        max_size=4,
        unique_by=lambda v: v[0],
    ),
)
def test_the_hook_recovers_exactly_the_vaults_that_match_name_prefix_group_location_and_tag(
    tmp_path_factory: pytest.TempPathFactory,
    env_name: str,
    location: str,
    vaults: list[tuple[str, str, bool, bool]],
) -> None:
    """The environment name is the user's: any name azd accepts (letters, digits, hyphens) must select
    exactly the vaults this template made for it: name prefix ``kv-``, resource group ``rg-<env>``
    (ARM compares names case-insensitively), the location azd deploys to, and the ``azd-env-name`` tag."""
    deleted = [
        deleted_vault(
            name,
            where,
            f"rg-{env_name}".upper() if in_group else "rg-elsewhere",
            {"azd-env-name": env_name} if tagged else {"azd-env-name": env_name + "-x"},
        )
        for name, where, in_group, tagged in vaults
    ]
    expected = [
        name
        for name, where, in_group, tagged in vaults
        if name.startswith("kv-") and where == location and in_group and tagged
    ]

    status, calls, output = run_hook(tmp_path_factory.mktemp("hook"), deleted, env_name=env_name, location=location)

    assert status == 0, output
    assert recovered(calls) == expected


def ps1_query(path: Path, env_name: str, location: str) -> str | None:
    """The ``--query`` a .ps1 hook passes to az, as az.cmd receives it."""
    text = path.read_text(encoding="utf-8")
    variables = azcli.powershell_string_variables(text, {"envName": env_name, "location": location})
    for line in text.splitlines():
        if re.search(r"(^|[\s(])az\s", line) and "--query" in line:
            argument = line.split("--query", 1)[1].split()[0]
            value = variables[argument[1:]] if argument.startswith("$") else argument.strip("'")
            return azcli.as_azcmd_receives(value)
    return None


def test_the_ps1_preprovision_query_survives_az_cmd_and_selects_this_deployments_vault() -> None:
    """On Windows az is az.cmd: an embedded double quote in --query is dropped on the way and JMESPath
    then fails with "Unknown token '-'".  The query as az.cmd receives it must parse, and (with the
    script's own filter on tag, group and location) leave this deployment's vault among the results."""
    query = ps1_query(t.INFRA / "hooks" / "preprovision.ps1", "thumbnails-dev", "westeurope")
    assert query is not None
    assert '"' not in query
    others = [deleted_vault("vault-x", "westeurope", "rg-thumbnails-dev", {"azd-env-name": "thumbnails-dev"})]
    selected = jmespath.search(query, [OURS, *others])
    assert [vault["name"] for vault in selected] == ["kv-abc123"]
    assert selected[0]["vaultId"] == OURS["properties"]["vaultId"]
    assert selected[0]["location"] == "westeurope"
    assert selected[0]["tags"] == {"azd-env-name": "thumbnails-dev"}


_PS_WORD = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"`]|\"\"|`.)*\"|[^\s'\"]+")


@pytest.mark.parametrize("path", PS1_HOOKS, ids=lambda p: p.name)
def test_every_az_argument_in_a_ps1_hook_reaches_az_cmd_intact(path: Path) -> None:
    """Every quoted argument of every az call, and every variable passed to one, arrives unchanged (no
    double quote to lose, no cmd metacharacter), and every --query parses as JMESPath once it has."""
    text = re.sub(r"`\r?\n\s*", " ", path.read_text(encoding="utf-8"))  # join backtick line continuations
    variables = azcli.powershell_string_variables(text, {"envName": "thumbnails-dev", "location": "westeurope"})
    calls = [line.strip() for line in text.splitlines() if re.search(r"(^|[\s(])az\s", line)]
    assert calls, f"{path.name} calls no az?"
    queries = 0
    for call in calls:
        words = _PS_WORD.findall(re.split(r"(?:^|[\s(])az\s", call, maxsplit=1)[1])
        for position, word in enumerate(words):
            if word.startswith("$") and word[1:] in variables:
                value = variables[word[1:]]
            elif word[0] == "'":
                value = word[1:-1].replace("''", "'")
            elif word[0] == '"':
                value = azcli.powershell_string_variables(f"$v = {word}", {"envName": "thumbnails-dev"})["v"]
            else:
                continue
            assert azcli.as_azcmd_receives(value) == value, f"{path.name}: {word} is mangled by az.cmd"
            assert not set(value) & set("&|<>^"), f"{path.name}: {word} holds a cmd metacharacter"
            if position > 0 and words[position - 1] == "--query":
                jmespath.compile(azcli.as_azcmd_receives(value))
                queries += 1
    assert queries >= 1, f"{path.name}: no --query found to check"


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
