"""FrameHold: every frame gets what its input gives at one frame (a still target, a reference pose)."""

from __future__ import annotations

from dataclasses import replace

from facewarp.graph import Input, Node, NodeSchema, Output, Param, ValidationError
from facewarp.graph.schema import ANY


class FrameHold(Node):
    schema = NodeSchema(
        type="FrameHold",
        category="time",
        doc="Outputs, at every frame, what its input gives at one frame. Everything upstream is evaluated as "
            "if the range were that frame alone, so a still target photo is read, tracked and fitted once for "
            "the whole render (hold after FLAMEFit: sequence nodes upstream of the hold compute over the held "
            "frame only, not the range). Any port type; the output has the input's type.",
        inputs=(Input("input", ANY, "the value to hold (any type)"),),
        outputs=(Output("output", ANY, "the input at `frame`, for every frame (the input's type)"),),
        params=(
            Param("frame", "int", -1, "the frame to hold: -1 = the first frame of the range (the shot's, when a farm "
                  "renders it in chunks), otherwise a frame of the range"),
            Param("enabled", "bool", True, "hold (off: every frame passes through as it is, so that a preset variable "
                  "can say whether its input is a still)"),
        ),
    )

    def held_frame(self, ctx) -> int:
        frame = self.param(ctx, "frame")
        if frame != -1:
            return frame
        return ctx.frames[0] if ctx.frames else ctx.frame

    def input_context(self, ctx):
        if not self.param(ctx, "enabled"):
            return ctx
        # The range narrowed to the held frame: a sequence node upstream (LandmarkTracker,
        # FLAMEFit) then computes once over that frame instead of over the whole range.
        frame = self.held_frame(ctx)
        return replace(ctx, frame=frame, frames=(frame,))

    def problems(self, ctx):
        # Inside the range, so that the pre-flight (which checks upstream files over the range)
        # has seen the files the held frame reads.
        out = super().problems(ctx)
        frames = ctx.frames or ((ctx.frame,) if ctx.frame is not None else ())
        f = self.param(ctx, "frame")
        if f != -1 and frames and f not in frames:
            out.append(self.error(ValidationError, f"frame {f} is outside the range being rendered "
                                  f"({min(frames)}-{max(frames)}); use -1 or a frame of the range", param="frame"))
        return out

    def compute(self, ctx, inputs):
        return {"output": inputs["input"]}
