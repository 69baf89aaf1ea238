"""The docs point at things that exist: every relative link and #anchor in README.md and docs/*.md
resolves, every documented ``python -m shared.cli ...`` command and option is one the CLI's parser
knows, every ``make`` target is in the Makefile, and every setting the docs name is one the code
reads.

Anchors are made the way GitHub renders a heading's id (lower case; punctuation other than ``-`` and
``_`` dropped; each space a ``-``), as its Markdown renderer does for ``#anchor`` links.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from shared.ops.cli import _parser
from shared.sandbox.spawn import WORKER_ENV
from tests.repo import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.MULTILINE | re.DOTALL)  # indented too (in a list)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")

#: Upper-case names the docs use that are not settings of the app: azd environment values, platform
#: settings, a kernel limit, a Pillow flag and an OpenEXR error code.
#: azd environment values the deploy reads (``${NAME}`` in infra/main.parameters.json), and names that are not settings.
AZD_VALUES = set(re.findall(r"\$\{(\w+)", (ROOT / "infra" / "main.parameters.json").read_text()))
#: Platform app settings the deployment sets for the host and the worker (``name: 'X'`` in function-app.bicep).
PLATFORM_SETTINGS = set(
    re.findall(r"name: '([A-Z][A-Z0-9_]+)'", (ROOT / "infra/modules/function-app.bicep").read_text())
)
#: What the image workers' environment sets for the libraries they load (``shared.sandbox.spawn.WORKER_ENV``).
WORKER_SETTINGS = set(WORKER_ENV) - set(os.environ)
NOT_SETTINGS = (
    AZD_VALUES | PLATFORM_SETTINGS | WORKER_SETTINGS | {"RLIMIT_AS", "LOAD_TRUNCATED_IMAGES", "EXR_ERR_OUT_OF_MEMORY"}
)
#: A setting's shape, not inside a path or a file name (``IMG_0042.HEIC``).
SETTING_SHAPE = re.compile(r"(?<![/.\w-])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?:__[A-Za-z]+)?(?![\w/]|\.\w)")


def prose(text: str) -> str:
    """The text outside fenced code blocks (where ``#`` starts a comment, not a heading)."""
    return FENCE.sub("", text)


def code(text: str) -> list[str]:
    """Every piece of code the text shows: fenced blocks line by line, and inline spans."""
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()[1:-1]]
    return lines + INLINE.findall(prose(text))


def anchor(heading: str) -> str:
    text = re.sub(r"`|\*|_(?=\W)|\[|\]\([^)]*\)", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {anchor(line.lstrip("#")) for line in prose(path.read_text()).splitlines() if line.startswith("#")}


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_relative_link_resolves(doc: Path) -> None:
    links = [link for link in LINK.findall(prose(doc.read_text())) if not re.match(r"[a-z]+:", link)]
    for link in links:
        target, _, fragment = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        assert path.exists(), f"{doc.name}: {link} -> no such file {path}"
        if fragment:
            assert fragment in anchors(path), f"{doc.name}: {link} -> no heading #{fragment} in {path.name}"


def test_the_anchor_rule_matches_github() -> None:
    assert anchor("Which image wins: the delivery record") == "which-image-wins-the-delivery-record"
    assert anchor("Refused before decoding: structure bounds") == "refused-before-decoding-structure-bounds"
    assert anchor("`status` and `doctor`") == "status-and-doctor"


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def check_command(words: list[str], where: str) -> None:
    """``words`` after ``python -m shared.cli``: the command path must exist and every --option
    must belong to it (placeholders such as ``COMMAND`` or ``{imodelId}`` are arguments)."""
    parser = _parser()
    options = _options(parser)
    for word in words:
        if word.startswith("--"):
            option = word.split("=", 1)[0].strip("[]|")
            assert option in options, f"{where}: {option} is not an option of {parser.prog}"
        elif (sub := _choices(parser).get(word)) is not None:
            parser, options = sub, _options(sub)
        elif _choices(parser) and re.fullmatch(r"[a-z]+", word):
            raise AssertionError(f"{where}: {parser.prog} has no command {word!r}")


def documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        for snippet in code(doc.read_text()):
            for match in re.finditer(r"python -m shared\.cli((?: +[^ #`|]+)*)", snippet):
                found.append((f"{doc.name}: {match.group(0)}", match.group(1).split()))
    return found


@pytest.mark.parametrize(("where", "words"), documented_commands(), ids=lambda value: str(value)[:60])
def test_every_documented_cli_command_exists(where: str, words: list[str]) -> None:
    check_command(words, where)


def test_every_row_of_the_readme_cli_table_is_a_command() -> None:
    section = (ROOT / "README.md").read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = [row for row in section.splitlines() if row.startswith("| `")]
    assert len(rows) >= 10, "the CLI table lists every command"
    listed = set()
    for row in rows:
        cell = INLINE.findall(row)[0]
        words = re.sub(r"[\[\]|]", " ", cell).split()
        check_command(words, f"README CLI table: {cell}")
        listed.add(" ".join(word for word in words[:2] if re.fullmatch(r"[a-z]+", word)))
    for name, sub in _choices(_parser()).items():
        expected = {f"{name} {action}" for action in _choices(sub)} or {name}
        assert expected <= listed, f"the README's CLI table does not list {expected - listed}"


def test_every_documented_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    for doc in DOCS:
        for snippet in code(doc.read_text()):
            for target in re.findall(r"(?:^|[\s;(&])make ([a-z][a-z-]*)", snippet):
                assert target in targets, f"{doc.name}: make {target} is not a Makefile target"


def real_settings() -> set[str]:
    """Every name shared/settings.py reads: its setting-shaped string literals, and the
    identity-based forms of the storage connection (``{CONNECTION}__{suffix}``)."""
    source = (ROOT / "shared" / "settings.py").read_text()
    names = {name for name in re.findall(r'"([A-Z][A-Z0-9_]+)"', source) if "_" in name}
    suffixes = [
        suffix for suffix in ("blobServiceUri", "queueServiceUri", "credential", "clientId") if suffix in source
    ]
    return names | {f"THUMBNAILS_STORAGE__{suffix}" for suffix in suffixes}


def test_every_setting_the_docs_name_is_read_by_the_code() -> None:
    real = real_settings()
    assert {"THUMBNAILS_STORAGE", "ITWIN_CLIENT_ID", "MAX_BLOB_BYTES"} <= real
    for doc in DOCS:
        for snippet in code(doc.read_text()):
            for name in SETTING_SHAPE.findall(snippet):
                if name in NOT_SETTINGS:
                    continue
                assert name in real, f"{doc.name}: {name} (in `{snippet.strip()[:80]}`) is not a setting"


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
