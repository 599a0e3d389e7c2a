"""Fixed cost of a facewarp process: ``facewarp validate`` / ``run`` of ``presets/grade_exr.yaml``
(PlateRead -> Grade -> PlateWrite, two small frames) in fresh subprocesses.

Interleaved in one run, medians of ``--repeats``:
    * as it is (no torch: every node module imports torch / MediaPipe only when such a node runs);
    * the same with ``import torch`` first - what every task paid before the imports were lazy
      (``nodes/wggan.py`` imported ``networks.inference`` and with it torch at module level).
Also prints whether torch was imported, the slowest imports (``-X importtime``) and the load.

    python benchmarks/bench_startup.py [--repeats 5] [--command validate|run]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources

_SETUP = """
import numpy as np
from facewarp.core.types import Image
from facewarp.imaging.plates import write_plate
for f in (1001, 1002):
    write_plate(f"plates/plate.{f}.exr", Image(np.full((16, 24, 3), 0.25, np.float32), ("R", "G", "B")), overwrite=True)
"""

_RUN = """
import sys
{pre}
from facewarp.cli import main
rc = main([{command!r}, {preset!r}, "--frames", "1001-1002", "--set", "plate=plates/plate.####.exr",
           "--set", "out=out/o.####.exr", "--overwrite"][: 8 if {command!r} == "validate" else 9])
print("torch imported:", "torch" in sys.modules, file=sys.stderr)
sys.exit(rc)
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--command", default="validate", choices=("validate", "run"))
    args = ap.parse_args(argv)
    preset = str(resources.files("facewarp") / "presets" / "grade_exr.yaml")
    with tempfile.TemporaryDirectory(prefix="fw_bench_startup_") as d:
        env = {**os.environ, "FACEWARP_OUTPUT_ROOT": d}
        subprocess.run([sys.executable, "-c", _SETUP], cwd=d, check=True, env=env)
        variants = {"as is (lazy torch)": "", "with `import torch` first (before)": "import torch"}
        load_before = os.getloadavg()
        times: dict[str, list[float]] = {k: [] for k in variants}
        notes: dict[str, str] = {}
        for _ in range(args.repeats + 1):  # the first round warms the page cache, not counted
            for name, pre in variants.items():
                code = _RUN.format(pre=pre, command=args.command, preset=preset)
                t = time.perf_counter()
                proc = subprocess.run([sys.executable, "-c", code], cwd=d, env=env, capture_output=True, text=True)
                dt = time.perf_counter() - t
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    return 1
                notes[name] = proc.stderr.strip().splitlines()[-1]
                times[name].append(dt)
        for v in times.values():
            del v[0]
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", _RUN.format(pre="", command=args.command,
                                                                                       preset=preset)],
                              cwd=d, env=env, capture_output=True, text=True)
    load_after = os.getloadavg()
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = line.split("|")
            if cum.strip().isdigit():
                rows.append((int(cum), name.rstrip()))
    print(f"facewarp start-up: `{args.command}` of grade_exr.yaml, 2 frames 24x16, repeats={args.repeats}, "
          f"cpus={os.cpu_count()}")
    print(f"load average before {tuple(round(v, 2) for v in load_before)}, after "
          f"{tuple(round(v, 2) for v in load_after)}")
    for name, v in times.items():
        print(f"{name:40s} median {statistics.median(v):6.2f} s  (min {min(v):.2f}, max {max(v):.2f})  {notes[name]}")
    print("slowest imports as is (cumulative ms):")
    for cum, name in sorted(rows, reverse=True)[:8]:
        print(f"  {cum / 1000:8.1f}  {name.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
