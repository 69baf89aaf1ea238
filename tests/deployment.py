"""The file set Azure Functions deploys: the repository's files less what ``.funcignore`` excludes.

Core Tools and ``azd`` read ``.funcignore`` with gitignore rules; the patterns here are plain names
and globs, matched against every component of a path (as gitignore does for a pattern without a
slash), which is all this repository's ``.funcignore`` uses.  A test keeps it that way.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path

from tests.repo import ROOT


def funcignore_patterns(root: Path = ROOT) -> list[str]:
    lines = (root / ".funcignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def is_excluded(relative: Path, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in patterns)


def repository_files(root: Path = ROOT) -> list[Path]:
    """Tracked and untracked-but-not-ignored files: what a fresh clone plus local edits would deploy."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [Path(name) for name in listed if (root / name).is_file()]


def deployed_files(root: Path = ROOT) -> list[Path]:
    patterns = funcignore_patterns(root)
    return sorted(path for path in repository_files(root) if not is_excluded(path, patterns))


def copy_deployment(target: Path, root: Path = ROOT) -> list[Path]:
    """Copy the deployed file set into ``target`` (a stand-in for the app's wwwroot)."""
    files = deployed_files(root)
    for relative in files:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, destination)
    return files
