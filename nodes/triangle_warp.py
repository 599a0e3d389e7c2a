"""TriangleWarp: the global stage of wg-GAN (Geng et al. 2018) - a piecewise-affine warp
driven by landmarks over a Delaunay triangulation of the target landmarks plus frame-border
anchors, and the paper's normalised displacement map for WgGAN.

Deviations from the paper, on purpose:
  * the paper uses the confidence-aware warp of Averbuch-Elor et al.; we use the plain
    piecewise-affine map (exact on the landmarks) and leave confidences to the tracker;
  * the per-landmark standard deviation over the sequence comes from the LandmarkSpread
    sequence node (input 'spread'), so that this node stays per-frame and never holds a
    whole shot of 4K warps in memory; without it, ``default_std`` is used.
Algorithms live in ``facewarp.kernels.triwarp``; ``landmark_warp`` is this node as a plain function
(the WgGAN training-pair builder, ``nodes/_wg_data.py``, calls it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import Delaunay

from facewarp.graph import Displacement, Image, Input, InputError, Landmarks, Node, NodeSchema, Output, Param
from facewarp.graph.errors import RenderError
from facewarp.kernels.triwarp import flipped_triangles, triangle_warp


def border_anchors(width: int, height: int, per_side: int) -> np.ndarray:
    """Points on the frame border (continuous coordinates, corners included): with them the
    triangulation covers the whole picture [0, W] x [0, H]."""
    n = max(1, per_side)
    t = np.linspace(0.0, 1.0, n + 1)[:-1]
    top = np.stack([t * width, np.zeros_like(t)], 1)
    right = np.stack([np.full_like(t, width), t * height], 1)
    bottom = np.stack([width - t * width, np.full_like(t, height)], 1)
    left = np.stack([np.zeros_like(t), height - t * height], 1)
    return np.concatenate([top, right, bottom, left]).astype(np.float64)


def triangulate(target: np.ndarray, width: int, height: int, per_side: int = 8):
    """Delaunay triangulation of target landmarks + border anchors.
    Returns (points, faces, n_landmarks, dropped) - ``dropped`` lists landmarks that coincide
    with another point and are therefore not vertices of the triangulation."""
    anchors = border_anchors(width, height, per_side)
    pts = np.concatenate([np.asarray(target, np.float64), anchors])
    tri = Delaunay(pts)
    dropped = sorted({int(c[0]) for c in tri.coplanar if c[0] < len(target)}) if len(tri.coplanar) else []
    return pts, tri.simplices.astype(np.int64), len(target), dropped


@dataclass
class LandmarkWarpResult:
    image: np.ndarray  # H x W x C warped picture
    field: np.ndarray  # H x W x 2 backward map (pixels)
    normalized: np.ndarray  # H x W x 2 normalised displacement map
    tri_id: np.ndarray | None  # H x W triangle per pixel (only when some triangle folds over)
    flipped: np.ndarray  # per triangle: folds over
    faces: np.ndarray  # F x 3 triangulation (landmarks first, then border anchors)
    dropped: list  # landmarks that are not vertices (coincide with another point)


def landmark_warp(pixels: np.ndarray, src: np.ndarray, dst: np.ndarray, std: np.ndarray, per_side: int = 8,
                  border: str = "clamp", device: str = "auto",
                  on_foldover: Callable[[np.ndarray], None] | None = None) -> LandmarkWarpResult:
    """The TriangleWarp node as a plain function (training-pair builders call this too):
    Delaunay of the ``dst`` landmarks + frame-border anchors (which stay put), backward map
    dst -> src, and the normalised displacement ``(dst - src) / std`` per landmark (0 on the
    anchors) interpolated through the same triangulation. ``src``/``dst``: N x 2 continuous
    pixel coordinates of ``pixels``; ``std``: N positive values (LandmarkSpread).
    ``on_foldover(flipped)`` is called before the warp when some triangle folds over (it may
    raise, so that a refused frame costs no full-resolution warp)."""
    h, w = np.asarray(pixels).shape[:2]
    dst = np.asarray(dst, np.float64)
    pts, faces, n, dropped = triangulate(dst, w, h, per_side)
    src_all = np.concatenate([np.asarray(src, np.float64), pts[n:]])
    disp = np.zeros_like(pts)
    disp[:n] = (dst - src_all[:n]) / np.asarray(std, np.float64)[:, None]
    flipped = flipped_triangles(pts, src_all, faces)
    if on_foldover is not None and flipped.any():
        on_foldover(flipped)
    warped, field, norm, tri_id = triangle_warp(pixels, pts, src_all, faces, attrs=disp, border=border, device=device,
                                                want_ids=bool(flipped.any()))
    return LandmarkWarpResult(warped, field, norm, tri_id, flipped, faces, dropped)


def _scaled(lm: Landmarks, width: int, height: int) -> np.ndarray:
    pts = lm.points.astype(np.float64)
    if lm.image_size is not None and tuple(lm.image_size) != (width, height):
        pts = pts * np.array([width / lm.image_size[0], height / lm.image_size[1]])
    return pts


class TriangleWarp(Node):
    schema = NodeSchema(
        type="TriangleWarp",
        category="warp",
        doc="Piecewise-affine landmark warp (wg-GAN global stage): Delaunay triangulation of the target "
            "landmarks plus frame-border anchors (which stay put), backward map from target to source. "
            "Outputs the warped image, its Displacement, and the normalised displacement map (each "
            "landmark's displacement target - source divided by its std over the shot, from the optional "
            "'spread' input, interpolated through the same triangulation). Fold-overs (triangles whose source "
            "is flipped or degenerate) are reported: 'mark' zeroes the Displacement's validity there and "
            "lists them in the image metadata, 'error' stops the render.",
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
        ),
        params=(
            Param("border_points", "int", 8, "anchors per frame side (fixed points)", min=1, max=256),
            Param("border", "enum", "clamp", "sampling outside the image", choices=("clamp", "zero", "reflect")),
            Param("foldover", "enum", "mark", "what to do with flipped triangles", choices=("mark", "error")),
            Param("default_std", "float", 1.0, "std (pixels) used when 'spread' is not connected",
                  min=1e-6, max=1e6),
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
        if not (src_lm.found and dst_lm.found) or len(src_lm.points) == 0:
            md["facewarp:trianglewarp"] = {"identity": True, "reason": "no face found"}
            return {"image": Image(image.pixels.copy(), image.channels, image.colorspace, md),
                    "displacement": Displacement(np.zeros((h, w, 2), np.float32), border=p["border"]),
                    "normalized": Image(np.zeros((h, w, 2), np.float32), ("ndx", "ndy"))}
        src = _scaled(src_lm, w, h)
        dst = _scaled(dst_lm, w, h)
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
                            on_foldover=refuse if p["foldover"] == "error" else None)
        flipped, nflip = res.flipped, int(res.flipped.sum())
        warped, field, norm, tri_id, faces = res.image, res.field, res.normalized, res.tri_id, res.faces
        valid = np.ones((h, w), np.float32)
        if nflip:
            bad = np.zeros(len(faces) + 1, bool)
            bad[:-1] = flipped
            valid[bad[tri_id]] = 0.0  # tri_id -1 indexes the trailing False
            warnings.warn(f"TriangleWarp '{self.name}': {nflip} fold-over triangle(s); marked invalid", stacklevel=2)
        md["facewarp:trianglewarp"] = {"triangles": int(len(faces)), "foldovers": nflip,
                                       "foldover_triangles": np.flatnonzero(flipped)[:64].tolist(),
                                       "dropped_landmarks": res.dropped}
        return {"image": Image(warped, image.channels, image.colorspace, md),
                "displacement": Displacement(field, valid, border=p["border"]),
                "normalized": Image(norm, ("ndx", "ndy"))}
