"""Embedded demo data: a short 4K-style plate sequence generated from an image that a
dependency ships (scikit-image's ``astronaut``, public domain NASA photo), so the main job
runs on a fresh machine without any external asset."""

from __future__ import annotations

import os

import cv2
import numpy as np

from facewarp.core.color import to_linear
from facewarp.core.types import Image


def astronaut_linear() -> np.ndarray:
    """scikit-image's astronaut (512x512 sRGB uint8) as linear float32 RGB."""
    from skimage import data

    return to_linear(data.astronaut().astype(np.float32) / 255.0, "srgb")


def demo_plate(frame: int, size: tuple[int, int] = (1280, 720), first: int = 1001) -> Image:
    """Frame ``frame`` of a slow push-in on the astronaut, at ``size`` (width, height)."""
    src = astronaut_linear()
    w, h = size
    t = frame - first
    scale = min(w, h) / src.shape[0] * (1.0 + 0.01 * t)
    # Similarity transform: centre the face, push in 1 % per frame (continuous pixel coords).
    cx, cy = src.shape[1] / 2, src.shape[0] / 2
    m = np.array([[scale, 0, w / 2 - scale * cx], [0, scale, h / 2 - scale * cy]], np.float64)
    # cv2 puts pixel centres on integers; our convention puts them at +0.5 (conventions.py).
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    m_cv = (np.linalg.inv(shift) @ np.vstack([m, [0, 0, 1]]) @ shift)[:2]
    px = cv2.warpAffine(src, m_cv, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)  # no mirrored extra faces
    return Image(np.maximum(px, 0).astype(np.float32), ("R", "G", "B"),
                 metadata={"facewarp:demo": "skimage astronaut (public domain, NASA)"})


def write_demo_plates(pattern: str, frames, size=(1280, 720)) -> list[str]:
    from facewarp.core.frames import frame_path
    from facewarp.imaging.plates import write_plate

    out = []
    for f in frames:
        path = frame_path(pattern, f)
        if not os.path.exists(path):
            write_plate(path, demo_plate(f, size, first=min(frames)), pixel_type="half")
        out.append(path)
    return out
