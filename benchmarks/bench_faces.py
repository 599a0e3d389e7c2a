"""Per-frame CPU times of face tracking and fitting on 4K plates.

    PYTHONPATH=... python benchmarks/bench_faces.py [--frames 50] [--clip PATH]

The driving clip (../shared/data/driving/grid_swiz3n.mpg, 360x288) is up-scaled (bicubic) to
2700x2160 and pillar-boxed into a 3840x2160 (UHD) float32 scene-linear plate, as the graph would
deliver it. Measured in the same run:

* tracking = LandmarkTracker's per-frame work (face detection on a down-scaled copy + face mesh
  on a full-resolution crop, twice), median over the frames; baseline: MediaPipe's FaceMesh run
  directly on the whole 4K frame (its own internal detection and down-scaling), converted to
  8-bit the usual way (whole plate);
* fitting = FLAMEFit with the default model: warm per-frame tracking fit (identity fixed,
  warm-started from the previous frame), median; baseline: the same frames fitted cold (rigid
  initialisation, no warm start, identity fixed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from facewarp.core.color import to_linear


def srgb_to_linear(u8):
    return to_linear(u8.astype(np.float32) / 255.0, "srgb")


def main(argv=None) -> int:
    import cv2

    from facewarp.face import fit as _fit
    from facewarp.face import models
    from facewarp.face import tracking as fm

    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--clip", default=str(Path(os.environ.get("FACEWARP_SHARED", here.parent / "shared"))
                                          / "data" / "driving" / "grid_swiz3n.mpg"))
    args = ap.parse_args(argv)
    if not Path(args.clip).exists():
        print(f"needs the driving clip {args.clip}")
        return 2
    cap = cv2.VideoCapture(args.clip)
    frames = []
    while len(frames) < args.frames:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(fr, cv2.COLOR_BGR2RGB))
    W, H = 3840, 2160
    inner_w = round(frames[0].shape[1] * H / frames[0].shape[0])
    x_off = (W - inner_w) // 2

    def plate4k(fr):
        up = cv2.resize(fr, (inner_w, H), interpolation=cv2.INTER_CUBIC)
        canvas = np.zeros((H, W, 3), np.uint8)
        canvas[:, x_off:x_off + inner_w] = up
        return srgb_to_linear(canvas)

    import mediapipe as mp

    naive = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1)
    track_ms, naive_ms, points = [], [], []
    fm.track_frame(plate4k(frames[0]))  # load the networks
    for fr in frames:
        plate = plate4k(fr)
        t0 = time.perf_counter()
        r = fm.track_frame(plate)
        track_ms.append(1000 * (time.perf_counter() - t0))
        if r.points is None:
            print("no face on a frame; stopping")
            return 1
        points.append(r.points)
        t0 = time.perf_counter()
        naive.process(fm.to_uint8_rgb(plate))
        naive_ms.append(1000 * (time.perf_counter() - t0))

    model = models.load_model("default")
    fitter = _fit.Fitter(model)
    res = fitter.fit(points, None, (W, H))
    warm = res.frame_ms[1:]
    cold = []
    for t in range(0, len(points), max(1, len(points) // 10)):
        t0 = time.perf_counter()
        _fit.Fitter(model).fit([points[t]], None, (W, H), init_shape=res.shape)
        cold.append(1000 * (time.perf_counter() - t0))
    iod = np.array([fm.inter_ocular(p) for p in points])
    print(f"faces benchmark: {len(points)} frames of {Path(args.clip).name} up-scaled into {W}x{H} float plates, "
          f"CPU ({os.cpu_count()} cores)")
    print(f"  tracking (detect on down-scaled copy + mesh on full-res crop): median {np.median(track_ms):.1f} ms/frame")
    print(f"  baseline FaceMesh on the whole 4K frame:                       median {np.median(naive_ms):.1f} ms/frame "
          f"(ratio {np.median(naive_ms) / np.median(track_ms):.2f}x)")
    print(f"  fitting, warm (identity fixed, previous frame as start):      median {np.median(warm):.1f} ms/frame")
    print(f"  baseline fitting, cold (rigid init per frame):                median {np.median(cold):.1f} ms/frame "
          f"(ratio {np.median(cold) / np.median(warm):.2f}x)")
    print(f"  identity + tracking total for the shot: {res.frame_ms.sum() / 1000:.2f} s; "
          f"reprojection median {np.median(res.error_px):.2f} px = {100 * np.median(res.error_px / iod):.2f}% IOD")
    return 0


if __name__ == "__main__":
    sys.exit(main())
