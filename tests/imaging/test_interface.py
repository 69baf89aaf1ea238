"""The public surface the pipeline and the CLI use."""

from __future__ import annotations

import dataclasses
import json

import pytest
from PIL import Image

import shared.imaging as imaging
from shared.imaging import ImageInfo, Thumbnail, describe, normalize, probe
from tests.imaging.factories import encode, exif_bytes, quadrants


def test_public_names():
    assert set(imaging.__all__) == {
        "probe",
        "normalize",
        "ImageInfo",
        "Thumbnail",
        "MemoryBudget",
        "estimate_decode_bytes",
        "describe",
    }
    for name in imaging.__all__:
        assert getattr(imaging, name) is not None


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
    assert isinstance(thumb.source, ImageInfo)
    assert isinstance(thumb, Thumbnail)
    assert thumb.seconds > 0


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
