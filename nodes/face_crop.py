"""FaceCrop: similarity-aligned face crop from landmarks, with the transform carried forward."""

from __future__ import annotations

import numpy as np

from facewarp.face.crop import (
    alignment_matrix,
    inner_mouth_mask,
    rotate_vectors_to_crop,
    transform_points,
    warp_to_crop,
)
from facewarp.graph import Image, Input, InputError, Landmarks, Mask, Node, NodeSchema, Output, Param, Transform2D


class FaceCrop(Node):
    schema = NodeSchema(
        type="FaceCrop",
        category="face",
        doc="Rotate/scale/translate the face upright into a size x size crop (eyes and mouth from the "
            "landmarks, FFHQ-style framing). Outputs the crop, the plate->crop Transform2D for FacePaste, "
            "the landmarks in crop pixels and the inner-mouth matte (the region WgGAN leaves out and HrhGAN fills).",
        inputs=(Input("image", "Image", "plate"), Input("landmarks", "Landmarks", "landmarks on the plate")),
        outputs=(Output("face", "Image", "aligned crop"),
                 Output("transform", "Transform2D", "plate -> crop map"),
                 Output("landmarks", "Landmarks", "landmarks in crop pixels"),
                 Output("mouth", "Mask", "inner-mouth matte in the crop")),
        params=(
            Param("size", "int", 256, "crop width and height (the network resolution)", min=16, max=4096),
            Param("scale", "float", 1.0, "framing: > 1 zooms out", min=0.25, max=4.0),
            Param("mouth_dilate", "float", 2.0, "grow the inner-mouth matte by this many crop pixels", min=0, max=64),
            Param("vectors", "bool", False, "the image is a 2-channel vector field (TriangleWarp's normalised map): "
                  "also rotate its vectors into the crop's axes, as WgGAN's training pairs are built"),
        ),
    )

    def compute(self, ctx, inputs):
        image: Image = inputs["image"]
        lms: Landmarks = inputs["landmarks"]
        p = self.param_values(ctx)
        if not lms.found:
            raise self.error(InputError, "no face on this frame (landmarks.found is false)", port="landmarks")
        if p["vectors"] and len(image.channels) != 2:
            raise self.error(InputError, f"vectors=true needs a 2-channel image, got {len(image.channels)} channels",
                             port="image", param="vectors")
        size = p["size"]
        m = alignment_matrix(lms.points, size, p["scale"], lms.scheme)
        crop = warp_to_crop(image.pixels, m, size)
        if p["vectors"]:
            crop = rotate_vectors_to_crop(crop, m)
        pts = transform_points(lms.points, m)
        if lms.scheme.startswith("mediapipe") and len(pts) >= 468:
            mouth = inner_mouth_mask(pts, (size, size), dilate=p["mouth_dilate"])
        else:
            mouth = np.zeros((size, size), np.float32)
        md = dict(image.metadata)
        md["facewarp:face_transform"] = m.tolist()
        return {
            "face": Image(crop, image.channels, image.colorspace, md),
            "transform": Transform2D(m, (size, size), image.size),
            "landmarks": Landmarks(pts, lms.confidence, lms.scheme, (size, size), True),
            "mouth": Mask(mouth),
        }
