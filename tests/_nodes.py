"""Node types used only by the engine tests (registered on import)."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Image, Input, Node, NodeSchema, Output, Param, register

CALLS: dict[str, int] = {}


def _count(key: str) -> None:
    CALLS[key] = CALLS.get(key, 0) + 1


@register
class TestFrameSource(Node):
    """An image whose value is the frame number: depends on the frame by nature."""

    schema = NodeSchema(type="TestFrameSource", doc="pixels = frame * scale", time_dependent=True,
                        outputs=(Output("image", "Image"),),
                        params=(Param("scale", "float", 1.0, "multiplier"),))

    def compute(self, ctx, inputs):
        _count(self.name)
        return {"image": Image(np.full((4, 5, 3), ctx.frame * self.param(ctx, "scale"), np.float32))}


@register
class TestAdd(Node):
    schema = NodeSchema(type="TestAdd", doc="a + b",
                        inputs=(Input("a", "Image"), Input("b", "Image", optional=True)),
                        outputs=(Output("image", "Image"),))

    def compute(self, ctx, inputs):
        _count(self.name)
        out = inputs["a"].pixels + (inputs["b"].pixels if "b" in inputs else 0)
        return {"image": inputs["a"].with_pixels(out)}


@register
class TestSequenceMean(Node):
    """Temporal node: every frame's output is the mean of the input over the whole range."""

    schema = NodeSchema(type="TestSequenceMean", doc="mean over the range", requires_sequence=True,
                        inputs=(Input("image", "Image"),), outputs=(Output("image", "Image"),))

    def compute_sequence(self, ctx, frames, fetch):
        _count(self.name)
        images = [fetch(f)["image"] for f in frames]
        mean = np.mean([im.pixels for im in images], axis=0)
        return {f: {"image": images[0].with_pixels(mean)} for f in frames}


@register
class TestBroken(Node):
    schema = NodeSchema(type="TestBroken", doc="raises", inputs=(Input("image", "Image"),),
                        outputs=(Output("image", "Image"),))

    def compute(self, ctx, inputs):
        raise ZeroDivisionError("boom")
