"""Transfer functions between file encodings and the linear working space.

Only transfer curves are handled here (primaries are assumed Rec.709/sRGB throughout,
see conventions.py); facewarp does not replace OCIO for full colour management.
"""

from __future__ import annotations

import numpy as np

TRANSFERS = ("linear", "srgb", "rec709", "cineon")

# Cineon/DPX printing-density log (Kodak): code value 95 = black, 685 = white reference,
# 0.002 density per code value, negative gamma 0.6.
_CIN_BLACK, _CIN_WHITE, _CIN_GAMMA = 95.0, 685.0, 0.6
_CIN_OFFSET = 10.0 ** ((_CIN_BLACK - _CIN_WHITE) * 0.002 / _CIN_GAMMA)


def to_linear(x: np.ndarray, transfer: str) -> np.ndarray:
    """Encoded values (0..1 code values) -> linear light."""
    x = np.asarray(x, np.float32)
    if transfer == "linear":
        return x
    if transfer == "srgb":
        return np.where(x <= 0.04045, x / 12.92, ((np.maximum(x, 0) + 0.055) / 1.055) ** 2.4).astype(np.float32)
    if transfer == "rec709":
        return np.where(x < 0.081, x / 4.5, ((np.maximum(x, 0) + 0.099) / 1.099) ** (1 / 0.45)).astype(np.float32)
    if transfer == "cineon":
        lin = 10.0 ** ((x * 1023.0 - _CIN_WHITE) * 0.002 / _CIN_GAMMA)
        return ((lin - _CIN_OFFSET) / (1.0 - _CIN_OFFSET)).astype(np.float32)
    raise ValueError(f"unknown transfer {transfer!r} (expected one of {TRANSFERS})")


def from_linear(x: np.ndarray, transfer: str) -> np.ndarray:
    """Linear light -> encoded values (0..1 code values, not clipped)."""
    x = np.asarray(x, np.float32)
    if transfer == "linear":
        return x
    if transfer == "srgb":
        return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.maximum(x, 0) ** (1 / 2.4) - 0.055).astype(np.float32)
    if transfer == "rec709":
        return np.where(x < 0.018, x * 4.5, 1.099 * np.maximum(x, 0) ** 0.45 - 0.099).astype(np.float32)
    if transfer == "cineon":
        v = np.maximum(x * (1.0 - _CIN_OFFSET) + _CIN_OFFSET, 1e-10)
        return ((np.log10(v) * _CIN_GAMMA / 0.002 + _CIN_WHITE) / 1023.0).astype(np.float32)
    raise ValueError(f"unknown transfer {transfer!r} (expected one of {TRANSFERS})")


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Display-referred sRGB in [0, 1] from linear values (clipped to [0, 1] first): what the
    networks and the face tracker see."""
    return from_linear(np.clip(x, 0.0, 1.0), "srgb")


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Linear values from display-referred sRGB (clipped to [0, 1] first)."""
    return to_linear(np.clip(x, 0.0, 1.0), "srgb")


# CIE XYZ (D65) of linear Rec.709/sRGB primaries, and the D65 white (IEC 61966-2-1).
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE_D65 = _RGB_TO_XYZ.sum(axis=1)


def linear_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of scene-linear Rec.709 RGB (``... x 3``; 1.0 = diffuse white, L* = 100)."""
    xyz = np.asarray(rgb, np.float64) @ _RGB_TO_XYZ.T / _WHITE_D65
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(np.maximum(xyz, eps)), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def lab_to_linear(lab: np.ndarray) -> np.ndarray:
    """Scene-linear Rec.709 RGB of CIE L*a*b* (D65): the inverse of ``linear_to_lab``."""
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    eps, kappa = 216 / 24389, 24389 / 27
    xyz = np.where(f ** 3 > eps, f ** 3, (116 * f - 16) / kappa)
    xyz[..., 1] = np.where(lab[..., 0] > kappa * eps, fy ** 3, lab[..., 0] / kappa)
    return (xyz * _WHITE_D65) @ np.linalg.inv(_RGB_TO_XYZ).T
