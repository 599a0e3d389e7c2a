"""TriangleWarp: the global stage of wg-GAN (Geng et al. 2018) - a piecewise-affine warp
driven by landmarks over a Delaunay triangulation of the target landmarks plus frame-border
anchors, and the paper's normalised displacement map for WgGAN.

Deviations from the paper, on purpose:
  * the paper uses the confidence-aware warp of Averbuch-Elor et al.; we use the plain
    piecewise-affine map (exact on the landmarks) and leave confidences to the tracker;
  * the per-landmark standard deviation over the sequence comes from the LandmarkSpread
    sequence node (input 'spread'), so that this node stays per-frame and never holds a
    whole shot of 4K warps in memory; without it, ``default_std`` is used.
  * the paper warps the whole frame; here the displacement is confined to the face region
    (``facewarp.warping.region``: the landmarks' hull grown by ``grow``, smooth fade to zero) so the
    plate is bit-identical outside it (``region: frame`` restores the paper's whole-frame warp).
The warp itself is ``facewarp.warping.landmark.landmark_warp`` (the WgGAN training-pair builder
calls the same function).
"""

from __future__ import annotations

import numpy as np

from facewarp.face import tracking as fm
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
    RenderError,
    events,
)
from facewarp.warping.landmark import BORDER_POINTS, landmark_warp
from facewarp.warping.region import FEATHER, GROW

FOLDOVERS = events.label("foldovers", "fold-over triangle(s)")
PASSED_THROUGH = events.label("guessed_passed_through", "passed-through guessed frame(s)")

# The face-region and guessed-frame parameters every warp path declares (DisplacementRender imports them).
REGION_PARAMS = (
    Param("region", "enum", "face", "where the edit may change pixels: 'face' (the face hull grown by 'grow', "
          "faded to zero at its edge; the plate is bit-identical outside) or 'frame' (the whole picture)",
          choices=("face", "frame")),
    Param("grow", "float", GROW, "margin around the face hull, as a fraction of the face width (never less than "
          "twice the largest displacement, so the fade cannot fold)", min=0.0, max=4.0),
    Param("feather", "float", FEATHER, "fraction of the margin over which the edit fades to zero (smoothstep)",
          min=0.01, max=1.0),
    Param("guessed", "enum", "warp", "frames whose face the tracker interpolated or held: warp them, pass the "
          "plate through unchanged, or stop with an error", choices=("warp", "pass-through", "error")),
)


def guessed_status(*values) -> str | None:
    """The tracking status ('interpolated'/'held') when any of ``values`` (Landmarks, Mesh,
    FlameParams) says its face was guessed, else None."""
    for value in values:
        status = fm.status_of(value)
        if status in fm.GUESSED:
            return status
    return None


