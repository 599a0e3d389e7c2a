"""ExpressionEdit: keyframed expression controls applied on top of a fitted plate."""

from __future__ import annotations

import re

import numpy as np

from facewarp.core.errors import cut
from facewarp.face import flame as _flame
from facewarp.face import models
from facewarp.face import tracking as fm
from facewarp.face.params import make_params, outputs_from_params, params_to_arrays
from facewarp.graph import FacewarpError, Input, InputError, Node, NodeSchema, Output, Param, ValidationError
from facewarp.nodes.flame_fit import MODEL_PARAMS

JAW_OPEN_RAD = 0.35  # jaw_open = 1 opens the jaw by 0.35 rad (20 degrees)
POSE_CONTROLS = ("jaw_open", "head_yaw", "head_pitch", "head_roll", "gaze_x", "gaze_y")
GROUPS = {"smile": ("smile_l", "smile_r"), "blink": ("blink_l", "blink_r"),
          "brow_raise": ("brow_raise_l", "brow_raise_r")}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The range of every control, applied to each key's value times `amount` (an error outside it,
# at validation and when computing). Wide enough for any real performance, narrow enough that a
# typo (jaw_open=99, 1980 degrees) cannot tear the face apart: jaw_open -1..2 is 20 degrees of
# closing to 40 of opening; head and gaze rotations within 45 degrees (beyond that a 2D warp
# would need the hidden side of the head); expressions (named, groups, exprN) within 3 units -
# about 3 standard deviations of a FLAME component, ~27 mm of mouth corner for the default
# model's smile.
POSE_RANGES = {"jaw_open": (-1.0, 2.0), "head_yaw": (-45.0, 45.0), "head_pitch": (-45.0, 45.0),
               "head_roll": (-45.0, 45.0), "gaze_x": (-45.0, 45.0), "gaze_y": (-45.0, 45.0)}
EXPRESSION_RANGE = (-3.0, 3.0)
RANGES_DOC = ("Ranges (each key value times amount): jaw_open -1..2, head_yaw/head_pitch/head_roll and gaze_x/gaze_y "
              "-45..45, expressions and exprN -3..3; a value outside is an error.")


def control_range(name: str) -> tuple[float, float]:
    return POSE_RANGES.get(name, EXPRESSION_RANGE)


def range_problems(keys: dict[str, list[tuple[int, float]]], amount: float = 1.0) -> list[str]:
    """One message per control with a key outside its range (``control_range``)."""
    out = []
    for name, ks in keys.items():
        lo, hi = control_range(name)
        for frame, v in ks:
            if not lo <= v * amount <= hi:
                scaled = f" (times amount {amount:g}: {v * amount:g})" if amount != 1 else ""
                out.append(f"{name}={v:g} at frame {frame}{scaled} is outside [{lo:g}, {hi:g}]")
                break
    return out


def parse_keys(text: str) -> dict[str, list[tuple[int, float]]]:
    """``"1001: jaw_open=0.5, smile=0.2; 1010: jaw_open=0"`` -> {control: [(frame, value), ...]} sorted."""
    keys: dict[str, list[tuple[int, float]]] = {}
    for chunk in (c.strip() for c in (text or "").split(";")):
        if not chunk:
            continue
        if ":" not in chunk:
            raise ValueError(f"key '{cut(chunk)}' needs 'FRAME: control=value, ...'")
        frame_s, body = chunk.split(":", 1)
        frame_s = frame_s.strip()
        if not re.fullmatch(r"-?[0-9]{1,9}", frame_s):
            raise ValueError(f"key '{cut(chunk)}': '{cut(frame_s)}' is not a frame number")
        frame = int(frame_s)
        for item in (i.strip() for i in body.split(",")):
            if not item:
                continue
            if "=" not in item:
                raise ValueError(f"'{cut(item)}' at frame {frame} needs control=value")
            name, val = (s.strip() for s in item.split("=", 1))
            if not _NAME.match(name):
                raise ValueError(f"bad control name '{cut(name)}' at frame {frame}")
            try:
                v = float(val)
            except ValueError:
                raise ValueError(f"'{cut(name)}={cut(val)}' at frame {frame}: value is not a number") from None
            if not np.isfinite(v):
                raise ValueError(f"'{cut(name)}={cut(val)}' at frame {frame}: value must be finite")
            keys.setdefault(name, [])
            keys[name] = [k for k in keys[name] if k[0] != frame] + [(frame, v)]
    return {k: sorted(v) for k, v in keys.items()}


def value_at(keys: list[tuple[int, float]], frame: float, interpolation: str = "linear") -> float:
    """Held before the first and after the last key; linear, smooth (ease in/out) or step between."""
    fr = [k[0] for k in keys]
    vals = [k[1] for k in keys]
    if frame <= fr[0]:
        return vals[0]
    if frame >= fr[-1]:
        return vals[-1]
    i = int(np.searchsorted(fr, frame, side="right")) - 1
    if interpolation == "step":
        return vals[i]
    t = (frame - fr[i]) / (fr[i + 1] - fr[i])
    if interpolation == "smooth":
        t = t * t * (3 - 2 * t)
    return vals[i] + t * (vals[i + 1] - vals[i])


def control_targets(model: _flame.FaceModel, name: str) -> list[int]:
    """Expression components a control drives (raises KeyError for unknown names)."""
    names = list(model.expression_names)
    if name in GROUPS and all(n in names for n in GROUPS[name]):
        return [names.index(n) for n in GROUPS[name]]
    if name in names:
        return [names.index(name)]
    m = re.fullmatch(r"expr(\d+)", name)
    if m and int(m.group(1)) < model.n_expr:
        return [int(m.group(1))]
    raise KeyError(name)


