"""Rasteriser and DisplacementRender against an exact (rational arithmetic) reference."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from facewarp.core.conventions import signed_area_2x
from facewarp.graph import Camera, Context, Evaluator, Graph, Mesh, Node, NodeSchema, Output
from facewarp.kernels.raster import rasterize
from facewarp.warping.mesh import render_displacement


def reference_raster(xy, faces, depth, width, height, cull):
    """Slow exact rasteriser: Fractions, the D3D top-left rule stated geometrically
    (top edge: horizontal with the third vertex below; left edge: not horizontal with the
    triangle's interior to its right), smallest exact depth wins, ties -> smaller index."""
    P = [(Fraction(float(x)), Fraction(float(y))) for x, y in np.asarray(xy, np.float32)]
    Z = [Fraction(float(z)) for z in np.asarray(depth, np.float32)]
    ids = np.full((height, width), -1)
    zbest = {}
    for t, (a, b, c) in enumerate(faces):
        A, B, C = P[a], P[b], P[c]
        area = (B[0] - A[0]) * (C[1] - A[1]) - (B[1] - A[1]) * (C[0] - A[0])
        if area == 0 or (cull == "back" and area > 0) or (cull == "front" and area < 0):
            continue
        edges = [(B, C, A), (C, A, B), (A, B, C)]  # edge k opposite vertex k, with the third vertex

        def owns(p, q, r):
            if p[1] == q[1]:
                return r[1] > p[1]  # horizontal, third vertex below (y down): top edge
            x_on = p[0] + (r[1] - p[1]) * (q[0] - p[0]) / (q[1] - p[1])
            return r[0] > x_on  # interior to the right: left edge

        for i in range(height):
            for j in range(width):
                px, py = Fraction(2 * j + 1, 2), Fraction(2 * i + 1, 2)
                lam = []
                inside = True
                for (p, q, r) in edges:
                    e = (q[0] - p[0]) * (py - p[1]) - (q[1] - p[1]) * (px - p[0])
                    e_r = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
                    s = e / e_r  # barycentric of the opposite vertex
                    if s < 0 or (s == 0 and not owns(p, q, r)):
                        inside = False
                        break
                    lam.append(s)
                if not inside:
                    continue
                z = lam[0] * Z[a] + lam[1] * Z[b] + lam[2] * Z[c]
                cur = zbest.get((i, j))
                if cur is None or z < cur[0]:
                    zbest[(i, j)] = (z, t)
                    ids[i, j] = t
    return ids, zbest


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cull", ["back", "none"])
def test_raster_matches_exact_reference_on_random_meshes(seed, cull):
    rng = np.random.default_rng(seed)
    w, h = 24, 20
    nv = 14
    # coordinates on a 1/4 grid so that edges pass exactly through pixel centres often
    xy = (rng.integers(-8, 4 * w + 8, (nv, 2)) / 4.0).astype(np.float32)
    xy[:, 1] *= h / w
    xy = (np.round(xy * 4) / 4).astype(np.float32)
    faces = rng.integers(0, nv, (16, 3))
    depth = rng.uniform(1.0, 5.0, nv).astype(np.float32)
    r = rasterize(xy, faces, w, h, attrs=np.arange(nv, dtype=np.float32), depth=depth, cull=cull, device="cpu")
    ids, zbest = reference_raster(xy, faces, depth, w, h, cull)
    np.testing.assert_array_equal(r.tri_id >= 0, ids >= 0)  # coverage, exactly
    for (i, j), (z, t) in zbest.items():
        if r.tri_id[i, j] != t:  # only acceptable for a float32 depth tie with the exact winner
            tt = r.tri_id[i, j]
            a, b, c = faces[tt]
            pts = xy[[a, b, c]].astype(np.float64)
            p = np.array([j + 0.5, i + 0.5])
            A = signed_area_2x(pts[0], pts[1], pts[2])
            lam = [signed_area_2x(pts[1], pts[2], p) / A, signed_area_2x(pts[2], pts[0], p) / A]
            lam.append(1 - lam[0] - lam[1])
            zt = lam[0] * depth[a] + lam[1] * depth[b] + lam[2] * depth[c]
            assert abs(zt - float(z)) < 1e-5, (i, j)


def test_shared_edges_cover_every_pixel_exactly_once():
    # a grid of front-facing triangles whose edges run through many pixel centres
    n = 7
    g = np.linspace(0, 28, n)
    X, Y = np.meshgrid(g, g)
    xy = np.stack([X.ravel(), Y.ravel()], 1).astype(np.float32)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            faces += [[a, a + n, a + 1], [a + 1, a + n, a + n + 1]]
    faces = np.array(faces)
    assert (signed_area_2x(xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]) < 0).all()  # front faces
    counts = np.zeros((28, 28), int)
    for t in range(len(faces)):
        r = rasterize(xy, faces[t:t + 1], 28, 28, cull="back", device="cpu")
        counts += r.tri_id >= 0
    assert (counts == 1).all()
    # reversed winding = back faces: culled
    assert (rasterize(xy, faces[:, ::-1], 28, 28, cull="back", device="cpu").tri_id < 0).all()


def test_depth_order_nearer_wins_regardless_of_order():
    xy = np.array([[2, 2], [2, 18], [18, 2], [2, 2], [2, 18], [18, 2]], np.float32)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    for near in (0, 1):
        depth = np.array([5.0] * 3 + [5.0] * 3, np.float32)
        depth[3 * near:3 * near + 3] = 1.0
        r = rasterize(xy, faces, 20, 20, attrs=np.arange(6, dtype=np.float32), depth=depth, cull="none", device="cpu")
        covered = r.tri_id >= 0
        assert covered.sum() > 50 and (r.tri_id[covered] == near).all()


