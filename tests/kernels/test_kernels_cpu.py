"""CPU twins write every output element (buffers poisoned with NaN / sentinels first)."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.kernels import raster as ra
from facewarp.kernels import reswarp as rw
from facewarp.kernels import sampling as sa
from facewarp.kernels import triwarp as tw


def poisoned(shape, dtype=np.float32):
    a = np.empty(shape, dtype)
    a.fill(np.nan if np.dtype(dtype).kind == "f" else 123456)
    return a


@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_warp_and_reswarp_write_everything(mode, channels):
    rng = np.random.default_rng(mode)
    src = rng.random((40, 50, channels), dtype=np.float32)
    field = rng.normal(0, 40, (30, 35, 2)).astype(np.float32)
    out = poisoned((30, 35, channels))
    sa._warp_bilinear_cpu(src, field, mode, out)
    assert np.isfinite(out).all()
    low = rng.random((7, 9, channels), dtype=np.float32)
    out = poisoned(src.shape)
    rw._residual_cpu(src, low, out)
    assert np.isfinite(out).all()
    f_low = rng.normal(0, 5, (5, 6, 2)).astype(np.float32)
    out = poisoned(src.shape)
    rw._reswarp_add_cpu(src, low, f_low, np.float32(50 / 6), np.float32(8.0), mode, out)
    assert np.isfinite(out).all()


def test_raster_and_triwarp_write_everything():
    rng = np.random.default_rng(0)
    w, h = 64, 48
    xy = rng.uniform(-10, 70, (40, 2))
    faces = rng.integers(0, 40, (60, 3))
    depth = rng.uniform(1, 2, 40).astype(np.float32)
    attrs = rng.normal(0, 1, (40, 3))
    vx, vy, area, owned, counts, tris = ra._prepare(xy, faces.astype(np.int64), 0, w, h)
    zp = ra._planes(vx, vy, area, faces.astype(np.int64), depth.astype(np.float64)[:, None])
    ap = ra._planes(vx, vy, area, faces.astype(np.int64), attrs)
    for fill in (np.zeros((1, 1, 0), np.float32), rng.random((6, 8, 2), dtype=np.float32)):
        tri_id = poisoned((h, w), np.int32)
        values = poisoned((h, w, 3))
        cov = poisoned((h, w))
        ra._raster_cpu(vx, vy, area, owned, counts, tris, zp, ap, True, tri_id, values, cov, fill)
        assert np.isfinite(values).all() and ((tri_id >= -1) & (tri_id < 60)).all()
        np.testing.assert_array_equal(cov, (tri_id >= 0).astype(np.float32))
        values2, cov2 = poisoned((h, w, 3)), poisoned((h, w))  # without the id plane: the same
        ra._raster_cpu(vx, vy, area, owned, counts, tris, zp, ap, True, np.empty((0, 0), np.int32), values2, cov2,
                       fill)
        np.testing.assert_array_equal(values2, values)
        np.testing.assert_array_equal(cov2, cov)
    src = xy + rng.normal(0, 3, xy.shape)
    qp = ra._planes(vx, vy, area, faces.astype(np.int64), src)
    img = rng.random((h, w, 3), dtype=np.float32)
    out, field, oat, tid = poisoned((h, w, 3)), poisoned((h, w, 2)), poisoned((h, w, 3)), poisoned((h, w), np.int32)
    tw._triwarp_cpu(vx, vy, area, owned, counts, tris, qp, ap, img, 0, out, field, oat, tid)
    out2 = poisoned((h, w, 3))
    tw._triwarp_cpu(vx, vy, area, owned, counts, tris, qp, ap, img, 0, out2, field, oat, np.empty((0, 0), np.int32))
    assert np.array_equal(out2, out)
    for a in (out, field, oat):
        assert np.isfinite(a).all()
    assert ((tid >= -1) & (tid < 60)).all() and (tid == -1).any()  # random triangles leave holes


@pytest.mark.parametrize("ns,nd", [(8, 16), (1920, 3840), (7, 16), (128, 3840), (5, 5), (1, 4), (2, 4)])
@pytest.mark.parametrize("nc", [1, 2, 3, 4])
def test_upsample_row_is_the_two_tap_bilinear_formula(ns, nd, nc):
    # the row up-sampler (segment form, and its fixed-weight exact-2x form) against the
    # definition evaluated in float64: fine j sits at coarse (j + 0.5) ns / nd - 0.5, clamped
    rng = np.random.default_rng(ns * 31 + nd + nc)
    src = rng.standard_normal(ns * nc).astype(np.float32)
    i0, _, t = sa._axis_tables(nd, ns, np.float32(ns / nd))
    dst = np.full(nd * nc, np.nan, np.float32)
    sa.upsample_row(src, ns, dst, nd, nc, sa.axis_segments(i0, ns), t)
    s = src.astype(np.float64).reshape(ns, nc)
    got = dst.reshape(nd, nc)
    assert np.all(np.isfinite(dst))
    # the table form the CUDA twins share (float32 coordinates), evaluated in float64
    i1 = np.minimum(i0 + 1, ns - 1)
    assert np.abs(got - (s[i0] + t[:, None].astype(np.float64) * (s[i1] - s[i0]))).max() < 2e-6
    # and the exact definition; float32 coordinates are good to ~1e-5 coarse pixels at 30x
    u = np.clip((np.arange(nd) + 0.5) * ns / nd - 0.5, 0, ns - 1)
    a = np.floor(u).astype(int)
    b = np.minimum(a + 1, ns - 1)
    assert np.abs(got - (s[a] + (u - a)[:, None] * (s[b] - s[a]))).max() < 1e-4


def _push_pull_float64(v, w):
    """The push-pull definition, straight numpy in float64 (the reference for the fused kernels)."""
    import cv2

    levels = [(v * w[..., None], w)]
    while min(levels[-1][1].shape) > 1:
        vw, ww = levels[-1]
        nh, nw = max(1, (ww.shape[0] + 1) // 2), max(1, (ww.shape[1] + 1) // 2)
        levels.append((cv2.resize(vw, (nw, nh), interpolation=cv2.INTER_AREA).reshape(nh, nw, -1),
                       cv2.resize(ww, (nw, nh), interpolation=cv2.INTER_AREA).reshape(nh, nw)))
    vw, ww = levels[-1]
    filled = np.where(ww[..., None] > 0, vw / np.maximum(ww, 1e-12)[..., None], 0)
    for vw, ww in reversed(levels[:-1]):
        up = cv2.resize(filled, (ww.shape[1], ww.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(vw.shape)
        a = np.clip(ww, 0, 1)[..., None]
        filled = a * vw / np.maximum(ww, 1e-12)[..., None] + (1 - a) * up
    return filled


@pytest.mark.parametrize("shape,k", [((270, 480), 2), ((37, 51), 3), ((5, 1), 1)])
def test_smooth_fill_is_push_pull_times_the_distance_falloff(shape, k):
    import cv2

    from facewarp.kernels.fill import smooth_fill

    rng = np.random.default_rng(k)
    v = rng.standard_normal(shape + (k,)).astype(np.float32)
    cov = np.zeros(shape, np.float32)
    cov[shape[0] // 4: shape[0] // 2 + 1, : shape[1] // 2 + 1] = 1
    cov[-1, -1] = 1
    scale, sigma = 8.0, 40.0
    out = smooth_fill(v, cov, sigma, scale)
    ref = _push_pull_float64(v.astype(np.float64), cov.astype(np.float64))
    d = cv2.distanceTransform((cov == 0).astype(np.uint8), cv2.DIST_L2, 5).astype(np.float64)
    ref *= np.exp(-0.5 * (np.maximum(d * scale - 0.5 * scale, 0) / sigma) ** 2)[..., None]
    ref[cov > 0] = v[cov > 0]
    assert out.shape == v.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[cov > 0], v[cov > 0])  # covered cells keep their values exactly
    assert np.abs(out - ref).max() < 2e-5 * max(1.0, np.abs(ref).max())


def test_prefetch_hint_is_emitted_and_harmless():
    """The gather's software prefetch (kernels/_intrinsics.py): on x86 it must become a real
    prefetch instruction (else it is dead weight), and an address far past the array (what
    the last rows ask for) must neither fault nor change anything."""
    import platform

    from numba import njit

    from facewarp.kernels._intrinsics import prefetch

    @njit
    def touch_sum(a, ahead):
        s = np.float32(0)
        for i in range(a.size):
            prefetch(a, i + ahead)
            s += a[i]
        return s

    a = np.arange(1000, dtype=np.float32)
    assert touch_sum(a, 1 << 20) == a.sum()  # 4 MB past the end of a 4 kB array
    if platform.machine().lower() in ("x86_64", "amd64"):
        asm = touch_sum.inspect_asm(touch_sum.signatures[0])
        assert "prefetch" in asm


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("mode", [0, 1, 2])
def test_rgb_vector_gather_matches_per_channel_scalar(accumulate, mode):
    """``gather_row`` runs RGB four pixels at a time through the 4-lane intrinsic; one channel
    at a time takes the scalar path. Same samples to float rounding, on rows that mix inside
    and border footprints, a length that is not a multiple of 4, and the source's very last
    texel (the vector block reads one float past p11: it must fall back there, not read
    past the array)."""
    rng = np.random.default_rng(7 + mode)
    sh, sw, n = 9, 11, 23
    src = rng.random((sh, sw, 3), dtype=np.float32)
    qx = rng.uniform(-2, sw + 1, n).astype(np.float32)
    qy = rng.uniform(-2, sh + 1, n).astype(np.float32)
    qx[:8] = rng.uniform(0, sw - 1, 8)  # two whole blocks inside
    qy[:8] = rng.uniform(0, sh - 1, 8)
    qx[8:12] = sw - 1.5  # a block whose last footprint is the last texel
    qy[8:12] = sh - 1.5
    qx[13] = np.nan

    def run(s, nc):
        flat = np.ascontiguousarray(s).reshape(-1).copy()  # exactly sized: nothing after it
        idx = np.empty(n, np.int64)
        wx = np.empty(n, np.float32)
        wy = np.empty(n, np.float32)
        sa.prep_row(qx, qy, n, sw, sh, nc, idx, wx, wy)
        out = np.full(n * nc, 0.25, np.float32)
        sa.gather_row(flat, sw, sh, nc, mode, qx, qy, idx, wx, wy, n, out, 0, accumulate)
        return out.reshape(n, nc)

    rgb = run(src, 3)
    per_channel = np.concatenate([run(src[..., k:k + 1], 1) for k in range(3)], axis=1)
    finite = np.isfinite(per_channel)
    assert (np.isfinite(rgb) == finite).all()
    assert np.abs(rgb[finite] - per_channel[finite]).max() < 1e-6
    # and against a float64 statement of bilinear sampling for the inside footprints
    inside = (qx >= 0) & (qx < sw - 1) & (qy >= 0) & (qy < sh - 1)
    x0, y0 = np.floor(qx[inside]).astype(int), np.floor(qy[inside]).astype(int)
    ax, ay = (qx[inside] - x0)[:, None], (qy[inside] - y0)[:, None]
    s = src.astype(np.float64)
    ref = ((1 - ay) * ((1 - ax) * s[y0, x0] + ax * s[y0, x0 + 1])
           + ay * ((1 - ax) * s[y0 + 1, x0] + ax * s[y0 + 1, x0 + 1]))
    if accumulate:
        ref += 0.25
    assert np.abs(rgb[inside] - ref).max() < 1e-6
