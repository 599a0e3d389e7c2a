"""Benchmark of the geometric nodes at 3840 x 2160 float32 RGB.

Prints medians (ms) and ratios to ``cv2.remap`` of the same frame with float maps. Numba
compilation is excluded (a warm-up call of every kernel first; the kernels are also
``cache=True``, so later processes load them from the cache).

The baseline is timed cleanly: ``cv2.remap`` runs in its own subprocess (only numpy and
OpenCV imported, the maps loaded from a file), in blocks before, between and after the
kernels' rounds, so no numba worker left spinning by a kernel can slow it (with OpenMP's
active wait policy a remap timed right after a kernel read ~13 % slower and flattered every
ratio). The in-process remap, timed interleaved with the kernels, is printed beside it.
The machine's load (``os.getloadavg()``) is printed before and after: on a shared machine
read the ratios of one run.

``--busy`` runs the whole table twice, idle and with one core held by another process (a
Python busy loop), and prints each ratio busy / idle (target: within 1.3x).

    python -m facewarp.benchmarks.bench_geometry [--repeats 9] [--device cpu|cuda] [--busy]

or ``python benchmarks/bench_geometry.py`` with the package importable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

from facewarp.core.conventions import displacement_to_cv2_maps
from facewarp.graph import Camera, Mesh
from facewarp.kernels import reswarp as rw
from facewarp.kernels.sampling import area_downsample, resample_field, warp_bilinear
from facewarp.warping.landmark import landmark_warp
from facewarp.warping.mesh import mesh_region, render_displacement
from facewarp.warping.region import FEATHER, GROW

W, H = 3840, 2160


def plate_and_field(seed=0):
    from skimage import data

    side = cv2.resize(data.astronaut().astype(np.float32) / 255, (W, W), interpolation=cv2.INTER_CUBIC)
    plate = np.ascontiguousarray(side[(W - H) // 2:(W - H) // 2 + H])
    rng = np.random.default_rng(seed)
    f = cv2.GaussianBlur(rng.standard_normal((128, 128, 2)).astype(np.float32), (0, 0), 12.8)
    f /= np.abs(f).max(axis=(0, 1))
    f *= np.float32(0.03 * 128)
    return plate, f


def landmarks(n=478, seed=1, jitter=False):
    """A face-sized cloud (~1/6 of the frame width), like a MediaPipe mesh on a 4K close-up,
    moved by a smooth expression-like displacement (up to ~8 px, no fold-overs), or, with
    ``jitter``, by independent 4 px noise per point (flips some sliver triangles: the node
    then also writes the triangle-id map to mark them)."""
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0, 2 * np.pi, n)
    rad = np.sqrt(rng.uniform(0, 1, n))
    dst = np.stack([W / 2 + 420 * rad * np.cos(ang), H / 2 + 560 * rad * np.sin(ang)], 1)
    if jitter:
        return dst + rng.normal(0, 4, dst.shape), dst
    u = (dst - (W / 2, H / 2)) / (420, 560)
    return dst + 8 * np.stack([np.sin(2.1 * u[:, 1]), np.cos(1.7 * u[:, 0]) * u[:, 1]], 1), dst


def face_meshes(n=71):
    """A (n-1)^2 * 2 ~ 10k-triangle dome covering ~1/3 of the frame (weak perspective)."""
    rw_, rh = W * np.sqrt(1 / 3), H * np.sqrt(1 / 3)
    g = np.linspace(-0.5, 0.5, n)
    X, Y = np.meshgrid(g, g)
    Z = 2.0 - 0.5 * (1 - (2 * X) ** 2) * (1 - (2 * Y) ** 2)
    v = np.stack([X.ravel() * rw_, Y.ravel() * rh, Z.ravel()], 1).astype(np.float32)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            faces += [[a, a + n, a + 1], [a + 1, a + n, a + n + 1]]
    cam = Camera("weak_perspective", (1.0, W / 2, H / 2), (W, H))
    drv = Mesh(v, np.array(faces, np.int32), cam)
    moved = v.copy()
    moved[:, 0] += 12 * np.sin(3 * X.ravel())
    moved[:, 1] += 8 * np.cos(2 * Y.ravel())
    return Mesh(moved, drv.faces, cam), drv


_REMAP_CHILD = """
import statistics, sys, time
import cv2, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
plate, mx, my = (np.load(f"{d}/{k}.npy") for k in ("plate", "map_x", "map_y"))
cv2.remap(plate, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # warm-up
ts = []
for _ in range(n):
    t = time.perf_counter()
    cv2.remap(plate, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ts.append(time.perf_counter() - t)
print(" ".join(repr(t) for t in ts))
"""


def remap_in_subprocess(folder: str, repeats: int) -> list[float]:
    """``cv2.remap`` of the saved plate and maps timed in a fresh process (seconds)."""
    out = subprocess.run([sys.executable, "-c", _REMAP_CHILD, folder, str(repeats)], check=True,
                         capture_output=True, text=True)
    return [float(v) for v in out.stdout.split()]


class BusyCore:
    """Another process holding one core (a Python busy loop) while in the ``with`` block."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


TARGETS = {"ResWarp multiscale": 1.5, "TriangleWarp (478 lm)": 1.1, "DisplacementRender (9.8k tri)": 1.0}
CLEAN = "cv2.remap, own process (baseline)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--busy", action="store_true", help="also run with one core held by another process")
    args = ap.parse_args(argv)
    dev = args.device

    import numba

    plate, f_low = plate_and_field()
    f_hd = resample_field(f_low, W, H)
    map_x, map_y = displacement_to_cv2_maps(f_hd)
    result = warp_bilinear(area_downsample(plate, 128, 128), f_low, device="cpu")
    src_lm, dst_lm = landmarks()
    src_jit, dst_jit = landmarks(jitter=True)
    mesh_s, mesh_d = face_meshes()

    std = np.ones(len(dst_lm))

    def tri_warp(jitter=False):  # exactly the TriangleWarp node's work (triangulation, fold-over check, warp, maps)
        # in the node's default face-region mode (region=(grow, feather)): the field and the warp in the
        # region's box only, the plate copied outside it
        if jitter:
            return landmark_warp(plate, src_jit, dst_jit, std, 8, device=dev, region=(GROW, FEATHER))
        return landmark_warp(plate, src_lm, dst_lm, std, 8, device=dev, region=(GROW, FEATHER))

    def disp_render():  # the DisplacementRender node's work in its default face-region mode: the region
        # from the projected meshes first, then the raster of the region's box only, confined in the same pass
        region = mesh_region(mesh_s, mesh_d, W, H, grow=GROW, feather=FEATHER)
        return render_displacement(mesh_s, mesh_d, W, H, device=dev, region=region)

    ops = {
        "cv2.remap, in process": lambda: cv2.remap(plate, map_x, map_y, cv2.INTER_LINEAR,
                                                   borderMode=cv2.BORDER_REPLICATE),
        "warp_bilinear (exact)": lambda: warp_bilinear(plate, f_hd, device=dev),
        "ResWarp vanilla": lambda: rw.reswarp(plate, result, f_low, multiscale=False, device=dev),
        "ResWarp multiscale": lambda: rw.reswarp(plate, result, f_low, multiscale=True, device=dev),
        "TriangleWarp (478 lm)": tri_warp,
        "TriangleWarp, jitter + fold-overs": lambda: tri_warp(True),
        "DisplacementRender (9.8k tri)": disp_render,
    }
    t0 = time.perf_counter()
    for fn in ops.values():  # warm-up: numba compilation / cache load excluded from timings
        fn()
    warm = time.perf_counter() - t0
    print(f"facewarp geometry benchmark: {W}x{H} float32 RGB, device={dev}, numba threads="
          f"{numba.get_num_threads()} (layer {numba.threading_layer()}, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '-')}), cv2 threads={cv2.getNumThreads()}, repeats={args.repeats} "
          f"(warm-up {warm:.1f} s excluded), cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="fw_bench_geometry_") as folder:
        for name, arr in (("plate", plate), ("map_x", map_x), ("map_y", map_y)):
            np.save(os.path.join(folder, f"{name}.npy"), arr)
        modes = [("idle", None)] + ([("one core busy", BusyCore)] if args.busy else [])
        ratios = {}
        for mode, busy in modes:
            if busy is not None:
                with busy():
                    ratios[mode] = _table(ops, folder, args.repeats, mode)
            else:
                ratios[mode] = _table(ops, folder, args.repeats, mode)
    if args.busy:
        print("\nratio to the clean baseline, one core busy / idle (target <= 1.3):")
        for k in ratios["idle"]:
            print(f"{k:34s} {ratios['one core busy'][k] / ratios['idle'][k]:6.2f}")
    if dev == "cuda":
        _gpu_section(plate, result, f_low)
    return 0


def _table(ops, folder, repeats, mode) -> dict[str, float]:
    """Time ``ops`` interleaved, the clean baseline in blocks around them; print; ratios."""
    load_before = os.getloadavg()
    clean = remap_in_subprocess(folder, max(3, repeats // 3))
    times = {k: [] for k in ops}
    for r in range(repeats):
        for k, fn in ops.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
        if r == repeats // 2:
            clean += remap_in_subprocess(folder, max(3, repeats // 3))
    clean += remap_in_subprocess(folder, max(3, repeats // 3))
    load_after = os.getloadavg()
    base = statistics.median(clean)
    print(f"\n[{mode}] load average before {tuple(round(v, 2) for v in load_before)}, after "
          f"{tuple(round(v, 2) for v in load_after)}; baseline = {CLEAN}, {len(clean)} runs in 3 blocks")
    print(f"{'operation':34s} {'median ms':>10s} {'x remap':>8s} {'target':>7s}")
    print(f"{CLEAN:34s} {1000 * base:10.1f} {1.0:8.2f} {'':>7s}")
    ratios = {}
    for k, v in times.items():
        m = statistics.median(v)
        ratios[k] = m / base
        tgt = f"<={TARGETS[k]:.1f}" if k in TARGETS else ""
        print(f"{k:34s} {1000 * m:10.1f} {m / base:8.2f} {tgt:>7s}")
    return ratios


def _gpu_section(plate, result, f_low):  # pragma: no cover - needs a GPU
    import cupy as cp
    import torch

    from facewarp.kernels import sampling

    d_plate = cp.asarray(plate)
    d_res = rw.residual_device(d_plate, cp.asarray(area_downsample(plate, 128, 128)))
    d_base, d_field = cp.asarray(result), cp.asarray(f_low)
    out = cp.empty_like(d_plate)

    def timed(f, n=50):
        f()
        cp.cuda.Device().synchronize()
        s, e = cp.cuda.Event(), cp.cuda.Event()
        s.record()
        for _ in range(n):
            f()
        e.record()
        e.synchronize()
        return cp.cuda.get_elapsed_time(s, e) / n  # ms

    t_copy = timed(lambda: out.__setitem__(Ellipsis, d_plate))
    t_rw = timed(lambda: rw.reswarp_add_device(d_res, d_base, d_field, 0))
    copy_bw = 2 * d_plate.nbytes / t_copy / 1e6  # GB/s (read + write)
    rw_bytes = 2 * d_plate.nbytes  # residual read + output write (coarse inputs are tiny)
    rw_bw = rw_bytes / t_rw / 1e6
    line = (f"GPU reswarp_add {t_rw:.3f} ms = {rw_bw:.0f} GB/s vs copy {copy_bw:.0f} GB/s "
            f"({100 * rw_bw / copy_bw:.0f} %)")
    if torch.cuda.is_available():
        t_torch = timed(_torch_reswarp(d_res, d_base, d_field), 20)
        line += f"; torch grid_sample+interpolate {t_torch:.3f} ms ({t_torch / t_rw:.1f}x)"
    else:
        line += "; torch comparison skipped: this torch has no CUDA"
    print(line)
    d_levels = [d_plate]
    for _ in range(4):
        d_levels.append(sampling.reduce_octave_device(d_levels[-1]))

    def multiscale_on_device():  # the reconstruction of the 4 octaves, all on the device
        d_out = d_levels[-1]
        for k in range(len(d_levels) - 2, -1, -1):
            d_out = rw.reswarp_add_device(rw.residual_device(d_levels[k], d_levels[k + 1]), d_out, d_field, 0)
        return d_out

    t_ms = timed(multiscale_on_device, 20)
    print(f"GPU multiscale reconstruction, 4 octaves, device-resident (residuals + fused passes): {t_ms:.3f} ms; "
          f"the whole ResWarp call with one upload and one download is in the table above")
    mesh_s, mesh_d = face_meshes()
    from facewarp.kernels.raster import rasterize_device

    pd, zd = mesh_d.project()
    d_xy = cp.asarray(pd.astype(np.float64))
    d_faces = cp.asarray(mesh_d.faces.astype(np.int32))
    d_attrs = cp.asarray((mesh_s.project()[0] - pd).astype(np.float32))
    d_depth = cp.asarray(zd.astype(np.float32))
    t_r = timed(lambda: rasterize_device(d_xy, d_faces, W, H, d_attrs, d_depth, True, 1), 20)
    print(f"GPU raster of the {len(mesh_d.faces)}-triangle mesh at {W}x{H} (z-buffer + resolve, device arrays): "
          f"{t_r:.3f} ms (target <= 0.5 ms)")


def _torch_reswarp(d_res, d_base, d_field):  # pragma: no cover - needs a GPU
    """The same fused pass as torch ops on the device (the issue's comparison): the field
    and the base up-sampled with ``interpolate``, the residual sampled with ``grid_sample``."""
    import torch
    import torch.nn.functional as F

    tr = torch.as_tensor(d_res, device="cuda").permute(2, 0, 1)[None]
    tb = torch.as_tensor(d_base, device="cuda").permute(2, 0, 1)[None]
    tf = torch.as_tensor(d_field, device="cuda").permute(2, 0, 1)[None]
    fh, fw = d_field.shape[:2]
    gy, gx = torch.meshgrid(torch.arange(H, device="cuda") + 0.5, torch.arange(W, device="cuda") + 0.5, indexing="ij")

    def run():
        up_f = F.interpolate(tf, size=(H, W), mode="bilinear", align_corners=False)[0]
        x = (gx + up_f[0] * (W / fw)) / W * 2 - 1
        y = (gy + up_f[1] * (H / fh)) / H * 2 - 1
        grid_ = torch.stack([x, y], -1)[None]
        return F.interpolate(tb, size=(H, W), mode="bilinear", align_corners=False) + \
            F.grid_sample(tr, grid_, mode="bilinear", padding_mode="border", align_corners=False)

    return run


if __name__ == "__main__":
    sys.exit(main())
