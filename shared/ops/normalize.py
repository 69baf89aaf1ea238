"""``normalize`` for people: one file, or many files and folders into an output folder, through one
warm image stage, so a batch pays the worker start-up once.

Planning (``normalize_plan``, ``missing_inputs``) needs only the standard library, so the CLI can
check its arguments and start a worker before it imports Pillow and the image stage.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.core.errors import ThumbnailError
    from shared.imaging import ImageStage, Thumbnail


def normalize_plan(arguments: Sequence[str | Path]) -> list[tuple[Path, Path]] | str:
    """(input, output) pairs for ``normalize PATH...``, or what is wrong with the arguments.

    Like ``cp``: ``IN`` writes ``IN``'s stem + ``.thumbnail.png`` next to it; ``IN OUT`` writes
    ``OUT`` when ``OUT`` is not a folder; otherwise the last path is the output folder (made if
    needed; a path ending in ``/``, or after a folder input, is a folder too) and every other path
    is an input, a folder standing for the files directly in it (not hidden ones), in name order.
    """
    *inputs, last = [Path(argument) for argument in arguments]
    named_folder = str(arguments[-1]).endswith(("/", os.sep))
    to_folder = bool(inputs) and (
        last.is_dir() or named_folder or len(arguments) > 2 or any(path.is_dir() for path in inputs)
    )
    if inputs and not to_folder:
        return f"{inputs[0]} is not a file" if not inputs[0].is_file() else [(inputs[0], last)]
    files: list[Path] = []
    for source in inputs if to_folder else [last]:
        if source.is_dir():
            files += sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
        elif source.is_file():
            files.append(source)
        else:
            return f"{source} is neither a file nor a folder"
    if not files:
        return "no files to normalize"
    if not to_folder:
        return [(file, file.with_name(file.stem + ".thumbnail.png")) for file in files]
    stems = [file.stem for file in files]
    clashes = sorted({stem for stem in stems if stems.count(stem) > 1})
    if clashes:
        return f"several inputs would write {', '.join(c + '.thumbnail.png' for c in clashes)}"
    return [(file, last / (file.stem + ".thumbnail.png")) for file in files]


def missing_inputs(arguments: Sequence[str]) -> list[str]:
    """What is missing among the inputs (every argument but the output, or the one argument): a path
    that does not exist, or a folder with no files to normalize."""
    inputs = arguments if len(arguments) == 1 else arguments[:-1]
    problems = []
    for argument in inputs:
        path = Path(argument)
        if not path.exists():
            problems.append(f"{argument}: no such file or folder")
        elif path.is_dir() and not any(p.is_file() and not p.name.startswith(".") for p in path.iterdir()):
            problems.append(f"{argument}: a folder with no files to normalize")
    return problems


def normalize_all(images: ImageStage, sources: Sequence[Path]) -> list[Thumbnail | ThumbnailError]:
    """Each source's thumbnail or refusal, in order, with one file per worker at once."""
    with ThreadPoolExecutor(max_workers=_images_at_once(images, len(sources))) as pool:
        return list(pool.map(lambda source: _normalize_one(images, source), sources))


def _normalize_one(images: ImageStage, source: Path) -> Thumbnail | ThumbnailError:
    from shared.core.errors import ThumbnailError

    try:
        data = source.read_bytes()
        return images.normalize(data, images.probe(data))
    except ThumbnailError as error:
        return error


def _images_at_once(images: ImageStage, files: int) -> int:
    """Files decoded at once: one per worker (in process: one)."""
    from shared.sandbox import SandboxedImages

    workers = images.sandbox.workers if isinstance(images, SandboxedImages) else 1
    return max(1, min(workers, files))
