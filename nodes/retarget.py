"""Retarget: carry a driving performance (relative to its neutral frame) onto a target face."""

from __future__ import annotations

import numpy as np

from facewarp.face import flame as _flame
from facewarp.face import models
from facewarp.face import tracking as fm
from facewarp.face.mouth import carry_lip_residual, eye_axis, lip_indices, opening
from facewarp.face.params import make_params, outputs_from_params, params_to_arrays
from facewarp.graph import Camera, Input, InputError, Node, NodeSchema, Output, Param, RenderError, ValidationError
from facewarp.nodes.flame_fit import MODEL_PARAMS


def _R(aa):
    import cv2

    return cv2.Rodrigues(np.asarray(aa, np.float64).reshape(3, 1))[0]


def _aa(R):
    import cv2

    return cv2.Rodrigues(np.asarray(R, np.float64))[0].reshape(3)


def retarget_params(model, target, driving, neutral, expression_scale=1.0, follow_pose=True, follow_translation=True):
    """Arrays (shape, expr, pose, camera params, translation) for the target driven by ``driving``.

    expression: target + scale x (driving - neutral); every joint rotation: R_d R_n^T R_t (the
    driving rotation relative to its neutral frame, applied on top of the target's; the global
    joint only with ``follow_pose``); camera: weak perspective scale x s_d/s_n and offsets moved by
    the driving offset change in target pixels; pinhole translation moved by t_d - t_n.
    """
    ts, te, tp = params_to_arrays(target, model)
    _, de, dp = params_to_arrays(driving, model)
    _, ne, npose = params_to_arrays(neutral, model)
    expr = te + expression_scale * (de - ne)
    pose = tp.copy()
    for j in range(len(pose)):
        if j == 0 and not follow_pose:
            continue
        pose[j] = _aa(_R(dp[j]) @ _R(npose[j]).T @ _R(tp[j]))
    cam = target.camera
    trans = np.asarray(target.translation, np.float64).copy()
    if cam.kind == "weak_perspective" and neutral.camera.kind == "weak_perspective":
        s_t, tx_t, ty_t = cam.params
        s_d, tx_d, ty_d = driving.camera.params
        s_n, tx_n, ty_n = neutral.camera.params
        k = s_t / s_n
        params = (s_t * s_d / s_n, tx_t + k * (tx_d - tx_n), ty_t + k * (ty_d - ty_n)) if follow_translation else \
            (s_t * s_d / s_n, tx_t, ty_t)
        cam = Camera(cam.kind, tuple(float(v) for v in params), cam.image_size)
    elif follow_translation:
        trans = trans + np.asarray(driving.translation, np.float64) - np.asarray(neutral.translation, np.float64)
    return ts, expr, pose, cam, trans


def _mouth_gap(model, params) -> float:
    """Inner-lip opening of fitted parameters (upper to lower inner-lip midpoint; with FLAMEFit's lip
    residual, of the tracked lips), in inter-ocular distances of the same face."""
    _, lms = outputs_from_params(model, params)
    pts, scheme = np.array(lms.points, np.float64), lms.scheme
    residual = params.info.get("lip_residual")
    if residual is not None and len(residual) == len(lip_indices(scheme)):  # the tracked lips, not the model's
        pts[list(lip_indices(scheme))] += np.asarray(residual, np.float64)
    return opening(pts)