def apply_controls(model, shape, expr, pose, values: dict[str, float]):
    import cv2

    expr = expr.copy()
    pose = pose.copy()
    for name, v in values.items():
        if name == "jaw_open":
            pose[2, 0] += JAW_OPEN_RAD * v
        elif name in ("head_yaw", "head_pitch", "head_roll"):
            axis = {"head_pitch": 0, "head_yaw": 1, "head_roll": 2}[name]
            aa = np.zeros(3)
            aa[axis] = np.radians(v)
            R = cv2.Rodrigues(aa.reshape(3, 1))[0] @ cv2.Rodrigues(pose[0].reshape(3, 1))[0]
            pose[0] = cv2.Rodrigues(R)[0].reshape(3)
        elif name in ("gaze_x", "gaze_y"):
            axis = 1 if name == "gaze_x" else 0
            pose[3:5, axis] += np.radians(v) * (1 if name == "gaze_x" else -1)
        else:
            for k in control_targets(model, name):
                expr[k] += v
    return shape, expr, pose


class ExpressionEdit(Node):
    version = 2  # outputs carry the tracking status (info["status"]); cached results of v1 do not
    schema = NodeSchema(
        type="ExpressionEdit",
        category="face",
        doc="Adds keyframed controls to fitted parameters. keys: 'FRAME: control=value, ...; FRAME: ...' e.g. "
            "'1001: jaw_open=0.5, smile=0.2; 1010: jaw_open=0'. Controls: jaw_open (1 = 20 degrees), head_yaw/"
            "head_pitch/head_roll and gaze_x/gaze_y (degrees), the model's named expressions (default model: smile, "
            "blink, brow_raise and their _l/_r halves, lip_funnel, lip_pucker, brow_lower, mouth_stretch, "
            "upper_lip_raise, lower_lip_depress, cheek_puff, lips_press, mouth_left) and exprN (component N, any "
            "model). Each control is held before its first and after its last key. " + RANGES_DOC,
        inputs=(Input("params", "FlameParams", "fitted parameters of the plate (FLAMEFit)"),),
        outputs=(
            Output("params", "FlameParams", "edited parameters"),
            Output("mesh", "Mesh", "edited mesh in the plate's camera"),
            Output("landmarks", "Landmarks", "edited landmarks in the plate"),
        ),
        params=MODEL_PARAMS + (
            Param("keys", "string", "", "keyframes 'FRAME: control=value, ...; FRAME: ...', see above. " + RANGES_DOC),
            Param("interpolation", "enum", "smooth", "between keys: linear, smooth (ease in/out) or step",
                  choices=("linear", "smooth", "step")),
            Param("amount", "float", 1.0, "multiplies every control", min=-10.0, max=10.0),
        ),
        time_dependent=True,
    )

    def planned_inputs(self, ctx):
        return models.model_files(self.param(ctx, "model"), self.param(ctx, "embedding"), own_only=True)

    def hash_extra(self, ctx, h):
        p = self.param_values(ctx)
        h.update(f"|{models.identity(p['model'], p['embedding'])}".encode())

    def _keys(self, p) -> dict[str, list[tuple[int, float]]]:
        try:
            keys = parse_keys(p["keys"])
        except ValueError as exc:
            raise self.error(ValidationError, str(exc), param="keys") from None
        bad = range_problems(keys, p["amount"])
        if bad:
            raise self.error(ValidationError, bad[0], param="keys")
        return keys

    def _check_names(self, names, model) -> None:
        for n in names:
            if n not in POSE_CONTROLS:
                try:
                    control_targets(model, n)
                except KeyError:
                    known = ", ".join(POSE_CONTROLS + tuple(GROUPS) + tuple(model.expression_names[:15]))
                    raise self.error(ValidationError, f"unknown control '{cut(n)}' for model '{model.name}' (known: {known}, "
                                     "exprN)", param="keys") from None

    def problems(self, ctx):
        out = super().problems(ctx)
        p = self.param_values(ctx)
        try:
            keys = parse_keys(p["keys"])
        except ValueError as exc:
            return out + [self.error(ValidationError, str(exc), param="keys")]
        out += [self.error(ValidationError, m, param="keys") for m in range_problems(keys, p["amount"])]
        if out or not keys:
            return out
        # Control names against the model the edit will use: its own `model`, else - the fitted
        # parameters' model is not known before rendering - the environment's or the default
        # one; then exprN is accepted for any N (the fitted model may have more components).
        own = bool(p["model"])
        try:
            model = models.load_model(*models.resolve(p["model"], p["embedding"]))
        except Exception:  # noqa: BLE001 - an unreadable model: the input check or the render names it
            return out
        names = [n for n in keys if own or not re.fullmatch(r"expr\d+", n)]
        try:
            self._check_names(names, model)
        except FacewarpError as exc:
            out.append(exc)
        return out

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        fp = inputs["params"]
        keys = self._keys(p)
        spec, emb = models.resolve(p["model"] or fp.model, p["embedding"])
        try:
            model = models.load_model(spec, emb)
        except _flame.ModelError as exc:
            raise self.error(InputError, str(exc), param="model") from None
        frame = ctx.frame if ctx.frame is not None else 0
        values = {n: p["amount"] * value_at(k, frame, p["interpolation"]) for n, k in keys.items()}
        self._check_names(values, model)
        shape, expr, pose = params_to_arrays(fp, model)
        shape, expr, pose = apply_controls(model, shape, expr, pose, values)
        status = fm.status_of(fp)
        out = make_params(fp.model, shape, expr, pose, fp.camera, fp.translation, dict(fp.info, edit=values, status=status))
        mesh, lms = outputs_from_params(model, out)
        fm.stamp_status(status, mesh, lms)  # an edit of a guessed frame is still a guess
        return {"params": out, "mesh": mesh, "landmarks": lms}
