"""FaceCrop: similarity-aligned face crop from landmarks, with the transform carried forward."""

from __future__ import annotations

import numpy as np

from facewarp.face.crop import (
    alignment_matrix,
    displacement_to_crop,
    inner_mouth_mask,
    native_crop_size,
    rotate_vectors_to_crop,
    transform_points,
    warp_to_crop,
)
from facewarp.graph import (
    Displacement,
    Image,
    Input,
    InputError,
    Landmarks,
    Mask,
    Node,
    NodeSchema,
    Output,
    Param,
    Transform2D,
    ValidationError,
)


class FaceCrop(Node):
    schema = NodeSchema(
        type="FaceCrop",
        category="face",
        doc="Rotate/scale/translate the face upright into a size x size crop (eyes and mouth from the "
            "landmarks, FFHQ-style framing; the framing does not depend on the size). size 0 crops at the "
            "plate's own resolution (the crop's side is the face box's side in plate pixels, at least "
            "min_size): the HD crop of the network path (ResDecompose -> networks -> ResWarp -> FacePaste). "
            "Outputs the crop, the plate->crop Transform2D for FacePaste, the landmarks in crop pixels, the "
            "inner-mouth matte (the region WgGAN leaves out and HrhGAN fills) and the connected motion field "
            "in crop pixels.",
        inputs=(Input("image", "Image", "plate"), Input("landmarks", "Landmarks", "landmarks on the plate"),
                Input("field", "Displacement", "a backward motion field on the plate (e.g. TriangleWarp's "
                      "displacement), carried into the crop", optional=True)),
        outputs=(Output("face", "Image", "aligned crop"),
                 Output("transform", "Transform2D", "plate -> crop map"),
                 Output("landmarks", "Landmarks", "landmarks in crop pixels"),
                 Output("mouth", "Mask", "inner-mouth matte in the crop"),
                 Output("field", "Displacement", "the field in crop pixels and axes (warping the crop with it "
                        "is the crop of the warped plate); zero when no field is connected")),
        params=(
            Param("size", "int", 256, "crop width and height (the network resolution, >= 16); 0 = native: "
                  "the face box's side in plate pixels", min=0, max=4096),
            Param("min_size", "int", 0, "with size 0: the smallest crop side (a smaller face is up-sampled to "
                  "it; set it to the networks' size)", min=0, max=16384),
            Param("scale", "float", 1.0, "framing: > 1 zooms out", min=0.25, max=4.0),
            Param("mouth_dilate", "float", 2.0, "grow the inner-mouth matte by this many crop pixels", min=0, max=64),
            Param("vectors", "bool", False, "the image is a 2-channel vector field (TriangleWarp's normalised map): "
                  "also rotate its vectors into the crop's axes, as WgGAN's training pairs are built"),
        ),
    )

    def problems(self, ctx):
        out = super().problems(ctx)
        try:
            size = self.param(ctx, "size")
        except Exception:  # noqa: BLE001 - a parameter problem is reported on its own
            return out
        if isinstance(size, int) and 0 < size < 16:
            out.append(self.error(ValidationError, f"size {size}: 0 (native) or at least 16", param="size"))
        return out

    def compute(self, ctx, inputs):
        image: Image = inputs["image"]
        lms: Landmarks = inputs["landmarks"]
        p = self.param_values(ctx)
        if not lms.found:
            raise self.error(InputError, "no face on this frame (landmarks.found is false)", port="landmarks")
        if p["vectors"] and len(image.channels) != 2:
            raise self.error(InputError, f"vectors=true needs a 2-channel image, got {len(image.channels)} channels",
                             port="image", param="vectors")
        if 0 < p["size"] < 16:
            raise self.error(InputError, f"size {p['size']}: 0 (native) or at least 16", param="size")
        size = p["size"] or native_crop_size(lms.points, p["scale"], lms.scheme, p["min_size"])
        m = alignment_matrix(lms.points, size, p["scale"], lms.scheme)
        crop = warp_to_crop(image.pixels, m, size)
        if p["vectors"]:
            crop = rotate_vectors_to_crop(crop, m)
        pts = transform_points(lms.points, m)
        if lms.scheme.startswith("mediapipe") and len(pts) >= 468:
            mouth = inner_mouth_mask(pts, (size, size), dilate=p["mouth_dilate"])
        else:
            mouth = np.zeros((size, size), np.float32)
        if "field" in inputs:
            disp: Displacement = inputs["field"]
            if disp.size != image.size:
                raise self.error(InputError, f"field is {disp.size[0]}x{disp.size[1]}, the image "
                                 f"{image.width}x{image.height}", port="field")
            f, v = displacement_to_crop(disp.field, disp.valid, m, size)
            field = Displacement(f, v, disp.border)
        else:
            field = Displacement(np.zeros((size, size, 2), np.float32))
        md = dict(image.metadata)
        md["facewarp:face_transform"] = m.tolist()
        return {
            "face": Image(crop, image.channels, image.colorspace, md),
            "transform": Transform2D(m, (size, size), image.size),
            "landmarks": Landmarks(pts, lms.confidence, lms.scheme, (size, size), True),
            "mouth": Mask(mouth),
            "field": field,
        }
