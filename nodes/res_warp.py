"""ResWarp (Animating Through Warping, Yi et al.): HD result = up-sampled low-res result +
the plate's high-frequency residuals warped by the motion field. Vanilla or multiscale
(Laplacian). Algorithms in ``facewarp.kernels.reswarp``; this module is the node wrapper."""

from __future__ import annotations

from facewarp.graph import Displacement, Image, Input, InputError, Node, NodeSchema, Output, Param
from facewarp.kernels import reswarp as rw


def low_res_size(width: int, height: int, low_size: int, aspect: str) -> tuple[int, int]:
    """(w, h) of the low-res grid: ``square`` = low_size x low_size (the paper: the plate is
    averaged onto a 128 x 128 grid whatever its aspect); ``keep`` = low_size on the longer side."""
    if aspect == "square":
        return low_size, low_size
    if width >= height:
        return low_size, max(1, round(low_size * height / width))
    return max(1, round(low_size * width / height)), low_size


class ResWarp(Node):
    schema = NodeSchema(
        type="ResWarp",
        category="warp",
        doc="HD output = bilinear up-sampling of a low-res result + the plate's residuals (plate minus its "
            "down-sampled, re-up-sampled self) warped by the motion field. 'vanilla' (the paper): one residual "
            "against the block-averaged plate; 'multiscale': a Laplacian pyramid (8-tap binomial octaves) of "
            "residuals, each warped by the field at that scale, added coarse to fine (~4 dB better at 4K). "
            "Any plate size. The 'low' output is the top of the mode's pyramid (what the low-res generator "
            "should be fed).",
        inputs=(
            Input("plate", "Image", "the HD plate (any size, any channels)"),
            Input("result", "Image", "the low-res result (e.g. the generator's 128 x 128 output), same channels"),
            Input("field", "Displacement", "backward motion field, low-res or HD (pixels of its own grid)"),
        ),
        outputs=(
            Output("image", "Image", "HD result, the plate's size"),
            Output("low", "Image", "the plate on the low-res grid (vanilla: block average; multiscale: "
                   "pyramid top)"),
        ),
        params=(
            Param("mode", "enum", "vanilla", "vanilla (paper) or multiscale (binomial Laplacian pyramid) "
                  "residual warping",
                  choices=("vanilla", "multiscale")),
            Param("low_size", "int", 128, "low-res grid size (128 in the paper; 256/512 work too)", min=8, max=4096),
            Param("aspect", "enum", "square", "square: low_size x low_size grid (paper); keep: low_size on the "
                  "longer side", choices=("square", "keep")),
            Param("border", "enum", "field", "border mode for residual samples outside the plate "
                  "('field' = the Displacement's own)", choices=("field", "clamp", "zero", "reflect")),
        ),
    )

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        plate: Image = inputs["plate"]
        result: Image = inputs["result"]
        field: Displacement = inputs["field"]
        lw, lh = low_res_size(plate.width, plate.height, p["low_size"], p["aspect"])
        if lw > plate.width or lh > plate.height:
            raise self.error(InputError, f"the low-res grid {lw}x{lh} is larger than the plate "
                             f"{plate.width}x{plate.height}", port="plate")
        if result.size != (lw, lh):
            raise self.error(InputError, f"expected a {lw}x{lh} low-res result (low_size={p['low_size']}, "
                             f"aspect={p['aspect']}), got {result.width}x{result.height}", port="result")
        if result.pixels.shape[2] != plate.pixels.shape[2]:
            raise self.error(InputError, f"result has {result.pixels.shape[2]} channels, the plate "
                             f"{plate.pixels.shape[2]}", port="result")
        fw, fh = field.size
        if fw > plate.width or fh > plate.height:
            raise self.error(InputError, f"field {fw}x{fh} is larger than the plate", port="field")
        border = field.border if p["border"] == "field" else p["border"]
        multiscale = p["mode"] == "multiscale"
        out, low = rw.reswarp(plate.pixels, result.pixels, field.field, multiscale=multiscale, border=border,
                              device=ctx.device, return_levels=True)
        md = dict(plate.metadata)
        md["facewarp:reswarp"] = {"mode": p["mode"], "low": [lw, lh],
                                  "levels": [list(s) for s in rw.pyramid_sizes(plate.width, plate.height, lw, lh,
                                                                                multiscale)]}
        return {"image": Image(out, plate.channels, plate.colorspace, md),
                "low": Image(low, plate.channels, plate.colorspace, dict(md))}