class TriangleWarp(Node):
    schema = NodeSchema(
        type="TriangleWarp",
        category="warp",
        doc="Piecewise-affine landmark warp (wg-GAN global stage): Delaunay triangulation of the target "
            "landmarks plus frame-border anchors (which stay put), backward map from target to source. "
            "Outputs the warped image, its Displacement, and the normalised displacement map (each "
            "landmark's displacement target - source divided by its std over the shot, from the optional "
            "'spread' input, interpolated through the same triangulation). Fold-overs (triangles whose source "
            "is flipped or degenerate) are reported: 'mark' zeroes the Displacement's validity there, "
            "lists them in the image metadata and counts them in the run's summary, 'error' stops the render.",
        inputs=(
            Input("image", "Image", "the picture to warp (source pose)"),
            Input("source", "Landmarks", "landmarks in the image"),
            Input("target", "Landmarks", "where those landmarks should go"),
            Input("spread", "Landmarks", "per-landmark std over the shot (LandmarkSpread)", optional=True),
        ),
        outputs=(
            Output("image", "Image", "warped image"),
            Output("displacement", "Displacement", "backward map out(p) = image(p + D(p))"),
            Output("normalized", "Image", "normalised displacement map, channels ndx, ndy (unitless)"),
            Output("matte", "Mask", "the face region: 1 where the edit is at full strength, 0 where the plate "
                   "is untouched"),
        ),
        params=(
            Param("border_points", "int", BORDER_POINTS, "anchors per frame side (fixed points)", min=1, max=256),
            Param("border", "enum", "clamp", "sampling outside the image", choices=("clamp", "zero", "reflect")),
            Param("foldover", "enum", "mark", "what to do with flipped triangles", choices=("mark", "error")),
            Param("default_std", "float", 1.0, "std (pixels) used when 'spread' is not connected",
                  min=1e-6, max=1e6),
            *REGION_PARAMS,
        ),
    )

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        image: Image = inputs["image"]
        src_lm: Landmarks = inputs["source"]
        dst_lm: Landmarks = inputs["target"]
        spread: Landmarks | None = inputs.get("spread")
        w, h = image.size
        if len(src_lm.points) != len(dst_lm.points):
            raise self.error(InputError, f"source has {len(src_lm.points)} landmarks, target {len(dst_lm.points)}",
                             port="target")
        md = dict(image.metadata)
        guessed = guessed_status(src_lm, dst_lm)
        if guessed and p["guessed"] == "error":
            raise self.error(RenderError, f"the face was not seen on this frame (tracking: {guessed}); set "
                             "guessed to warp or pass-through to render it", param="guessed", frame=ctx.frame)
        reason = "no face found" if not (src_lm.found and dst_lm.found) or len(src_lm.points) == 0 else \
            f"tracking {guessed}, guessed: pass-through" if guessed and p["guessed"] == "pass-through" else None
        if reason:
            if guessed:
                events.count(PASSED_THROUGH)
            md["facewarp:trianglewarp"] = {"identity": True, "reason": reason}
            return {"image": Image(image.pixels.copy(), image.channels, image.colorspace, md),
                    "displacement": Displacement(np.zeros((h, w, 2), np.float32), border=p["border"]),
                    "normalized": Image(np.zeros((h, w, 2), np.float32), ("ndx", "ndy")),
                    "matte": Mask(np.zeros((h, w), np.float32))}
        src = src_lm.in_pixels(w, h)
        dst = dst_lm.in_pixels(w, h)
        if not (np.isfinite(src).all() and np.isfinite(dst).all()):
            raise self.error(InputError, "landmarks contain NaN/inf", port="target")
        if spread is not None:
            if len(spread.points) != len(dst):
                raise self.error(InputError, f"spread has {len(spread.points)} values for {len(dst)} landmarks",
                                 port="spread")
            std = np.asarray(spread.points[:, 0], np.float64)
        else:
            std = np.full(len(dst), p["default_std"])
        std = np.where(np.isfinite(std) & (std > 0), std, p["default_std"])

        def refuse(flipped):
            raise self.error(RenderError, f"{int(flipped.sum())} triangle(s) fold over (flipped source triangles), "
                             f"e.g. {np.flatnonzero(flipped)[:5].tolist()}", port="target", frame=ctx.frame)

        res = landmark_warp(image.pixels, src, dst, std, p["border_points"], border=p["border"], device=ctx.device,
                            on_foldover=refuse if p["foldover"] == "error" else None,
                            region=(p["grow"], p["feather"]) if p["region"] == "face" else None)
        flipped, nflip = res.flipped, int(res.flipped.sum())
        warped, field, norm, tri_id, faces = res.image, res.field, res.normalized, res.tri_id, res.faces
        region = res.region
        valid = np.ones((h, w), np.float32)
        if nflip:
            bad = np.zeros(len(faces) + 1, bool)
            bad[:-1] = flipped
            valid[bad[tri_id]] = 0.0  # tri_id -1 indexes the trailing False
            events.count(FOLDOVERS, nflip)  # in the run's summary and stats, not a line per frame
        md["facewarp:trianglewarp"] = {"triangles": int(len(faces)), "foldovers": nflip,
                                       "foldover_triangles": np.flatnonzero(flipped)[:64].tolist(),
                                       "dropped_landmarks": res.dropped, "region": region.info()}
        return {"image": Image(warped, image.channels, image.colorspace, md),
                "displacement": Displacement(field, valid, border=p["border"]),
                "normalized": Image(norm, ("ndx", "ndy")),
                "matte": Mask(region.matte)}

