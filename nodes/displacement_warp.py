"""DisplacementWarp: apply a Displacement to an image (the generic 'IDistort/STMap' of the graph)."""

from __future__ import annotations

from facewarp.core.errors import InputError
from facewarp.graph import Input, Node, NodeSchema, Output, Param
from facewarp.kernels.sampling import resample_bilinear, resample_field, warp_bilinear
from facewarp.warping.region import keep_still_pixels


class DisplacementWarp(Node):
    schema = NodeSchema(
        type="DisplacementWarp",
        category="warp",
        doc="out(p) = image(p + D(p)) with bilinear sampling on pixel centres (the project's backward "
            "displacement convention); where D is exactly (0, 0) the output is the input pixel, bit for bit. A field of another size is resampled to the image and its values "
            "scaled by the size ratio. Where the field's validity is below 1 the result is mixed back "
            "towards the unwarped image when 'respect_valid' is on.",
        inputs=(Input("image", "Image", "picture to warp"),
                Input("displacement", "Displacement", "backward field (any size)")),
        outputs=(Output("image", "Image", "warped picture"),),
        params=(
            Param("border", "enum", "field", "outside the image: the field's own border mode, or forced",
                  choices=("field", "clamp", "zero", "reflect")),
            Param("respect_valid", "bool", False, "mix with the unwarped image where the field is not valid"),
        ),
    )

    def compute(self, ctx, inputs):
        image, disp = inputs["image"], inputs["displacement"]
        field, valid = disp.field, disp.valid
        (fw, fh), (w, h) = disp.size, image.size
        if (fw, fh) != (w, h):
            if fw * h != fh * w:
                raise self.error(InputError, f"field {fw}x{fh} and image {w}x{h} have different aspect ratios",
                                 port="displacement", frame=ctx.frame)
            field = resample_field(field, w, h)
            valid = resample_bilinear(valid, w, h)
        border = self.param(ctx, "border")
        out = warp_bilinear(image.pixels, field, disp.border if border == "field" else border, device=ctx.device)
        out = keep_still_pixels(out, image.pixels, field)
        if self.param(ctx, "respect_valid"):
            a = valid.clip(0, 1)[..., None]
            out = a * out + (1 - a) * image.pixels
        return {"image": image.with_pixels(out)}
