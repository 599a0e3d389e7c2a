"""FaceCheck: measures an edit per frame for ``--report`` (``facewarp.face.quality``) and passes the
image through unchanged."""

from __future__ import annotations

from facewarp.face import tracking as fm
from facewarp.face.mouth import opening
from facewarp.face.quality import mouth_contrast_share, outside_change, transfer_error
from facewarp.graph import Image, Input, InputError, Node, NodeSchema, Output, Param, events

TRACKING_KEY = "facewarp:tracking"  # Image.metadata (and the EXR header): found / interpolated / held

NOT_REDETECTED = events.label("check_face_not_found", "face-not-re-detected output frame(s)")


class FaceCheck(Node):
    schema = NodeSchema(
        type="FaceCheck",
        category="qc",
        doc="Re-detects the face on the edited image and records, per frame, how far its landmarks lie from "
            "the requested ones in % of the inter-ocular distance (figures transfer_all_iod_pct and "
            "transfer_lips_iod_pct), the re-detected inner-lip opening (mouth_opening_iod_pct) and the "
            "share of inner-mouth pixels farther than dE 20 from the lips' colour (mouth_contrast_share), and the "
            "largest change outside the face region (outside_change_max, with 'plate' and 'matte' connected). The figures are in the run's --report and stats; the "
            "image passes through unchanged but for the metadata key facewarp:tracking, the requested "
            "landmarks' tracking status (found/interpolated/held), which PlateWrite puts in the EXR header. "
            "Costs a face mesh per frame on the crop around the requested landmarks (a full-frame face "
            "detection only when no face is found there); 'enabled' off skips it.",
        inputs=(Input("image", "Image", "the edited image"),
                Input("requested", "Landmarks", "where the edit was asked to put the landmarks (mediapipe478 or "
                      "ibug68, e.g. Retarget's or ExpressionEdit's landmarks)"),
                Input("plate", "Image", "the unedited image", optional=True),
                Input("matte", "Mask", "the face region of the edit", optional=True)),
        outputs=(Output("image", "Image", "the input image, its metadata stamped with the tracking status"),),
        params=(Param("enabled", "bool", True, "measure (off: pass through only)"),),
    )

    def compute(self, ctx, inputs):
        requested = inputs["requested"]
        image: Image = inputs["image"]
        image = Image(image.pixels, image.channels, image.colorspace,
                      {**image.metadata, TRACKING_KEY: fm.status_of(requested)})
        if not self.param(ctx, "enabled"):
            return {"image": image}
        if len(requested.points) not in (68, 478):
            raise self.error(InputError, f"requested landmarks have {len(requested.points)} points; FaceCheck "
                             "compares mediapipe478 or ibug68 (set the producer's scheme)", port="requested")
        # The requested landmarks say where the face is: mesh the crop around them, no full-frame detector.
        err = transfer_error(image, requested, detect=False)
        if err is None:
            events.count(NOT_REDETECTED)
        else:
            events.figure("transfer_all_iod_pct", err.all_pct)
            events.figure("transfer_lips_iod_pct", err.lips_pct)
            events.figure("mouth_opening_iod_pct", 100.0 * opening(err.found))
            events.figure("requested_opening_iod_pct", 100.0 * opening(requested.points))
            share = mouth_contrast_share(image.pixels, err.found)
            if share is not None:
                events.figure("mouth_contrast_share", share)
        plate, matte = inputs.get("plate"), inputs.get("matte")
        if plate is not None and matte is not None:
            if plate.pixels.shape != image.pixels.shape:
                raise self.error(InputError, f"plate is {plate.width}x{plate.height}, image {image.width}x"
                                 f"{image.height}", port="plate", frame=ctx.frame)
            events.figure("outside_change_max", outside_change(image.pixels, plate.pixels, matte.alpha))
        return {"image": image}
