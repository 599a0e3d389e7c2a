"""Node types used only by the engine tests (registered on import)."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Image, Input, InputError, Node, NodeSchema, Output, Param, register

CALLS: dict[str, int] = {}  # node name -> computes
HASHES: dict[str, int] = {}  # node name -> hashes (TestScale, TestDeviceTag)


def _count(key: str, counts: dict[str, int] = CALLS) -> None:
    counts[key] = counts.get(key, 0) + 1


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
class TestScale(Node):
    schema = NodeSchema(type="TestScale", doc="image * factor", inputs=(Input("image", "Image"),),
                        outputs=(Output("image", "Image"),),
                        params=(Param("factor", "float", 1.0, "multiplier"),))

    def hash_extra(self, ctx, h):
        _count(self.name, HASHES)

    def compute(self, ctx, inputs):
        _count(self.name)
        return {"image": inputs["image"].with_pixels(inputs["image"].pixels * self.param(ctx, "factor"))}


@register
class TestDeviceTag(Node):
    """Reads the device: image + 1 on cpu, + 2 elsewhere."""

    schema = NodeSchema(type="TestDeviceTag", doc="image + device code", inputs=(Input("image", "Image"),),
                        outputs=(Output("image", "Image"),))

    def hash_extra(self, ctx, h):
        _count(self.name, HASHES)
        h.update(f"|device={ctx.device}".encode())

    def compute(self, ctx, inputs):
        _count(self.name)
        return {"image": inputs["image"].with_pixels(inputs["image"].pixels + (1 if ctx.device == "cpu" else 2))}


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


@register
class TestFailAt(Node):
    schema = NodeSchema(type="TestFailAt", doc="passes the image through, raises at one frame", time_dependent=True,
                        inputs=(Input("image", "Image"),), outputs=(Output("image", "Image"),),
                        params=(Param("frame", "int", 0, "the frame that fails"),))

    def compute(self, ctx, inputs):
        if ctx.frame == self.param(ctx, "frame"):
            raise InputError("bad frame", frame=ctx.frame)
        return {"image": inputs["image"]}


@register
class TestStill(Node):
    """An image that does not change with the frame (a still, a model)."""

    schema = NodeSchema(type="TestStill", doc="pixels = value", outputs=(Output("image", "Image"),),
                        params=(Param("value", "float", 0.5, "the value"),))

    def compute(self, ctx, inputs):
        _count(self.name)
        return {"image": Image(np.full((4, 5, 3), self.param(ctx, "value"), np.float32))}
