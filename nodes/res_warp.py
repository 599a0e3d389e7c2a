"""ResWarp (Animating Through Warping, Yi et al.): HD result = up-sampled low-res result +
the plate's high-frequency residuals warped by the motion field. Vanilla or multiscale
(Laplacian). Algorithms in ``facewarp.kernels.reswarp``; this module is the node wrapper, and
the home of what ResDecompose shares with it (the low-res grid, the mode parameter, the
pyramid's metadata)."""

from __future__ import annotations

from facewarp.graph import Displacement, Image, Input, InputError, Node, NodeSchema, Output, Param
from facewarp.kernels import reswarp as rw

#: the default mode of ResWarp and ResDecompose, chosen by measurement (docs/geometry.md,
#: "Default mode": ~4 dB better than vanilla for ~1.4-1.5x the time at 4K)
DEFAULT_MODE = "multiscale"
#: the Image metadata key under which ResDecompose describes its packed pyramid
PYRAMID_KEY = "facewarp:reswarp_pyramid"

MODE_PARAM = Param("mode", "enum", DEFAULT_MODE, "multiscale (binomial Laplacian pyramid, the default: ~4 dB "
                   "better at 4K for ~1.5x the time) or vanilla (the paper's one residual against the block "
                   "average) residual warping", choices=("vanilla", "multiscale"))
LOW_SIZE_PARAM = Param("low_size", "int", 128, "low-res grid size (128 in the paper; 256/512 work too)",
                       min=8, max=4096)
ASPECT_PARAM = Param("aspect", "enum", "square", "square: low_size x low_size grid (paper); keep: low_size on "
                     "the longer side", choices=("square", "keep"))


def low_res_size(width: int, height: int, low_size: int, aspect: str) -> tuple[int, int]:
    """(w, h) of the low-res grid: ``square`` = low_size x low_size (the paper: the plate is
    averaged onto a 128 x 128 grid whatever its aspect); ``keep`` = low_size on the longer side."""
    if aspect == "square":
        return low_size, low_size
    if width >= height:
        return low_size, max(1, round(low_size * height / width))
    return max(1, round(low_size * width / height)), low_size


def pyramid_info(image: Image) -> dict:
    """The description ResDecompose puts in its ``pyramid`` image's metadata (ValueError when
    the image carries none or a malformed one)."""
    info = image.metadata.get(PYRAMID_KEY)
    try:
        boxes = [tuple(int(v) for v in b) for b in info["boxes"]]
        out = {"mode": str(info["mode"]), "plate": tuple(int(v) for v in info["plate"]),
               "low": tuple(int(v) for v in info["low"]), "boxes": boxes}
    except (TypeError, KeyError, ValueError):
        raise ValueError(f"not a ResDecompose pyramid (its metadata has no valid '{PYRAMID_KEY}')") from None
    if not boxes or any(len(b) != 4 for b in boxes) or boxes[-1][2:] != out["low"] or boxes[0][2:] != out["plate"]:
        raise ValueError(f"malformed '{PYRAMID_KEY}' metadata")
    return out


