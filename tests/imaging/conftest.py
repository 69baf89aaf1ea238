"""Shared fixtures for the image stage's tests."""

from __future__ import annotations

import pytest

from shared.settings import ImageLimits


@pytest.fixture
def limits() -> ImageLimits:
    """The production defaults: 800x500 box, 5 MiB output, 140 MP cap, TIFF on, auto HDR exposure."""
    return ImageLimits()


@pytest.fixture
def tiff_limits() -> ImageLimits:
    return ImageLimits(allow_tiff=True)
