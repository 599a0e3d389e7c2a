"""PlateWrite: EXR (half/float), DPX, TIFF, PNG, JPEG, written atomically, never overwriting unasked."""

from __future__ import annotations

import os

from facewarp.core.errors import FacewarpError
from facewarp.graph import Input, Node, NodeSchema, Output, Param
from facewarp.imaging.plates import write_plate


class PlateWrite(Node):
    schema = NodeSchema(
        type="PlateWrite",
        category="io",
        doc="Write each frame to a temp file in the target directory and rename it into place, so a killed "
            "render never leaves a truncated frame. Existing frames are kept unless the run says --overwrite; "
            "--skip-existing renders only the missing ones. Directories are created. Passes its input through.",
        inputs=(Input("image", "Image", "what to write"),),
        outputs=(Output("image", "Image", "the input, unchanged"),),
        params=(
            Param("path", "path", "", "output file or sequence pattern (out.####.exr); format from the extension",
                  required=True),
            Param("exr_pixel_type", "enum", "half", "EXR sample type", choices=("half", "float")),
            Param("exr_compression", "enum", "zip", "EXR compression",
                  choices=("none", "zip", "zips", "piz", "pxr24", "rle", "b44", "dwaa", "dwab")),
            Param("bit_depth", "int", 0, "DPX/TIFF/PNG integer depth (0 = format default: DPX 10, TIFF 16, PNG 16; "
                  "TIFF 32 = float)", min=0, max=32),
            Param("colorspace", "enum", "auto", "encoding for non-EXR files: auto (DPX cineon log, others sRGB)",
                  choices=("auto", "linear", "srgb", "rec709", "cineon")),
            Param("metadata", "bool", True, "copy the input's metadata into the file"),
        ),
        is_writer=True,
        time_dependent=False,
    )

    def planned_outputs(self, ctx) -> list[str]:
        return [self.param(ctx, "path")]

    def compute(self, ctx, inputs):
        path = self.param(ctx, "path")
        if ctx.write_mode == "skip" and os.path.exists(path):
            return {"image": inputs["image"]}
        try:
            write_plate(path, inputs["image"], pixel_type=self.param(ctx, "exr_pixel_type"),
                        compression=self.param(ctx, "exr_compression"), bit_depth=self.param(ctx, "bit_depth"),
                        colorspace=self.param(ctx, "colorspace"), overwrite=ctx.write_mode == "overwrite",
                        metadata=self.param(ctx, "metadata"))
        except FacewarpError as exc:
            exc.located(node=self.name, node_type=self.schema.type, frame=ctx.frame)
            raise
        return {"image": inputs["image"]}
