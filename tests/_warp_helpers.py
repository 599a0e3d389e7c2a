"""Helpers for the warp tests: the astronaut photo, random face-like points and a TriangleWarp
graph fed from memory."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Graph, Image, Landmarks, Node, NodeSchema, Output


def astronaut():
    from skimage import data

    return data.astronaut().astype(np.float32) / 255.0


def face_points(n, w, h, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0.3 * w, 0.7 * w, n), rng.uniform(0.25 * h, 0.75 * h, n)], 1)


class Seq(Node):
    """Test source: image + per-frame landmarks."""
    schema = NodeSchema(type="_TestTriSrc", doc="test", time_dependent=True, outputs=(
        Output("image", "Image"), Output("source", "Landmarks"), Output("target", "Landmarks")))
    image = None
    src = None
    targets: dict = {}

    def compute(self, ctx, inputs):
        return {"image": Image(self.image), "source": Landmarks(self.src),
                "target": Landmarks(self.targets[ctx.frame])}


def tri_graph(image, src, targets, params=None, spread=False):
    g = Graph()
    s = Seq("src")
    s.image, s.src, s.targets = image, src, targets
    g.nodes["src"] = s
    g.add("TriangleWarp", "tw", params or {})
    for port in ("image", "source", "target"):
        g.connect(f"src.{port}", f"tw.{port}")
    if spread:
        g.add("LandmarkSpread", "sp", {"min_std": 0.5})
        g.connect("src.source", "sp.source")
        g.connect("src.target", "sp.target")
        g.connect("sp.spread", "tw.spread")
    return g
