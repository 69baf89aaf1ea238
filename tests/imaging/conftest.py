"""Shared fixtures for the image stage's tests."""

from __future__ import annotations

import pytest

from shared.settings import ImageLimits, default_limits


@pytest.fixture
def limits() -> ImageLimits:
    """The production defaults: 800x500 box, 5 MiB output, 140 MP cap, TIFF on, auto HDR exposure."""
    return default_limits()


@pytest.fixture
def tiff_limits() -> ImageLimits:
    return default_limits(allow_tiff=True)
