"""Do the CPU kernels of this tree give the same bits as a baseline revision's?

For speed work on the kernels, which must not change a pixel: every CPU kernel is run on fixed
inputs (frames large enough for the threaded path; border modes; 1, 3 and 4 channels; NaN in
the field; windows, scales, fills and id planes) in this tree and in ``git worktree`` of the
baseline, each in a fresh process that compiles every kernel afresh (an empty NUMBA_CACHE_DIR of
its own), and every output is compared byte for byte (NaN patterns and -0.0 included). Exit
status 1 when any output differs, or when the two trees return different outputs.

Both sides compile afresh because numba's code loaded from its cache is not always bit for bit
the code it runs right after compiling: ResWarp's residual differs in the last bit on ~0.2 % of
its samples between the two (measured 2026-12-02 with numba 0.68.1 on an AVX-512 CPU).

    python benchmarks/check_kernels_identical.py --baseline HEAD~1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from facewarp.benchmarks.bench_render import HERE, _worktree

_OUTPUTS = r'''
import sys, numpy as np, cv2
from facewarp.kernels import sampling, reswarp as rw, raster, triwarp, fill, distance
from facewarp.face import quality
from facewarp.warping.landmark import triangulate
rng = np.random.default_rng(0)
H, W = 600, 904
img = rng.random((H, W, 3), np.float32)
img4 = rng.random((H, W, 4), np.float32)
f = cv2.GaussianBlur(rng.standard_normal((H, W, 2)).astype(np.float32), (0, 0), 20) * 60
f[10:20, 10:40] = np.nan
R = {}
for b in ("clamp", "zero", "reflect"):
    R[f"warp_{b}"] = sampling.warp_bilinear(img, f, b, device="cpu")
R["warp4"] = sampling.warp_bilinear(img4, f, "clamp", device="cpu")
R["warp1"] = sampling.warp_bilinear(img[..., 0], f, "clamp", device="cpu")
R["resample"] = sampling.resample_bilinear(img, 1300, 777)
R["resample_field"] = sampling.resample_field(f[:50, :70].copy(), 1200, 800)
R["area"] = sampling.area_downsample(img, 300, 211)
R["octave"] = sampling.reduce_octave(img, device="cpu")
R["aa_down"] = sampling.antialiased_downsample(img, 301, 200)
low = sampling.area_downsample(img, 128, 96)
R["residual"] = rw.residual(img, low, device="cpu").copy()
fl = cv2.GaussianBlur(rng.standard_normal((96, 128, 2)).astype(np.float32), (0, 0), 5) * 6
for ms in (False, True):
    R[f"reswarp_{ms}"] = rw.reswarp(img, low, fl, multiscale=ms, device="cpu").copy()
    R[f"decompose_{ms}"] = np.concatenate([a.ravel() for a in rw.decompose(img, (128, 96), ms, device="cpu")])
xy = rng.uniform(-50, 950, (400, 2)).astype(np.float32)
pts, faces, n, _ = triangulate(xy.astype(np.float64), W, H, 4)
attrs = rng.standard_normal((len(pts), 3)).astype(np.float32)
depth = rng.random(len(pts)).astype(np.float32)
r = raster.rasterize(pts.astype(np.float32), faces, W, H, attrs=attrs, depth=depth, cull="none", device="cpu")
R["raster_ids"], R["raster_vals"], R["raster_cov"] = r.tri_id, r.values, r.coverage
fillc = rng.random((60, 91, 3)).astype(np.float32)
sc = rng.random((400, 500)).astype(np.float32)
r = raster.rasterize(pts.astype(np.float32), faces, W, H, attrs=attrs, depth=depth, cull="none", device="cpu",
                     fill=fillc, window=(100, 80, 600, 480), scale=sc, scaled=2, ids=False)
R["rasterw_vals"], R["rasterw_cov"] = r.values, r.coverage
r = raster.rasterize(pts.astype(np.float32), faces, W, H, attrs=attrs[:, :2], depth=depth, device="cpu",
                     fill=fillc[..., :2], window=(100, 80, 600, 480), scale=sc, scaled=2, ids=True)
R["rasterw2_vals"], R["rasterw2_cov"], R["rasterw2_ids"] = r.values, r.coverage, r.tri_id
src = pts + rng.normal(0, 3, pts.shape)
R["tw_img"], R["tw_f"], R["tw_a"], R["tw_t"] = triwarp.triangle_warp(img, pts, src, faces, attrs=attrs, device="cpu")
R["tf_f"], R["tf_a"], R["tf_t"] = triwarp.triangle_field(pts, src, faces, W, H, attrs=attrs, window=(100, 80, 600, 480),
                                                         device="cpu", scale=sc, full_frame=True)
for ids in (False, True):
    out = triwarp.triangle_warp_confined(img, pts, src, faces, (100, 80, 600, 480), sc, attrs=attrs[:, :2],
                                         device="cpu", want_ids=ids)
    R[f"twc_img{ids}"], R[f"twc_f{ids}"], R[f"twc_a{ids}"] = out[:3]
    if ids:
        R["twc_t"] = out[3]
out = triwarp.triangle_warp_confined(img4, pts, src, faces, (100, 80, 600, 480), sc, attrs=attrs, device="cpu")
R["twc4_img"], R["twc4_f"], R["twc4_a"], R["twc4_t"] = out
R["tw2_img"], R["tw2_f"], R["tw2_a"], R["tw2_t"] = triwarp.triangle_warp(img, pts, src, faces, attrs=attrs[:, :2],
                                                                      device="cpu")
R["tf2_f"], R["tf2_a"], R["tf2_t"] = triwarp.triangle_field(pts, src, faces, W, H, attrs=attrs[:, :2],
                                                            window=(100, 80, 600, 480), device="cpu", scale=sc)
cov = np.zeros((H, W), bool)
cov[200:400, 300:600] = True
R["fill"] = fill.smooth_fill(rng.standard_normal((H, W, 2)).astype(np.float32), cov, 40.0, 2.0)
o = np.full((H, W), 255, np.uint8)
cv2.circle(o, (400, 300), 120, 0, -1)
o[::53, ::71] = 0
R["edt"] = distance.distance_to_zero(o)
R["edt_small"] = distance.distance_to_zero(o[:200, :300])
outi = img.copy()
outi[300:310, 400:410] += 0.5
outi[5, 5, 1] = np.nan
matte = np.zeros((H, W), np.float32)
matte[290:320, 390:420] = 1
R["outside"] = np.array([quality.outside_change(outi, img, matte)], np.float64)
np.savez(sys.argv[1], **{k: np.asarray(v) for k, v in R.items()})
'''


def _outputs(pythonpath: str | None, into: Path) -> dict[str, np.ndarray]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(into.with_suffix(".numba"))}  # compiled afresh (module doc)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + os.environ.get("PYTHONPATH", "")
    subprocess.run([sys.executable, "-c", _OUTPUTS, str(into)], check=True, env=env, cwd=into.parent)
    with np.load(into) as z:
        return {k: z[k] for k in z.files}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="git revision to compare with")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fw_check_kernels_") as tmp:
        tmp = Path(tmp)
        try:
            base = _outputs(str(_worktree(args.baseline, tmp / "base")), tmp / "base.npz")
        finally:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(tmp / "base" / "facewarp")],
                           capture_output=True)
        mine = _outputs(None, tmp / "this.npz")
    bad = sorted(set(base) ^ set(mine))
    for k in sorted(set(base) & set(mine)):
        a, b = base[k], mine[k]
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            bad.append(k)
            print(f"DIFFERS {k}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
    print(f"{len(mine)} kernel outputs, baseline {args.baseline}: "
          + ("identical, byte for byte" if not bad else f"{len(bad)} differ or are missing: {', '.join(bad)}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
