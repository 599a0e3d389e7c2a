"""FLAMEFit: fit a FLAME-format face model to a shot's landmarks (identity shared, per-frame rest)."""

from __future__ import annotations

import numpy as np

from facewarp.face import fit as _fit
from facewarp.face import flame as _flame
from facewarp.face import models
from facewarp.face import tracking as fm
from facewarp.face.mouth import eye_axis, lip_residual
from facewarp.face.params import make_params, outputs_from_params
from facewarp.graph import Input, InputError, Node, NodeSchema, Output, Param, events

# The face model a face node reads; ExpressionEdit and Retarget declare the same two.
MODEL_PARAMS = (
    Param("model", "path", "", "FLAME .pkl (2020/2023/2023 Open), a .npz from `facewarp convert-flame`, or empty: "
          "$FACEWARP_FLAME, else the embedded default model"),
    Param("embedding", "path", "", "landmark embedding for a FLAME model (MediaPipe->FLAME .npz, or DECA's 68-point "
          "landmark_embedding.npy); empty: $FACEWARP_FLAME_EMBEDDING or the one stored in the .npz"),
)


class FLAMEFit(Node):
    version = 3  # v3: info lip_residual/eye_axis; v2: outputs carry the tracking status (info["status"])
    schema = NodeSchema(
        type="FLAMEFit",
        category="face",
        doc="Fits a FLAME-format model (real FLAME or the embedded default) to landmarks over the whole range: one "
            "identity (shape) for the shot, per-frame expression, global/jaw/eye rotation and camera "
            "(weak perspective, or pinhole with a fixed focal length), regularised, warm-started frame to frame "
            "(identity by L-BFGS on torch autograd gradients, then Levenberg-Marquardt per frame). Outputs the parameters (info: reprojection_px = mean landmark error in pixels, "
            "reprojection_iod_pct = the same in % of the inter-ocular distance, fit_ms), the mesh in camera space "
            "with the camera that projects it onto the plate (attribute plate_xy), and the fitted model's "
            "landmarks. All three carry the input landmarks' tracking status in info['status'] "
            "(found/interpolated/held); reprojection_iod_pct is a figure of --report. info['lip_residual'] holds "
            "the tracked minus fitted lip points and info['eye_axis'] the outer-eye-corner vector (pixels), which "
            "Retarget uses to carry lip motion the model cannot express.",
        inputs=(Input("landmarks", "Landmarks", "tracked landmarks (mediapipe478 or ibug68)"),),
        outputs=(
            Output("params", "FlameParams", "fitted parameters; info['reprojection_px'] per frame"),
            Output("mesh", "Mesh", "fitted mesh in camera space (OpenCV axes) + camera"),
            Output("landmarks", "Landmarks", "the model's landmarks projected into the plate"),
        ),
        params=MODEL_PARAMS + (
            Param("camera", "enum", "weak_perspective", "camera model", choices=("weak_perspective", "pinhole")),
            Param("focal", "float", 0.0, "pinhole focal length in pixels (0 = 1.5 x the longer plate side)", min=0.0, max=1e6),
            Param("shape_reg", "float", 1.0, "weight of the identity prior", min=0.0, max=1e6),
            Param("expr_reg", "float", 1.0, "weight of the expression prior", min=0.0, max=1e6),
            Param("noise", "float", 0.004, "expected landmark noise as a fraction of the face's landmark spread "
                  "(smaller = trust landmarks more than priors)", min=1e-5, max=1.0),
            Param("identity_frames", "int", 20, "frames (spread over the range) used to solve the identity", min=1, max=1000),
            Param("iterations", "int", 25, "Levenberg-Marquardt iterations per frame when tracking", min=1, max=1000),
            Param("fit_eyes", "bool", True, "fit eye rotations to the iris landmarks"),
        ),
        requires_sequence=True,
    )

    def planned_inputs(self, ctx):
        return models.model_files(self.param(ctx, "model"), self.param(ctx, "embedding"), own_only=False)

    def hash_extra(self, ctx, h):
        p = self.param_values(ctx)
        h.update(f"|{models.identity(p['model'], p['embedding'])}".encode())

    def compute_sequence(self, ctx, frames, fetch):
        p = self.param_values(ctx)
        spec, emb = models.resolve(p["model"], p["embedding"])
        try:
            model = models.load_model(spec, emb)
        except _flame.ModelError as exc:
            raise self.error(InputError, str(exc), param="model") from None
        lms = [fetch(f)["landmarks"] for f in frames]
        scheme = lms[0].scheme
        size = lms[0].image_size or (int(np.ceil(lms[0].points[:, 0].max())), int(np.ceil(lms[0].points[:, 1].max())))
        weights = []
        for lm in lms:
            c = np.asarray(lm.confidence, np.float64)
            weights.append(c / c.max() if c.max() > 0 else np.ones_like(c))
        cfg = _fit.FitConfig(camera=p["camera"], focal=p["focal"], noise=p["noise"], shape_reg=p["shape_reg"],
                             expr_reg=p["expr_reg"], identity_frames=p["identity_frames"], frame_iters=p["iterations"],
                             fit_eyes=p["fit_eyes"])
        try:
            res = _fit.Fitter(model, cfg).fit([lm.points for lm in lms], weights, size, scheme)
        except ValueError as exc:
            raise self.error(InputError, str(exc), port="landmarks") from None
        out = {}
        for i, f in enumerate(frames):
            cam, trans = _fit.camera_for(res, i, size)
            status = fm.status_of(lms[i])
            iod = fm.inter_ocular(lms[i].points, scheme) if scheme in ("mediapipe478", "ibug68") else 0.0
            pct = 100.0 * float(res.error_px[i]) / iod if iod > 0 else float("nan")
            info = {"reprojection_px": float(res.error_px[i]), "reprojection_iod_pct": pct,
                    "fit_ms": float(res.frame_ms[i]), "identity_frame": bool(i in res.info["identity_frames"]),
                    "status": status}
            fp = make_params(spec if spec != "default" else "default", res.shape, res.expr[i], res.pose[i], cam, trans, info)
            mesh, fitted = outputs_from_params(model, fp, scheme)
            if scheme in ("mediapipe478", "ibug68"):  # what the model could not follow of the lips (Retarget)
                fp.info["lip_residual"] = lip_residual(lms[i].points, fitted.points, scheme)
                fp.info["eye_axis"] = eye_axis(lms[i].points, scheme)
            fm.stamp_status(status, mesh, fitted)
            events.figure("fit_reprojection_iod_pct", pct, frame=f)
            out[f] = {"params": fp, "mesh": mesh, "landmarks": fitted}
        return out
