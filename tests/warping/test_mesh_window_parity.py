"""The windowed rasteriser and DisplacementRender's face mode against the whole frame, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.graph import Camera, Context, Evaluator, Graph, Mesh, Node, NodeSchema, Output
from facewarp.kernels.raster import rasterize
from facewarp.warping.mesh import mesh_region, render_displacement
from facewarp.warping.region import FaceRegion, confine, face_region


def bits(a):
    """Compare float arrays bit for bit (-0.0 != 0.0, NaN == NaN of the same payload)."""
    a = np.ascontiguousarray(a)
    return a.view(np.uint32) if a.dtype == np.float32 else a


def random_mesh(rng, w, h, nv=30, nt=50):
    # vertices on a 1/4 grid (edges through pixel centres: the top-left rule matters), some off
    # the frame; random faces: about half of them back-facing
    xy = (np.round(rng.uniform([-10, -10], [w + 10, h + 10], (nv, 2)) * 4) / 4).astype(np.float32)
    faces = rng.integers(0, nv, (nt, 3))
    depth = rng.choice(np.float32([1.0, 1.5, 2.0, 3.0]), nv)  # repeated keys: depth ties
    attrs = rng.normal(0, 3, (nv, 3)).astype(np.float32)
    return xy, faces, depth, attrs


def random_window(rng, w, h):
    kind = rng.integers(0, 5)
    if kind == 0:
        return 0, 0, w, h
    if kind == 1:  # touching the frame's edges
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        return (0, y0, x0 + 5, h) if rng.random() < 0.5 else (x0, 0, w, y0 + 3)
    x0, x1 = sorted(int(v) for v in rng.integers(0, w + 1, 2))
    y0, y1 = sorted(int(v) for v in rng.integers(0, h + 1, 2))
    return x0, y0, x1, y1


@pytest.mark.parametrize("seed", range(24))
def test_windowed_raster_is_the_whole_frame_raster_cropped(seed):
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(20, 50)), int(rng.integers(15, 40))
    xy, faces, depth, attrs = random_mesh(rng, w, h)
    cull = ("back", "none", "front")[seed % 3]
    fill = rng.normal(0, 1, (4, 6, 2)).astype(np.float32) if seed % 2 else None
    use_depth = depth if seed % 4 != 3 else None
    full = rasterize(xy, faces, w, h, attrs=attrs, depth=use_depth, cull=cull, device="cpu", fill=fill)
    assert (full.tri_id >= 0).any() and (full.tri_id < 0).any()
    for _ in range(6):
        x0, y0, x1, y1 = win = random_window(rng, w, h)
        scale = None
        if rng.random() < 0.5:  # a matte: zeros (-0.0 products of negative values) and fractions
            scale = rng.random((y1 - y0, x1 - x0), dtype=np.float32)
            scale[scale < 0.2] = 0.0
        nscaled = int(rng.integers(0, 4))
        r = rasterize(xy, faces, w, h, attrs=attrs, depth=use_depth, cull=cull, device="cpu", fill=fill,
                      window=win, scale=scale, scaled=nscaled)
        box = (slice(y0, y1), slice(x0, x1))
        inside = np.zeros((h, w), bool)
        inside[box] = True
        expect = full.values[box].copy()
        if scale is not None:
            expect[..., :nscaled] *= scale[..., None]
        np.testing.assert_array_equal(bits(r.values[box]), bits(expect))
        np.testing.assert_array_equal(bits(r.coverage[box]), bits(full.coverage[box]))
        np.testing.assert_array_equal(r.tri_id[box], full.tri_id[box])
        np.testing.assert_array_equal(bits(r.values[~inside]), 0)  # +0.0 outside the window
        np.testing.assert_array_equal(bits(r.coverage[~inside]), 0)
        assert (r.tri_id[~inside] == -1).all()
        r2 = rasterize(xy, faces, w, h, attrs=attrs, depth=use_depth, cull=cull, device="cpu", fill=fill,
                       window=win, scale=scale, scaled=nscaled, ids=False)
        assert r2.tri_id is None
        np.testing.assert_array_equal(bits(r2.values), bits(r.values))


def test_window_checks():
    xy = np.float32([[0, 0], [10, 0], [0, 10]])
    with pytest.raises(ValueError, match="window"):
        rasterize(xy, [[0, 1, 2]], 10, 10, window=(0, 0, 11, 10), device="cpu")
    with pytest.raises(ValueError, match="scale"):
        rasterize(xy, [[0, 1, 2]], 10, 10, window=(0, 0, 5, 5), scale=np.ones((4, 5), np.float32), device="cpu")


# --- DisplacementRender's face mode against the whole frame rendered then confined -------------

def grid_mesh(n, center, size, z=2.0, wobble=0.0, seed=0):
    rng = np.random.default_rng(seed)
    g = np.linspace(-size / 2, size / 2, n)
    X, Y = np.meshgrid(g, g)
    v = np.stack([X.ravel() + center[0], Y.ravel() + center[1], np.full(X.size, z)], 1)
    v[:, 2] += wobble * rng.normal(0, 1, len(v))
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            faces += [[a, a + n, a + 1], [a + 1, a + n, a + n + 1]]
    return v.astype(np.float32), np.array(faces, np.int32)


def reference(src, drv, w, h, cam, params, attribute):
    """DisplacementRender's face mode as it was: the whole frame rendered, then confined."""
    field, coverage, extra = render_displacement(src, drv, w, h, camera=cam, cull=params.get("cull", "back"),
                                                 fill=params.get("fill", "falloff"), attribute=attribute,
                                                 device="cpu")
    (ps, zs), (pd, zd) = (cam or src.camera).project(src.vertices), (cam or drv.camera).project(drv.vertices)
    seen = (np.asarray(zs) > 0) & (np.asarray(zd) > 0) if (cam or drv.camera).kind == "pinhole" else \
        np.ones(len(pd), bool)
    ps, pd = np.asarray(ps, np.float64)[seen], np.asarray(pd, np.float64)[seen]
    moved = np.linalg.norm(ps - pd, axis=1)
    region = face_region(np.concatenate([ps, pd]), w, h, grow=params.get("grow", 0.3),
                         feather=params.get("feather", 1.0), max_displacement=float(np.nanmax(moved, initial=0.0)))
    return confine(field, region), coverage, extra, region, field