class ResWarp(Node):
    schema = NodeSchema(
        type="ResWarp",
        category="warp",
        doc="HD output = bilinear up-sampling of a low-res result + the plate's residuals (plate minus its "
            "down-sampled, re-up-sampled self) warped by the motion field. 'multiscale' (default): a Laplacian "
            "pyramid (8-tap binomial octaves) of residuals, each warped by the field at that scale, added coarse "
            "to fine (~4 dB better than vanilla at 4K for ~1.5x the time); 'vanilla' (the paper): one residual "
            "against the block-averaged plate. Any plate size. Two ways to wire it: with 'plate' it decomposes "
            "the plate itself (its 'low' output is the top of the mode's pyramid); with a generator between the "
            "low-res image and the result, decompose first with ResDecompose (its 'low' feeds the generator) and "
            "connect its 'pyramid' here instead of 'plate': then this node is the reconstruction only, the mode "
            "and the grid are the decomposition's (mode, low_size and aspect here are not used), and the graph "
            "has no cycle.",
        inputs=(
            Input("plate", "Image", "the HD plate (any size, any channels); or connect 'pyramid' instead",
                  optional=True),
            Input("result", "Image", "the low-res result (e.g. the generator's 128 x 128 output), same channels"),
            Input("field", "Displacement", "backward motion field, low-res or HD (pixels of its own grid)"),
            Input("pyramid", "Image", "ResDecompose's pyramid of the plate (instead of 'plate': reconstruct from "
                  "it)", optional=True),
        ),
        outputs=(
            Output("image", "Image", "HD result, the plate's size"),
            Output("low", "Image", "the plate on the low-res grid (vanilla: block average; multiscale: "
                   "pyramid top)"),
        ),
        params=(
            MODE_PARAM,
            LOW_SIZE_PARAM,
            ASPECT_PARAM,
            Param("border", "enum", "field", "border mode for residual samples outside the plate "
                  "('field' = the Displacement's own)", choices=("field", "clamp", "zero", "reflect")),
        ),
    )

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        result: Image = inputs["result"]
        field: Displacement = inputs["field"]
        border = field.border if p["border"] == "field" else p["border"]
        if "pyramid" in inputs:
            if "plate" in inputs:
                raise self.error(InputError, "connect either 'plate' (decompose here) or 'pyramid' (ResDecompose's), "
                                 "not both", port="pyramid")
            return self._reconstruct(ctx, inputs["pyramid"], result, field, border)
        if "plate" not in inputs:
            raise self.error(InputError, "nothing to reconstruct from: connect 'plate' or ResDecompose's 'pyramid'",
                             port="plate")
        plate: Image = inputs["plate"]
        lw, lh = low_res_size(plate.width, plate.height, p["low_size"], p["aspect"])
        if lw > plate.width or lh > plate.height:
            raise self.error(InputError, f"the low-res grid {lw}x{lh} is larger than the plate "
                             f"{plate.width}x{plate.height}", port="plate")
        self._check(result, field, (lw, lh), plate.size, plate.pixels.shape[2],
                    f"low_size={p['low_size']}, aspect={p['aspect']}")
        multiscale = p["mode"] == "multiscale"
        out, low = rw.reswarp(plate.pixels, result.pixels, field.field, multiscale=multiscale, border=border,
                              device=ctx.device, return_levels=True)
        md = dict(plate.metadata)
        md["facewarp:reswarp"] = {"mode": p["mode"], "low": [lw, lh],
                                  "levels": [list(s) for s in rw.pyramid_sizes(plate.width, plate.height, lw, lh,
                                                                                multiscale)]}
        return {"image": Image(out, plate.channels, plate.colorspace, md),
                "low": Image(low, plate.channels, plate.colorspace, dict(md))}

    def _check(self, result: Image, field: Displacement, low: tuple[int, int], plate_size: tuple[int, int],
               channels: int, what: str) -> None:
        if result.size != low:
            raise self.error(InputError, f"expected a {low[0]}x{low[1]} low-res result ({what}), got "
                             f"{result.width}x{result.height}", port="result")
        if result.pixels.shape[2] != channels:
            raise self.error(InputError, f"result has {result.pixels.shape[2]} channels, the plate "
                             f"{channels}", port="result")
        fw, fh = field.size
        if fw > plate_size[0] or fh > plate_size[1]:
            raise self.error(InputError, f"field {fw}x{fh} is larger than the plate", port="field")

    def _reconstruct(self, ctx, pyramid: Image, result: Image, field: Displacement, border: str):
        try:
            info = pyramid_info(pyramid)
            residuals, top = rw.unpack_pyramid(pyramid.pixels, info["boxes"])
        except ValueError as exc:
            raise self.error(InputError, str(exc), port="pyramid") from None
        lw, lh = info["low"]
        self._check(result, field, (lw, lh), info["plate"], pyramid.pixels.shape[2],
                    f"the grid of the ResDecompose pyramid, mode={info['mode']}")
        out = rw.reconstruct(result.pixels, residuals, field.field, border=border, device=ctx.device)
        md = {k: v for k, v in pyramid.metadata.items() if k != PYRAMID_KEY}
        md["facewarp:reswarp"] = {"mode": info["mode"], "low": [lw, lh],
                                  "levels": [[b[2], b[3]] for b in info["boxes"]]}
        return {"image": Image(out, pyramid.channels, pyramid.colorspace, md),
                "low": Image(top, pyramid.channels, pyramid.colorspace, dict(md))}
