"""PlateWrite: EXR (half/float), DPX, TIFF, PNG, JPEG, written atomically, never overwriting unasked."""

from __future__ import annotations

import os

from facewarp.core.errors import FacewarpError, cut
from facewarp.graph import Input, InputError, Node, NodeSchema, Output, Param, ValidationError, pipeline
from facewarp.imaging.plates import WRITE_FORMATS, write_plate

# Integer depths each format takes (0 = its default); TIFF takes 8, 16 or 32 (float).
_DEPTHS = {".dpx": (0, 8, 10, 12, 16), ".png": (0, 8, 16), ".jpg": (0, 8), ".jpeg": (0, 8),
           ".tif": (0, 8, 16, 32), ".tiff": (0, 8, 16, 32)}

# Not 'A': the render's colour is not premultiplied by the face region, and an alpha would say it is.
MATTE_CHANNEL = "matte.A"


class PlateWrite(Node):
    schema = NodeSchema(
        type="PlateWrite",
        category="io",
        doc="Write each frame to a temp file in the target directory and rename it into place, so a killed "
            "render never leaves a truncated frame. Existing frames are kept unless the run says --overwrite; "
            "--skip-existing renders only the missing ones. Directories are created. Passes its input through.",
        inputs=(Input("image", "Image", "what to write"),
                Input("matte", "Mask", f"a matte written beside the picture as the EXR's extra channel '{MATTE_CHANNEL}' "
                      "(Nuke shows it as the layer 'matte'); EXR only", optional=True)),
        outputs=(Output("image", "Image", "the input, unchanged"),),
        params=(
            Param("path", "path", "", "output file or sequence pattern (out.####.exr; a range of several frames "
                  "needs a frame token); format from the extension: " + " ".join(sorted(WRITE_FORMATS)),
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

    def problems(self, ctx):
        out = super().problems(ctx)
        path = self.param(ctx, "path")
        ext = os.path.splitext(path)[1].lower()
        if ext not in WRITE_FORMATS:
            shown = f"'{cut(ext, 20)}'" if ext else "no extension"
            out.append(self.error(ValidationError, f"unknown output format ({shown}): the extension names it, one of "
                                  f"{', '.join(sorted(WRITE_FORMATS))}", param="path", file=path))
            return out
        depth = self.param(ctx, "bit_depth")
        if ext in _DEPTHS and depth not in _DEPTHS[ext]:
            allowed = ", ".join(str(d) for d in _DEPTHS[ext][1:])
            out.append(self.error(ValidationError, f"{ext} files take bit depth {allowed} (or 0, the format's default), "
                                  f"got {depth}", param="bit_depth", file=path))
        return out

    def compute(self, ctx, inputs):
        path = self.param(ctx, "path")
        if ctx.write_mode == "skip" and os.path.exists(path):
            return {"image": inputs["image"]}
        image = inputs["image"]
        # The matte goes to write_plate as a plane of its own: it is merged with the picture
        # once, in the file's sample type, by whoever writes (a background writer when a
        # render loop runs one), never concatenated as float32 here on the frame loop.
        extra = () if inputs.get("matte") is None else \
            ((MATTE_CHANNEL, self._matte(ctx, path, image, inputs["matte"].alpha)),)
        options = dict(pixel_type=self.param(ctx, "exr_pixel_type"), compression=self.param(ctx, "exr_compression"),
                       bit_depth=self.param(ctx, "bit_depth"), colorspace=self.param(ctx, "colorspace"),
                       overwrite=ctx.write_mode == "overwrite", metadata=self.param(ctx, "metadata"), extra=extra)
        writes = pipeline.active()
        if writes is not None:  # a render loop writing in the background: hand the write over
            writes.submit(write_plate, path, image, node=self.name, node_type=self.schema.type, file=path,
                          frame=ctx.frame, **options)
            return {"image": inputs["image"]}
        try:
            write_plate(path, image, **options)
        except FacewarpError as exc:
            exc.located(node=self.name, node_type=self.schema.type, frame=ctx.frame)
            raise
        return {"image": inputs["image"]}

    def _matte(self, ctx, path, image, alpha):
        """The matte's plane, checked: an EXR only, the image's size."""
        if os.path.splitext(path)[1].lower() != ".exr":
            raise self.error(InputError, "a matte can only be written into an EXR (it is an extra channel)",
                             port="matte", file=path, frame=ctx.frame)
        if alpha.shape != (image.height, image.width):
            raise self.error(InputError, f"matte is {alpha.shape[1]}x{alpha.shape[0]}, image {image.width}x"
                             f"{image.height}", port="matte", frame=ctx.frame)
        return alpha
