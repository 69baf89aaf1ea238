"""The public surface the pipeline and the CLI use."""

from __future__ import annotations

import dataclasses
import inspect
import json
from importlib import import_module

import pytest
from PIL import Image

import shared.imaging as imaging
from shared.imaging import describe, normalize, probe
from shared.imaging.formats import FORMATS
from tests.imaging.factories import encode, exif_bytes, quadrants

#: The module, not the function of the same name that ``shared.imaging`` exports.
probe_module = import_module("shared.imaging.probe")


def test_public_names():
    assert set(imaging.__all__) == {
        "probe",
        "normalize",
        "ImageInfo",
        "ImageLimits",
        "ImageStage",
        "InProcessImages",
        "Thumbnail",
        "MemoryBudget",
        "estimate_decode_bytes",
        "describe",
    }


def test_normalize_keeps_its_two_argument_call():
    # The pipeline calls normalize(data, limits); info is an optional, keyword-compatible addition,
    # and the format registry an optional keyword.
    parameters = inspect.signature(normalize).parameters
    assert list(parameters) == ["data", "limits", "info", "formats"]
    assert parameters["info"].default is None
    assert parameters["formats"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["formats"].default is FORMATS


def test_results_are_frozen(limits):
    thumb = normalize(encode(Image.new("RGB", (30, 20)), "PNG"), limits)
    with pytest.raises(dataclasses.FrozenInstanceError):
        thumb.width = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        thumb.source.format = "GIF"  # type: ignore[misc]


def test_normalize_reports_the_source_as_probe_sees_it(limits):
    data = encode(quadrants(1600, 1200), "JPEG", exif=exif_bytes(orientation=6))
    info = probe(data, limits)
    thumb = normalize(data, limits)
    assert thumb.source == info
    assert thumb.seconds > 0


@pytest.mark.parametrize(
    "data",
    [
        encode(quadrants(1600, 1200), "JPEG", exif=exif_bytes(orientation=6)),
        encode(quadrants(1600, 1000).convert("P"), "GIF", save_all=True, append_images=[quadrants(1600, 1000)]),
    ],
    ids=["jpeg-oriented", "gif-animated"],
)
def test_normalize_with_the_probed_info_gives_the_same_thumbnail_without_probing_again(limits, monkeypatch, data):
    info = probe(data, limits)
    expected = normalize(data, limits)

    def no_second_probe(*args: object) -> None:
        raise AssertionError("the image was probed again")

    monkeypatch.setattr(probe_module, "_describe", no_second_probe)
    monkeypatch.setattr(probe_module, "sniff", no_second_probe)
    thumb = normalize(data, limits, info)
    assert thumb.data == expected.data
    assert thumb.source == expected.source == info
    assert thumb.steps == expected.steps


def test_normalize_refuses_info_of_another_image(limits):
    info = probe(encode(quadrants(1600, 1000), "PNG"), limits)
    with pytest.raises(ValueError, match="does not describe"):
        normalize(encode(quadrants(1200, 800), "PNG"), limits, info)


def test_report_is_json(limits):
    data = encode(quadrants(1600, 1000), "JPEG")
    thumb = normalize(data, limits)
    report = json.loads(json.dumps(thumb.report()))
    assert report["input"]["format"] == "JPEG"
    assert (report["input"]["width"], report["input"]["height"], report["input"]["mode"]) == (1600, 1000, "RGB")
    assert report["input"]["bytes"] == len(data)
    assert report["output"] == {
        "format": "PNG",
        "contentType": "image/png",
        "width": 800,
        "height": 500,
        "mode": "RGB",
        "bytes": len(thumb.data),
    }
    assert report["seconds"] >= 0
    assert isinstance(report["steps"], list)


def test_describe_names_input_output_and_time(limits):
    data = encode(quadrants(1600, 1200), "JPEG", exif=exif_bytes(orientation=6))
    thumb = normalize(data, limits)
    text = describe(thumb)
    lines = text.splitlines()
    assert len(lines) == 2
    assert "JPEG 1600x1200 RGB" in lines[0]
    assert f"{len(data):,} bytes" in lines[0]
    assert "orientation 6" in lines[0]
    assert f"PNG {thumb.width}x{thumb.height} RGB" in lines[1]
    assert f"{len(thumb.data):,} bytes" in lines[1]
    assert " s" in lines[1]


def test_thumbnail_repr_does_not_dump_the_png(limits):
    thumb = normalize(encode(Image.new("RGB", (300, 300)), "PNG"), limits)
    assert "\\x89PNG" not in repr(thumb)
    assert "width=300" in repr(thumb)
