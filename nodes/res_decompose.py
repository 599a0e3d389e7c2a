"""ResDecompose: the first half of ResWarp (Animating Through Warping, Yi et al.) as its own
node, so that a low-res generator can sit between the decomposition and the reconstruction
without a cycle: HD picture -> the low-res image the generator takes + the pyramid ResWarp
reconstructs from. Algorithms in ``facewarp.kernels.reswarp`` (``decompose_packed``)."""

from __future__ import annotations

from facewarp.graph import Image, Input, InputError, Node, NodeSchema, Output
from facewarp.kernels import reswarp as rw
from facewarp.nodes.res_warp import ASPECT_PARAM, LOW_SIZE_PARAM, MODE_PARAM, PYRAMID_KEY, low_res_size


class ResDecompose(Node):
    schema = NodeSchema(
        type="ResDecompose",
        category="warp",
        doc="Decompose an HD picture for ResWarp: 'low' is the low-res image a generator takes (the top of the "
            "mode's pyramid: multiscale = the binomial pyramid's top, vanilla = the block average) and 'pyramid' "
            "is what the reconstruction needs - the residual levels R_k = G_k - up(G_k+1) and the top, packed "
            "into one image (R_0 at the top left, the coarser levels side by side in a strip below; the layout "
            "in its metadata). Run the generator on 'low', then ResWarp with this 'pyramid', the generator's "
            "result and the motion field gives the HD result; each mode always reconstructs from its own "
            "pyramid top. With the field's warp of 'low' as the result (a bypassed generator), the output is "
            "the direct HD warp to within ResWarp's error.",
        inputs=(Input("image", "Image", "the HD picture (a plate, or a face crop at the plate's resolution)"),),
        outputs=(Output("low", "Image", "the low-res image the generator takes (low_size grid)"),
                 Output("pyramid", "Image", "the Laplacian pyramid packed in one image, for ResWarp's 'pyramid' "
                        "input (about 1.5x the picture's pixels for multiscale)")),
        params=(MODE_PARAM, LOW_SIZE_PARAM, ASPECT_PARAM),
    )

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        image: Image = inputs["image"]
        lw, lh = low_res_size(image.width, image.height, p["low_size"], p["aspect"])
        if lw > image.width or lh > image.height:
            raise self.error(InputError, f"the low-res grid {lw}x{lh} is larger than the picture "
                             f"{image.width}x{image.height}", port="image")
        multiscale = p["mode"] == "multiscale"
        mosaic, boxes, top = rw.decompose_packed(image.pixels, (lw, lh), multiscale, device=ctx.device)
        md = dict(image.metadata)
        md[PYRAMID_KEY] = {"mode": p["mode"], "plate": [image.width, image.height], "low": [lw, lh],
                           "boxes": [list(b) for b in boxes]}
        low_md = dict(image.metadata)
        low_md["facewarp:reswarp"] = {"mode": p["mode"], "low": [lw, lh], "plate": [image.width, image.height]}
        return {"low": Image(top, image.channels, image.colorspace, low_md),
                "pyramid": Image(mosaic, image.channels, image.colorspace, md)}