class _Meshes(Node):
    schema = NodeSchema(type="_TestMeshesWindow", doc="test",
                        outputs=(Output("source", "Mesh"), Output("driving", "Mesh")))
    meshes = None

    def compute(self, ctx, inputs):
        return {"source": self.meshes[0], "driving": self.meshes[1]}


def node_outputs(src, drv, params):
    g = Graph()
    m = _Meshes("m")
    m.meshes = (src, drv)
    g.nodes["m"] = m
    g.add("DisplacementRender", "dr", params)
    g.connect("m.source", "dr.source")
    g.connect("m.driving", "dr.driving")
    return Evaluator(g).pull("dr", Context(frame=1, frames=(1,)))


CASES = {
    # weak perspective, a face in the middle of the frame
    "centre": dict(kind="weak", center=(0.0, 0.0), size=0.6, params={}),
    # boxes clipped by the frame's edges (corner, left side)
    "corner": dict(kind="weak", center=(-0.55, -0.4), size=0.5, params={}),
    "left": dict(kind="weak", center=(-0.75, 0.1), size=0.4, params={"fill": "zero"}),
    # a folded mesh (back faces) without culling, an attribute, a tight feather
    "folded": dict(kind="weak", center=(0.1, 0.05), size=0.5, wobble=0.4, params={"cull": "none", "feather": 0.2,
                                                                                 "attribute": "vertex_id"}),
    # a mesh turned away from the camera, drawn with cull=front
    "front": dict(kind="weak", center=(0.2, -0.1), size=0.5, flip=True, params={"cull": "front", "grow": 0.0}),
    # pinhole with driving vertices the source puts behind the camera: the driving mesh reaches
    # beyond the region's hull (the window grows to keep the coverage the whole frame's)
    "pinhole_behind": dict(kind="pinhole", center=(0.0, 0.0), size=0.8, n=5, params={"attribute": "depth",
                                                                                     "grow": 0.05}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_face_mode_equals_the_whole_frame_confined(case):
    c = CASES[case]
    w, h = 96, 64
    n = c.get("n", 9)
    v, f = grid_mesh(n, c["center"], c["size"], wobble=c.get("wobble", 0.0))
    if c.get("flip"):
        f = np.ascontiguousarray(f[:, ::-1])
    if c["kind"] == "weak":
        cam = Camera("weak_perspective", (60.0, 48.0, 32.0), (w, h))
        moved = v + np.float32([0.03, -0.02, 0.0])
    else:
        cam = Camera("pinhole", (70.0, 70.0, 48.0, 32.0), (w, h))
        moved = v + np.float32([0.05, 0.02, 0.0])
        moved[:n, 2] = -1.0  # the source's first row behind the camera: not in the region's hull
    src, drv = Mesh(moved, f, cam), Mesh(v, f, cam)
    params = c["params"]
    out = node_outputs(src, drv, params)
    name = params.get("attribute")
    attribute = None
    if name == "vertex_id":
        attribute = np.arange(len(v), dtype=np.float32)[:, None]
    elif name == "depth":
        attribute = cam.project(v)[1][:, None]
    field, coverage, extra, region, full = reference(src, drv, w, h, None, params, attribute)
    x0, y0, x1, y1 = region.box
    assert x1 > x0 and (coverage > 0).any()
    if case in ("corner", "left"):
        assert x0 == 0
    # face_region's matte may differ by an ulp between two calls on the same points (seen under
    # pytest: cv2's precise distance transform, not this code): confine with the node's own matte
    matte = out["matte"].alpha
    np.testing.assert_allclose(matte, region.matte, rtol=0, atol=1e-6)
    ys, xs = np.nonzero(matte > 0)
    own = FaceRegion(matte, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), region.margin, region.face_width)
    np.testing.assert_array_equal(bits(out["displacement"].field), bits(confine(full, own)))
    if (matte == region.matte).all():
        np.testing.assert_array_equal(bits(out["displacement"].field), bits(field))
    np.testing.assert_array_equal(bits(out["coverage"].alpha), bits(coverage))
    np.testing.assert_array_equal(bits(out["displacement"].valid), bits(coverage))
    if extra is None:
        assert out["attribute"] is None
    else:
        np.testing.assert_array_equal(bits(out["attribute"].pixels), bits(extra))
    if case == "pinhole_behind":  # the coverage reaches outside the region's box
        outside = np.ones((h, w), bool)
        outside[y0:y1, x0:x1] = False
        assert (coverage[outside] > 0).any()


def test_render_displacement_region_equals_confine_on_random_moves():
    rng = np.random.default_rng(3)
    w, h = 120, 80
    cam = Camera("weak_perspective", (70.0, 60.0, 40.0), (w, h))
    for k in range(8):
        v, f = grid_mesh(7, rng.uniform(-0.8, 0.8, 2), rng.uniform(0.2, 0.7), wobble=0.3 * (k % 2), seed=k)
        moved = v + rng.normal(0, 0.02, v.shape).astype(np.float32)
        src, drv = Mesh(moved, f, cam), Mesh(v, f, cam)
        region = mesh_region(src, drv, w, h, grow=float(rng.uniform(0, 0.6)), feather=float(rng.uniform(0.1, 1)))
        cull = ("back", "none")[k % 2]
        ref_f, ref_c, _ = render_displacement(src, drv, w, h, cull=cull, device="cpu")
        got_f, got_c, _ = render_displacement(src, drv, w, h, cull=cull, device="cpu", region=region)
        np.testing.assert_array_equal(bits(got_f), bits(confine(ref_f, region)))
        np.testing.assert_array_equal(bits(got_c), bits(ref_c))
