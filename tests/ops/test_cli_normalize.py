"""``normalize`` for people: many files or folders into an output folder, through one warm worker
pool, like ``cp``; the one-file forms stay as they were."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.ops.cli import main
from shared.ops.normalize import normalize_plan
from tests.conftest import png_bytes


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        return image.size


def test_a_folder_into_an_output_folder_writes_each_and_counts_the_refusals(tmp_path, capsys):
    renders = tmp_path / "renders"
    renders.mkdir()
    (renders / "a.png").write_bytes(png_bytes(1600, 900))
    (renders / "b.png").write_bytes(png_bytes(400, 300))
    (renders / "c.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (renders / ".hidden.png").write_bytes(png_bytes(10, 10))
    out = tmp_path / "thumbs"

    assert main(["normalize", str(renders), str(out) + "/"], env={}) == 1  # one was refused

    assert sorted(p.name for p in out.iterdir()) == ["a.thumbnail.png", "b.thumbnail.png"]
    assert size_of(out / "a.thumbnail.png") == (800, 450)
    assert size_of(out / "b.thumbnail.png") == (400, 300)
    captured = capsys.readouterr()
    assert "2 written, 1 refused" in captured.out
    assert f"{renders / 'c.svg'}: refused: UnsupportedImageFormat" in captured.err


def test_several_files_into_a_folder_that_does_not_exist_yet(tmp_path):
    sources = []
    for name in ("x", "y", "z"):
        path = tmp_path / f"{name}.png"
        path.write_bytes(png_bytes(900, 500))
        sources.append(str(path))
    out = tmp_path / "new" / "folder"
    assert main(["normalize", *sources, str(out)], env={}) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x.thumbnail.png", "y.thumbnail.png", "z.thumbnail.png"]


def test_one_file_into_an_existing_folder(tmp_path):
    source = tmp_path / "render.png"
    source.write_bytes(png_bytes(900, 500))
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["normalize", str(source), str(folder)], env={}) == 0
    assert size_of(folder / "render.thumbnail.png") == (800, 444)


@pytest.mark.parametrize("args", [["missing.png", "out.png"], ["missing.png", "a", "out"], ["missing.png"]])
def test_a_missing_input_is_not_found(tmp_path, capsys, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    assert main(["normalize", *args], env={}) == 3
    assert "missing.png: no such file" in capsys.readouterr().err


def test_two_inputs_that_would_write_one_output_are_a_usage_error(tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "render.png").write_bytes(png_bytes(40, 30))
    assert main(["normalize", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "out")], env={}) == 2
    assert "several inputs would write render.thumbnail.png" in capsys.readouterr().err


_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_ é", min_size=1, max_size=12).filter(
    lambda name: name.strip() == name and not name.startswith(".")
)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(stems=st.lists(_NAMES, min_size=1, max_size=6), suffixes=st.lists(st.sampled_from([".png", ".jpg", ".exr"])))
def test_every_input_of_a_folder_gets_its_own_output(stems: list[str], suffixes: list[str]) -> None:
    """Whatever the file names: each file in the folder is planned once, in name order, into the
    output folder; two inputs that would write the same output are a usage error, not an overwrite."""
    with tempfile.TemporaryDirectory() as root:
        folder, out = Path(root) / "in", Path(root) / "out"
        folder.mkdir()
        files = set()
        for index, stem in enumerate(stems):
            name = stem + (suffixes[index % len(suffixes)] if suffixes else ".png")
            (folder / name).write_bytes(b"x")
            files.add(name)
        plan = normalize_plan([folder, out])
        stems_written = [Path(name).stem for name in files]
        if len(set(stems_written)) < len(stems_written):
            assert isinstance(plan, str)
            assert "several inputs would write" in plan
            return
        assert not isinstance(plan, str)
        assert [source.name for source, _ in plan] == sorted(files)
        assert [output for _, output in plan] == [out / (Path(name).stem + ".thumbnail.png") for name in sorted(files)]