class Retarget(Node):
    version = 3  # v3: neutral=mouth_closed, lip_detail; v2: outputs carry the tracking status (info["status"]); cached results of v1 do not
    schema = NodeSchema(
        type="Retarget",
        category="face",
        doc="Target identity + the driving performance's expression, jaw/eye/head rotation and camera motion taken "
            "relative to the driving neutral frame -> the driving mesh for the target and its landmarks in the "
            "target plate (inputs for TriangleWarp and DisplacementRender). Evaluated over the range (needs the "
            "neutral frame).",
        inputs=(
            Input("driving", "FlameParams", "fitted driving performance (FLAMEFit)"),
            Input("target", "FlameParams", "fitted target face (FLAMEFit on the target plate)"),
        ),
        outputs=(
            Output("params", "FlameParams", "retargeted parameters"),
            Output("mesh", "Mesh", "driving mesh for the target, in the target's camera"),
            Output("landmarks", "Landmarks", "its landmarks in the target plate"),
        ),
        params=MODEL_PARAMS + (
            Param("neutral", "enum", "frame", "the driving neutral: 'frame' (neutral_frame), or 'mouth_closed': the "
                  "driving frame of the range whose fitted inner lips are closest (a clip that starts mid-sentence "
                  "would otherwise make every later opening look smaller)", choices=("frame", "mouth_closed")),
            Param("neutral_frame", "int", -1, "driving frame taken as neutral when neutral=frame (-1 = first frame of "
                  "the range; otherwise a frame of the range)"),
            Param("target_frame", "int", -1, "frame of the target input to use for every frame (a frame of the range; "
                  "the target's tracking and fit still run over the range: for a still target photo, a FrameHold "
                  "on its FLAMEFit params runs them once); -1 = the target input at the frame being evaluated"),
            Param("expression_scale", "float", 1.0, "multiplies the driving expression change: 0 = none, 1 = as "
                  "performed, up to 3x exaggerated (or inverted down to -3); outside -3..3 is an error",
                  min=-3.0, max=3.0),
            Param("lip_detail", "float", 1.0, "add this much of the driving lip motion the face model cannot express "
                  "(FLAMEFit's tracked-minus-fitted lip points, their change since the neutral frame, mapped onto the "
                  "target face) to the output landmarks; 0 = the model alone. The mesh output is the model's",
                  min=0.0, max=2.0),
            Param("follow_pose", "bool", True, "apply the driving head rotation change"),
            Param("follow_translation", "bool", True, "apply the driving head translation/scale change"),
            Param("scheme", "enum", "model", "landmark scheme of the output", choices=("model", "mediapipe478", "ibug68")),
        ),
        requires_sequence=True,
    )

    def planned_inputs(self, ctx):
        return models.model_files(self.param(ctx, "model"), self.param(ctx, "embedding"), own_only=True)

    def problems(self, ctx):
        out = super().problems(ctx)
        frames = ctx.frames or ((ctx.frame,) if ctx.frame is not None else ())
        for name in ("neutral_frame", "target_frame"):
            f = self.param(ctx, name)
            if f != -1 and frames and f not in frames:
                out.append(self.error(ValidationError, f"frame {f} is outside the range being rendered "
                                      f"({min(frames)}-{max(frames)}); use -1 or a frame of the range", param=name))
        return out

    def hash_extra(self, ctx, h):
        p = self.param_values(ctx)
        h.update(f"|{models.identity(p['model'], p['embedding'])}".encode())

    def compute_sequence(self, ctx, frames, fetch):
        p = self.param_values(ctx)
        tf = p["target_frame"]
        if tf != -1 and tf not in frames:
            raise self.error(RenderError, f"target frame {tf} is outside the range being evaluated "
                             f"({frames[0]}-{frames[-1]})", param="target_frame")
        held = fetch(tf)["target"] if tf != -1 else None
        spec, emb = models.resolve(p["model"] or (held or fetch(frames[0])["target"]).model, p["embedding"])
        try:
            model = models.load_model(spec, emb)
        except _flame.ModelError as exc:
            raise self.error(InputError, str(exc), param="model") from None
        if p["neutral"] == "mouth_closed":
            nf = min(frames, key=lambda f: _mouth_gap(model, fetch(f)["driving"]))
        else:
            nf = frames[0] if p["neutral_frame"] == -1 else p["neutral_frame"]
        if nf not in frames:
            raise self.error(RenderError, f"neutral frame {nf} is outside the range being evaluated "
                             f"({frames[0]}-{frames[-1]})", param="neutral_frame")
        neutral = fetch(nf)["driving"]
        out = {}
        for f in frames:
            ins = dict(fetch(f))
            if held is not None:
                ins["target"] = held
            ts, e, pose, cam, trans = retarget_params(model, ins["target"], ins["driving"], neutral,
                                                      p["expression_scale"], p["follow_pose"], p["follow_translation"])
            # As good as the worse of the two tracks it is made from (not counting the neutral
            # frame's: one guessed neutral would mark every frame of the shot).
            status = fm.worse_status(fm.status_of(ins["target"]), fm.status_of(ins["driving"]))
            fp = make_params(ins["target"].model, ts, e, pose, cam, trans, {"neutral_frame": nf, "status": status})
            mesh, lms = outputs_from_params(model, fp, None if p["scheme"] == "model" else p["scheme"])
            res_f, res_n = ins["driving"].info.get("lip_residual"), neutral.info.get("lip_residual")
            if p["lip_detail"] > 0 and res_f is not None and res_n is not None and \
                    len(res_f) == len(lip_indices(lms.scheme)) == len(res_n):
                lms.points = carry_lip_residual(lms.points, lms.scheme, res_f, res_n, ins["driving"].info["eye_axis"],
                                                eye_axis(lms.points, lms.scheme),
                                                p["lip_detail"] * p["expression_scale"])
            fm.stamp_status(status, mesh, lms)
            out[f] = {"params": fp, "mesh": mesh, "landmarks": lms}
        return out
