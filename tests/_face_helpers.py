"""Helpers for the face tests: an in-memory plate source node and clip reading."""

from __future__ import annotations

import numpy as np

from facewarp.core.color import to_linear

from facewarp.graph import Image, Node, NodeSchema, Output, Param, register


def srgb_to_linear(u8: np.ndarray) -> np.ndarray:
    return to_linear(u8.astype(np.float32) / 255.0, "srgb")


class MemoryPlates(Node):
    """Test source: frame f -> PLATES[key][f] (uint8 sRGB arrays, decoded to linear)."""

    PLATES: dict = {}
    schema = NodeSchema(type="TestMemoryPlates", category="source", doc="test plates from memory",
                        outputs=(Output("image", "Image", "plate"),),
                        params=(Param("key", "string", "default", "which plate list"),), time_dependent=True)

    def compute(self, ctx, inputs):
        frames = self.PLATES[self.param(ctx, "key")]
        return {"image": Image(srgb_to_linear(frames[ctx.frame]))}


try:
    register(MemoryPlates)
except Exception:  # already registered by another test module
    pass


def read_clip(path, step: int = 1, limit: int | None = None) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(cv2.cvtColor(fr, cv2.COLOR_BGR2RGB))
        i += 1
        if limit and len(out) >= limit:
            break
    return out


class MemoryLandmarks(Node):
    """Test source: frame f -> LANDMARKS[key][f] (a Landmarks value)."""

    LANDMARKS: dict = {}
    schema = NodeSchema(type="TestMemoryLandmarks", category="source", doc="test landmarks from memory",
                        outputs=(Output("landmarks", "Landmarks", "landmarks"),),
                        params=(Param("key", "string", "default", "which list"),), time_dependent=True)

    def compute(self, ctx, inputs):
        return {"landmarks": self.LANDMARKS[self.param(ctx, "key")][ctx.frame]}


try:
    register(MemoryLandmarks)
except Exception:
    pass
