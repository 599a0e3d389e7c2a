"""FacePaste: the inverse of FaceCrop, composited into the plate with a feathered matte."""

from __future__ import annotations

import numpy as np

from facewarp.face.crop import face_mask, paste, rect_mask
from facewarp.graph import Image, Input, InputError, Node, NodeSchema, Output, Param


class FacePaste(Node):
    schema = NodeSchema(
        type="FacePaste",
        category="face",
        doc="Map the (refined) face crop back onto the plate with the inverse of FaceCrop's transform. "
            "The matte is the mask input if connected, else the hull of the crop-space landmarks, else the "
            "crop square; it is eroded then feathered inwards, and outside it the plate is untouched (bit-exact).",
        inputs=(Input("plate", "Image", "plate to composite into"),
                Input("face", "Image", "face crop"),
                Input("transform", "Transform2D", "FaceCrop's plate -> crop transform"),
                Input("mask", "Mask", "crop-space matte", optional=True),
                Input("landmarks", "Landmarks", "crop-space landmarks (for the default matte)", optional=True)),
        outputs=(Output("image", "Image", "plate with the face composited"),),
        params=(
            Param("erode", "float", 2.0, "shrink the matte by this many crop pixels", min=0, max=256),
            Param("feather", "float", 8.0, "soft edge width in crop pixels (inside the matte)", min=0, max=256),
        ),
    )

    def compute(self, ctx, inputs):
        plate: Image = inputs["plate"]
        face: Image = inputs["face"]
        tr = inputs["transform"]
        p = self.param_values(ctx)
        size = (face.width, face.height)
        if tuple(tr.crop_size) != size:
            raise self.error(InputError, f"face is {size[0]}x{size[1]} but the transform is for a "
                             f"{tr.crop_size[0]}x{tr.crop_size[1]} crop", port="face")
        if "mask" in inputs:
            alpha = inputs["mask"].alpha
            if alpha.shape != (face.height, face.width):
                raise self.error(InputError, f"mask is {alpha.shape[1]}x{alpha.shape[0]}, face is {size[0]}x{size[1]}", port="mask")
            # keep the guarantee "0 outside" also for a user matte: feather inside it
            alpha = np.minimum(alpha, rect_mask(size, 0.0, 0.0))
        elif "landmarks" in inputs:
            alpha = face_mask(inputs["landmarks"].points, size, p["erode"], p["feather"])
        else:
            alpha = rect_mask(size, p["erode"], p["feather"])
        # map face channels onto plate channels by name
        idx = [face.channels.index(c) for c in plate.channels if c in face.channels]
        pidx = [i for i, c in enumerate(plate.channels) if c in face.channels]
        if not idx:
            raise self.error(InputError, f"face channels {face.channels} share none with the plate {plate.channels}", port="face")
        sub = paste(plate.pixels[..., pidx], face.pixels[..., idx], alpha, np.asarray(tr.matrix))
        out = plate.pixels.copy()
        out[..., pidx] = sub
        return {"image": plate.with_pixels(out)}
