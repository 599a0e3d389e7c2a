"""Frame loop with and without background writes (``graph/pipeline.py``), A/B in one run.

Renders ``presets/grade_exr.yaml``'s graph (PlateRead -> Grade -> PlateWrite, half EXR zip) over
``--frames`` generated plates at ``--size`` with ``graph.render``: once writing on the frame loop's
thread (``background_writes=False``), once as ``render()`` does by default (PlateWrite hands its
writes to a background WritePipeline thread and the loop computes the next frame meanwhile). Interleaved
``--repeats`` times; prints the median seconds per frame of each and the machine's load.

    python benchmarks/bench_pipeline.py [--frames 6] [--size 3840x2160] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np

from facewarp.core.types import Image
from facewarp.graph import Context, Graph, render
from facewarp.imaging.plates import write_plate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--size", default="3840x2160")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    from skimage import data

    side = cv2.resize(data.astronaut().astype(np.float32) / 255, (w, w), interpolation=cv2.INTER_CUBIC)
    px = np.ascontiguousarray(side[(w - h) // 2:(w - h) // 2 + h])
    frames = tuple(range(1001, 1001 + args.frames))
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"writes on the frame loop": [], "background writes (render default)": []}
    with tempfile.TemporaryDirectory(prefix="fw_bench_pipeline_") as d:
        for f in frames:
            write_plate(os.path.join(d, f"plate.{f}.exr"), Image(px * (1 + 0.01 * (f - 1000)), ("R", "G", "B")))
        g = Graph()
        g.add("PlateRead", "read", {"path": os.path.join(d, "plate.####.exr")})
        g.add("Grade", "grade", {"gain": 1.2})
        g.add("PlateWrite", "write", {"path": os.path.join(d, "out", "o.####.exr")})
        g.connect("read.image", "grade.image")
        g.connect("grade.image", "write.image")
        g.outputs.append("write")
        ctx = Context(frames=frames, device="cpu", write_mode="overwrite")
        for r in range(args.repeats + 1):  # round 0 warms the page cache and lazy imports
            for name in times:
                t = time.perf_counter()
                render(g, ctx, output_root=d, background_writes=name.startswith("background"))
                if r:
                    times[name].append((time.perf_counter() - t) / len(frames))
    load_after = os.getloadavg()
    print(f"facewarp frame loop: PlateRead -> Grade -> PlateWrite (half, zip), {len(frames)} frames {w}x{h}, "
          f"repeats={args.repeats}, cpus={os.cpu_count()}")
    print(f"load average before {tuple(round(v, 2) for v in load_before)}, after "
          f"{tuple(round(v, 2) for v in load_after)}")
    for name, v in times.items():
        print(f"{name:36s} median {1000 * statistics.median(v):8.1f} ms/frame  (min {1000 * min(v):.1f}, "
              f"max {1000 * max(v):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