def _grid_mesh(n=12, z=2.0, size=1.0):
    g = np.linspace(-size / 2, size / 2, n)
    X, Y = np.meshgrid(g, g)
    v = np.stack([X.ravel(), Y.ravel(), np.full(X.size, z)], 1).astype(np.float32)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            faces += [[a, a + n, a + 1], [a + 1, a + n, a + n + 1]]
    return v, np.array(faces, np.int32)


@pytest.mark.parametrize("kind", ["pinhole", "weak_perspective"])
def test_translated_mesh_gives_constant_field_inside(kind):
    v, f = _grid_mesh()
    cam = Camera("pinhole", (200.0, 200.0, 80.0, 60.0), (160, 120)) if kind == "pinhole" else \
        Camera("weak_perspective", (100.0, 80.0, 60.0), (160, 120))
    drv = Mesh(v, f, cam)
    shift = np.array([0.07, -0.04, 0.0], np.float32)
    src = Mesh(v + shift, f, cam)
    field, cov, _ = render_displacement(src, drv, 160, 120, fill="falloff", device="cpu")
    ps, _ = cam.project(src.vertices)
    pd, _ = cam.project(drv.vertices)
    expect = (ps - pd)[0]
    inside = cov > 0
    assert inside.sum() > 1000
    assert np.abs(field[inside] - expect).max() < 1e-4
    # outside: continuous at the border, decaying to ~0 far away
    ring = np.zeros_like(inside)
    ys, xs = np.nonzero(inside)
    ring[ys.min() - 2, xs.min():xs.max()] = True
    assert np.abs(field[ring] - expect).max() < 0.15 * np.abs(expect).max()
    assert np.abs(field[0, 0]).max() < np.abs(expect).max()


class _Meshes(Node):
    schema = NodeSchema(type="_TestMeshes", doc="test", outputs=(Output("source", "Mesh"), Output("driving", "Mesh")))
    meshes = None

    def compute(self, ctx, inputs):
        return {"source": self.meshes[0], "driving": self.meshes[1]}


def test_node_renders_attribute_and_coverage():
    v, f = _grid_mesh(8)
    cam = Camera("weak_perspective", (60.0, 40.0, 30.0), (80, 60))
    drv = Mesh(v, f, cam, attributes={"code": np.stack([v[:, 0], v[:, 1] * 2], 1)})
    src = Mesh(v * 1.1, f, cam)
    g = Graph()
    m = _Meshes("m")
    m.meshes = (src, drv)
    g.nodes["m"] = m
    g.add("DisplacementRender", "dr", {"attribute": "code"})
    g.connect("m.source", "dr.source")
    g.connect("m.driving", "dr.driving")
    out = Evaluator(g).pull("dr", Context(frame=1, frames=(1,)))
    cov = out["coverage"].alpha
    assert out["displacement"].field.shape == (60, 80, 2) and cov.shape == (60, 80)
    np.testing.assert_array_equal(out["displacement"].valid, cov)
    att = out["attribute"].pixels
    assert att.shape == (60, 80, 2) and out["attribute"].channels == ("code0", "code1")
    # the attribute is affine on the (planar) mesh: u = 60 x + 40, v = 60 y + 30, code = (x, 2 y)
    ys, xs = np.nonzero(cov > 0)
    np.testing.assert_allclose(att[ys, xs, 0], (xs + 0.5 - 40) / 60, atol=1e-5)
    np.testing.assert_allclose(att[ys, xs, 1], 2 * (ys + 0.5 - 30) / 60, atol=1e-5)


def test_non_finite_vertices_and_vertices_behind_the_camera_are_dropped():
    xy = np.array([[2, 2], [2, 18], [18, 2], [np.nan, 5], [1e30, -1e30], [10, 10]], np.float32)
    faces = np.array([[0, 1, 2], [3, 1, 2], [4, 5, 0]])
    r = rasterize(xy, faces, 20, 20, cull="none", device="cpu")
    assert set(np.unique(r.tri_id)) == {-1, 0}
    v, f = _grid_mesh(6, z=2.0)
    v[0, 2] = -1.0  # one vertex behind a pinhole camera
    cam = Camera("pinhole", (50.0, 50.0, 20.0, 20.0), (40, 40))
    field, cov, _ = render_displacement(Mesh(v, f, cam), Mesh(v, f, cam), 40, 40, device="cpu")
    assert np.isfinite(field).all() and cov.sum() > 100


def test_builtin_normals_attribute_points_at_the_camera():
    v, f = _grid_mesh(6, z=2.0)
    cam = Camera("weak_perspective", (20.0, 20.0, 20.0), (40, 40))
    from facewarp.warping.mesh import vertex_normals

    n = vertex_normals(v, f)
    assert np.allclose(n, [0, 0, -1], atol=1e-6)  # front faces: towards the camera (-z)
    _, cov, att = render_displacement(Mesh(v, f, cam), Mesh(v, f, cam), 40, 40, attribute=n, device="cpu")
    assert np.allclose(att[cov > 0], [0, 0, -1], atol=1e-5)


def test_node_rejects_different_topologies():
    from facewarp.graph import InputError

    v, f = _grid_mesh(6)
    cam = Camera("weak_perspective", (20.0, 20.0, 20.0), (40, 40))
    g = Graph()
    m = _Meshes("m")
    m.meshes = (Mesh(v, f[:-1], cam), Mesh(v, f, cam))
    g.nodes["m"] = m
    g.add("DisplacementRender", "dr")
    g.connect("m.source", "dr.source")
    g.connect("m.driving", "dr.driving")
    with pytest.raises(InputError, match="topology"):
        Evaluator(g).pull("dr", Context(frame=1, frames=(1,)))
