"""ResWarp vanilla against multiscale at 3840 x 2160 float32 RGB: time and quality, to choose
the nodes' default mode (docs/geometry.md, "Default mode").

Times ``reswarp`` (the pyramid built inside, as the ResWarp node without a ``pyramid`` input
runs it) and the two halves separately (``decompose_packed``: what ResDecompose runs;
``reconstruct``: what ResWarp runs from a ResDecompose pyramid); medians of ``--repeats``
runs, the two modes interleaved so machine load affects both alike; the load average is
printed before and after. Quality: PSNR against the direct 4K warp (the same set-up as
``tests/kernels/test_reswarp.py``: the photo cubic-upscaled, a smooth random field of 3 % of
the frame on the 128^2 grid, the result = each mode's own low-res image warped at 128^2), and
the bicubic up-sampling of that low-res result for comparison.

    python benchmarks/bench_reswarp_modes.py [--repeats 9] [--photo PATH] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from facewarp.kernels import reswarp as rw
from facewarp.kernels.sampling import resample_field, warp_bilinear

W, H = 3840, 2160
LOW = (128, 128)


def psnr(a, b) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def plate_and_field(photo: str | None, seed: int = 7):
    if photo:
        rgb = cv2.imread(photo, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    else:
        from skimage import data

        rgb = data.astronaut().astype(np.float32) / 255.0
    side = cv2.resize(rgb, (W, W), interpolation=cv2.INTER_CUBIC)
    plate = np.ascontiguousarray(side[(W - H) // 2:(W - H) // 2 + H])
    rng = np.random.default_rng(seed)
    f = cv2.GaussianBlur(rng.standard_normal((LOW[1], LOW[0], 2)).astype(np.float32), (0, 0), 0.1 * LOW[0])
    f /= np.abs(f).max(axis=(0, 1))
    f *= np.float32(0.03 * LOW[0])
    return plate, f


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--photo", default=None, help="a photo to up-scale (default: skimage's astronaut)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = ap.parse_args(argv)
    dev = args.device
    plate, f_low = plate_and_field(args.photo)
    f_hd = resample_field(f_low, W, H)
    ref = warp_bilinear(plate, f_hd, device=dev)
    print(f"plate {W}x{H} RGB float32, low-res grid {LOW[0]}x{LOW[1]}, device {dev}, "
          f"{os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}")

    runs: dict[str, dict[str, list[float]]] = {}
    quality = {}
    for mode in ("vanilla", "multiscale"):
        ms = mode == "multiscale"
        top = rw.decompose(plate, LOW, ms)[-1]
        result = warp_bilinear(top, f_low, device=dev)
        out = rw.reswarp(plate, result, f_low, multiscale=ms, device=dev)  # also the warm-up
        mosaic, boxes, _ = rw.decompose_packed(plate, LOW, ms, device=dev)
        residuals, _ = rw.unpack_pyramid(mosaic, boxes)
        rw.reconstruct(result, residuals, f_low, device=dev)
        up = cv2.resize(result, (W, H), interpolation=cv2.INTER_CUBIC)
        quality[mode] = (psnr(out, ref), psnr(up, ref))
        runs[mode] = {"reswarp": [], "decompose": [], "reconstruct": []}
    for _ in range(args.repeats):
        for mode in ("vanilla", "multiscale"):
            ms = mode == "multiscale"
            top = rw.decompose(plate, LOW, ms)[-1]
            result = warp_bilinear(top, f_low, device=dev)
            r = runs[mode]
            r["reswarp"].append(timed(lambda ms=ms, result=result: rw.reswarp(plate, result, f_low, multiscale=ms,
                                                                             device=dev)))
            t0 = time.perf_counter()
            mosaic, boxes, _ = rw.decompose_packed(plate, LOW, ms, device=dev)
            r["decompose"].append((time.perf_counter() - t0) * 1e3)
            residuals, _ = rw.unpack_pyramid(mosaic, boxes)
            r["reconstruct"].append(timed(lambda result=result, residuals=residuals: rw.reconstruct(
                result, residuals, f_low, device=dev)))
            del mosaic, residuals
    load_after = os.getloadavg()[0]
    med = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in runs.items()}
    print(f"medians of {args.repeats} (ms)       reswarp  decompose  reconstruct   PSNR vs direct 4K warp   bicubic")
    for mode in ("vanilla", "multiscale"):
        m, (q, qb) = med[mode], quality[mode]
        print(f"  {mode:<22} {m['reswarp']:8.1f} {m['decompose']:10.1f} {m['reconstruct']:12.1f}   "
              f"{q:8.2f} dB {'':14} {qb:6.2f} dB")
    ratio = med["multiscale"]["reswarp"] / med["vanilla"]["reswarp"]
    gain = quality["multiscale"][0] - quality["vanilla"][0]
    print(f"multiscale / vanilla: {ratio:.2f}x the time, {gain:+.2f} dB; load average after {load_after:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
