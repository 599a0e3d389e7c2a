"""MouthInterior: a plausible inner mouth where the edit opens the mouth wider than the plate's
(``facewarp.face.mouth``: the driving frame's own interior, colour-matched, or a procedural one)."""

from __future__ import annotations

import numpy as np

from facewarp.face.landmarks import to_ibug68
from facewarp.face.mouth import fill_mouth
from facewarp.graph import Image, Input, InputError, Mask, Node, NodeSchema, Output, Param, events

FILLED = events.label("mouth_filled", "filled-mouth frame(s)")


class MouthInterior(Node):
    schema = NodeSchema(
        type="MouthInterior",
        category="face",
        doc="Where the requested inner lips open wider than the plate's, fills the inner mouth of the warped image "
            "(instead of stretched lip texture): with 'driving' and 'driving_landmarks' connected, the driving "
            "frame's own interior mapped onto the requested inner-lip contour and colour-matched to the target "
            "through the eyes' sclera (Averbuch-Elor et al. 2017); otherwise a procedural cavity and teeth. Grain "
            "matched to the plate; fades in over 2-6 % of the inter-ocular distance of extra opening. Changes "
            "pixels only inside the requested inner-lip contour. 478 (mediapipe) or 68 (iBUG) landmarks.",
        inputs=(Input("image", "Image", "the warped picture"),
                Input("requested", "Landmarks", "where the warp put the landmarks (Retarget/ExpressionEdit)"),
                Input("plate_landmarks", "Landmarks", "the landmarks of the unwarped plate (the warp's source)"),
                Input("driving", "Image", "the driving frame", optional=True),
                Input("driving_landmarks", "Landmarks", "the driving frame's tracked landmarks", optional=True)),
        outputs=(Output("image", "Image", "the picture with the mouth interior"),
                 Output("mouth", "Mask", "coverage of the filled interior")),
        params=(Param("source", "enum", "auto", "auto: the driving interior when connected, else procedural; "
                      "procedural; off (pass through)", choices=("auto", "procedural", "off")),),
    )

    def compute(self, ctx, inputs):
        image: Image = inputs["image"]
        w, h = image.size
        source = self.param(ctx, "source")
        req, plate = inputs["requested"], inputs["plate_landmarks"]
        if source == "off" or not (req.found and plate.found):
            return {"image": image, "mouth": Mask(np.zeros((h, w), np.float32))}
        if len(req.points) != len(plate.points) or len(req.points) not in (68, 478):
            raise self.error(InputError, f"requested has {len(req.points)} landmarks, plate_landmarks "
                             f"{len(plate.points)}: both need 478 (mediapipe) or 68 (iBUG)", port="requested")
        driving, driving_pts = inputs.get("driving"), inputs.get("driving_landmarks")
        if source == "procedural" or driving is None or driving_pts is None or not driving_pts.found:
            driving, pts = None, None
        else:
            pts = driving_pts.in_pixels(driving.width, driving.height)
            if len(pts) == 478 and len(req.points) == 68:
                pts = to_ibug68(pts)
            if len(pts) != len(req.points):
                raise self.error(InputError, f"driving_landmarks has {len(pts)} points, requested "
                                 f"{len(req.points)}: use one scheme", port="driving_landmarks")
        res = fill_mouth(image.pixels, req.in_pixels(w, h), plate.in_pixels(w, h),
                         None if driving is None else driving.pixels, pts, seed=int(ctx.frame or 0))
        if res.source != "none":
            events.count(FILLED)
        md = dict(image.metadata, **{"facewarp:mouth": res.source})
        return {"image": Image(res.pixels, image.channels, image.colorspace, md), "mouth": Mask(res.alpha)}
