"""Stand-ins for the Azure CLI in the hook tests: a fake ``az`` that answers ``--query`` the way the real
one does, and a model of how PowerShell hands an argument to ``az.cmd`` on Windows.

The real ``az`` evaluates ``--query`` with the ``jmespath`` package and prints ``--output tsv`` with
knack's ``_TsvOutput`` (knack/output.py, Azure/azure-cli's output layer): one line per item of the
result, the values of a list item joined by tabs, a nested list printed as its length, a nested
object as nothing, ``None`` as ``None``, a bool in lower case when it is a whole row.  The fake does
the same over the JSON a test gives it for ``keyvault list-deleted``, so a query that the real CLI
would reject (a JMESPath syntax error) or that selects the wrong vaults fails the test too.

On Windows ``az`` is ``az.cmd``.  Azure/azure-cli's doc/quoting-issues-with-powershell.md: a native
command invoked from PowerShell is parsed again by Command Prompt, and double quotes inside an argument
are lost (PowerShell wraps an argument that holds a space in double quotes and does not escape the
ones inside; the C runtime's argument parser then treats each of them as a quote toggle).
``as_azcmd_receives`` applies those two rounds to one argument.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

FAKE_AZ = """#!{python}
import os, sys
sys.path.insert(0, {root!r})
from tests.infra.azcli import run_fake_az
sys.exit(run_fake_az(sys.argv[1:], os.environ))
"""


def install_fake_az(bin_dir: Path) -> Path:
    """Write an executable ``az`` into ``bin_dir`` that runs :func:`run_fake_az`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable, root=str(Path(__file__).resolve().parents[2])))
    az.chmod(0o755)
    return az


def run_fake_az(argv: list[str], environ: Any) -> int:
    """Record the call (one JSON array per line in $AZ_CALLS); answer ``keyvault list-deleted`` from the
    JSON in $AZ_DELETED through the real JMESPath evaluator and the CLI's output formats."""
    import jmespath

    with open(environ["AZ_CALLS"], "a", encoding="utf-8") as calls:
        calls.write(json.dumps(argv) + "\n")
    if argv[:2] != ["keyvault", "list-deleted"]:
        return 0
    with open(environ["AZ_DELETED"], encoding="utf-8") as handle:
        result = json.load(handle)
    options = _options(argv)
    if "--query" in options:
        try:
            result = jmespath.search(options["--query"], result)
        except jmespath.exceptions.JMESPathError as error:
            # what the CLI prints for a query it cannot parse, with its exit status
            query = options["--query"]
            print(f"ERROR: argument --query: invalid jmespath_type value: {query!r}: {error}", file=sys.stderr)
            return 2
    output = options.get("--output", "json")
    sys.stdout.write(tsv(result) if output == "tsv" else json.dumps(result, indent=2) + "\n")
    return 0


def _options(argv: list[str]) -> dict[str, str]:
    return {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}


def tsv(data: Any) -> str:
    """knack's ``_TsvOutput.dump``: rows for the items of a list result (a scalar result is one row)."""
    rows = data if isinstance(data, list) else [data]
    lines = []
    for row in rows:
        if isinstance(row, dict):
            cells = [_cell(value) for _, value in sorted(row.items())]
        elif isinstance(row, list):
            cells = [_cell(value) for value in row]
        elif isinstance(row, bool):
            cells = [str(row).lower()]
        else:
            cells = [_cell(row)]
        lines.append("\t".join(cells) + "\n")
    return "".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        return ""
    return value if isinstance(value, str) else str(value)


def as_azcmd_receives(argument: str) -> str:
    """One argument as ``az.cmd`` sees it after PowerShell built the command line (legacy native-argument
    passing, which PowerShell keeps for .cmd/.bat files) and the C runtime split it again."""
    needs_quotes = argument == "" or any(c in argument for c in " \t")
    command_line = f'"{argument}"' if needs_quotes else argument
    received, quoted = [], False
    for char in command_line:
        if char == '"':
            quoted = not quoted  # a quote only toggles quoting: it never reaches the program
        else:
            received.append(char)
    return "".join(received)


_ASSIGNMENT = re.compile(r"^\s*\$(?P<name>\w+)\s*=\s*(?P<literal>'(?:[^']|'')*'|\"(?:[^\"`]|\"\"|`.)*\")\s*$")


def powershell_string_variables(script: str, variables: dict[str, str]) -> dict[str, str]:
    """The values of ``$name = '...'`` / ``$name = "..."`` lines of a PowerShell script (single-quoted:
    literal, ``''`` an escaped quote; double-quoted: ``""`` and backtick escapes, ``$var`` expanded from
    ``variables``)."""
    found: dict[str, str] = {}
    for line in script.splitlines():
        match = _ASSIGNMENT.match(line)
        if not match:
            continue
        literal = match["literal"]
        if literal.startswith("'"):
            value = literal[1:-1].replace("''", "'")
        else:
            body = literal[1:-1].replace('""', '"')
            body = re.sub(r"`(.)", r"\1", body)
            value = re.sub(r"\$(\w+)", lambda m: variables.get(m[1], found.get(m[1], "")), body)
        found[match["name"]] = value
    return found
