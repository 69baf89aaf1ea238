"""Scene-linear HDR values to 8-bit sRGB, on the already small image.

Three steps, in this order:

1. **Exposure.**  ``2**stops`` scales the linear values.  Automatic (the default) picks the stops
   that bring the image's log-average luminance (Reinhard's "key"; Rec. 709 luminance, geometric
   mean of ``1e-4 + L`` over the pixels, weighted by alpha coverage) to 0.18, the photographic
   middle grey, clamped to +/- ``MAX_AUTO_STOPS``; ``HDR_EXPOSURE_STOPS`` fixes it instead.
2. **Filmic curve.**  Krzysztof Narkowicz's fit of the ACES reference rendering transform,
   ``f(x) = x (2.51 x + 0.03) / (x (2.43 x + 0.59) + 0.14)``, clipped to 0..1: highlights roll off
   instead of clipping, midtones keep their contrast.
3. **sRGB transfer function** (IEC 61966-2-1), then rounding to 8 bits.

So a linear 0.18 at 0 stops becomes ``f(0.18) = 0.2669`` and then sRGB 0.5534, i.e. 8-bit 141;
a uniform image at any level gets that value from automatic exposure.  Colour is tone-mapped
straight (alpha divided out first, since EXR stores premultiplied colour); alpha is kept linear.

numpy is imported here; this module is imported only when an HDR image is decoded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

MIDDLE_GREY = 0.18
MAX_AUTO_STOPS = 10.0
_LUMA_DELTA = 1e-4
_REC709 = (0.2126, 0.7152, 0.0722)
#: Past this the ACES curve is clipped to 1 (it crosses 1 at x = 7.24), and float32's largest value.
_ACES_FLAT = 16.0
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class ToneMapped:
    """8-bit planes (colour then alpha) and the exposure used."""

    planes: list[npt.NDArray[np.uint8]]
    stops: float
    automatic: bool


def aces_filmic(x: FloatArray) -> FloatArray:
    """Narkowicz's ACES fit, clipped to 0..1 (negative input is black).

    The clipped curve is 1 from x = 7.24 on, so the input is limited to ``_ACES_FLAT`` first: a finite 3e38
    squared is inf in float32, and inf/inf would be NaN, i.e. black.
    """
    x = np.clip(x, 0.0, _ACES_FLAT)
    curve: FloatArray = np.clip((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0)
    return curve.astype(np.float32)


def srgb_encode(x: FloatArray) -> FloatArray:
    """The sRGB transfer function for linear values in 0..1."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def luminance(colour: list[FloatArray]) -> FloatArray:
    """Rec. 709 luminance of straight linear colour (one plane: itself)."""
    if len(colour) == 1:
        return colour[0]
    red, green, blue = colour
    weighted: FloatArray = _REC709[0] * red + _REC709[1] * green + _REC709[2] * blue
    return weighted.astype(np.float32)


def auto_stops(colour: list[FloatArray], alpha: FloatArray | None) -> float:
    """Stops that bring the log-average luminance to middle grey (clamped to +/- MAX_AUTO_STOPS)."""
    logs = np.log(_LUMA_DELTA + np.maximum(luminance(colour), 0.0))
    if alpha is not None:
        weights = np.clip(alpha, 0.0, 1.0)
        total = float(weights.sum())
        mean = float((logs * weights).sum() / total) if total > 0 else math.log(MIDDLE_GREY)
    else:
        mean = float(logs.mean())
    # log2(grey / e^mean) without e^mean, which overflows for a mean log above 709.
    stops = math.log2(MIDDLE_GREY) - mean / math.log(2) if math.isfinite(mean) else -MAX_AUTO_STOPS
    return max(-MAX_AUTO_STOPS, min(MAX_AUTO_STOPS, stops))


def tone_map(planes: list[Any], has_alpha: bool, fixed_stops: float | None) -> ToneMapped:
    """Tone-map linear planes (1 or 3 colour planes, then alpha if ``has_alpha``; colour
    premultiplied when there is alpha) to 8-bit sRGB planes."""
    arrays = [np.nan_to_num(np.asarray(p, dtype=np.float32), nan=0.0, posinf=65504.0, neginf=0.0) for p in planes]
    alpha = np.clip(arrays[-1], 0.0, 1.0) if has_alpha else None
    colour = arrays[:-1] if has_alpha else arrays
    if alpha is not None:
        safe = np.where(alpha > 1e-6, alpha, 1.0)
        # Dividing out alpha can overflow float32 (3e38 at alpha 0.5): keep it finite.
        colour = [_finite(np.where(alpha > 1e-6, c / safe, 0.0)) for c in colour]
    stops = auto_stops(colour, alpha) if fixed_stops is None else fixed_stops
    gain = np.float32(2.0**stops)
    out = [_to_byte(srgb_encode(aces_filmic(c * gain))) for c in colour]
    if alpha is not None:
        out.append(_to_byte(alpha))
    return ToneMapped(out, stops, fixed_stops is None)


def _finite(x: FloatArray) -> FloatArray:
    finite: FloatArray = np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=_FLOAT32_MAX, neginf=0.0)
    return finite


def _to_byte(x: FloatArray) -> npt.NDArray[np.uint8]:
    scaled: FloatArray = np.clip(np.rint(x * 255.0), 0, 255)
    return scaled.astype(np.uint8)
