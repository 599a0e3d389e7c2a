"""A whole farm task, timed as one: ``facewarp run PRESET`` over generated plates in a fresh process,
this tree against a baseline git revision, interleaved in one time window.

Per run it prints:
    * steady-state seconds per frame: the median interval between consecutive frames reported done
      (on disk) after the first - the frame loop's throughput, writes included;
    * the whole task: process wall time (imports, tracking and fitting over the shot, every frame),
      and its ratio to ``frames x`` the steady-state figure (what the per-task fixed cost adds);
    * the first frame: seconds from process start until the first frame is on disk;
    * plate reads per frame (PlateRead computes / frames), the peak RSS of the process and its CPU
      time (all threads; the system part is mostly page faults), steadier than wall time on a
      shared machine;
and the load average before and after. ``--farm`` times a farm chunk task instead: the shot cache
(tracking and fitting over the shot) is computed first by an untimed ``--cache-only`` run into the
same output folder, and the timed run (``--shot``) reuses it, as every render task of a farm job does.
The baseline is checked out with ``git worktree`` into a
temp folder and run from there (``PYTHONPATH``), so the comparison needs no second install.

    python benchmarks/bench_render.py [--size 3840x2160] [--frames 10] [--baseline HEAD~1] [--repeats 1] [--farm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from facewarp.imaging.demo import write_demo_plates

HERE = Path(__file__).resolve().parents[1]


def _worktree(rev: str, into: Path) -> Path:
    """The baseline as an importable ``facewarp`` package: ``into/facewarp`` is a worktree of ``rev``."""
    pkg = into / "facewarp"
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "-f", str(pkg), rev], check=True,
                   capture_output=True)
    return into


def _run_once(pythonpath: str | None, preset: str, frames: str, plates: str, out: Path, extra: list[str],
              farm: bool = False) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "facewarp", "run", preset, "--frames", frames, "--set", f"plate={plates}",
           "--set", f"out={out}/render.####.exr", "--set", f"stmap={out}/stmap.####.exr",
           "--output-root", str(out), "--overwrite", *extra]
    if farm:  # the farm job's first step, untimed: the shot cache beside the outputs
        cmd += ["--shot", frames]
        subprocess.run(cmd + ["--cache-only", "--quiet"], check=True, env=env, stdout=subprocess.DEVNULL)
    cmd += ["--stats", str(out / "stats.json")]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    done: list[float] = []
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("frame ") and " done in " in line:
            done.append(time.perf_counter() - started)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(cmd)}\n{''.join(lines[-20:])}")
    stats = json.loads((out / "stats.json").read_text())
    n = len(stats["frames"])
    reads = stats["nodes"]["read"]["computes"]
    steps = [b - a for a, b in zip(done, done[1:])]
    return {"wall": wall, "first": done[0] if done else float("nan"),
            "steady": statistics.median(steps) if steps else float("nan"), "frames": n,
            "reads_per_frame": reads / max(n, 1), "rss_mb": usage.ru_maxrss / 1024.0,
            "cpu": usage.ru_utime + usage.ru_stime, "sys": usage.ru_stime,
            "nodes": {k: v["seconds"] for k, v in stats["nodes"].items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="3840x2160")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--preset", default="reanimate")
    ap.add_argument("--baseline", default=None, help="git revision to compare with (default: none)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--plates", default=None, help="folder to keep the generated plates in (reused when present)")
    ap.add_argument("--nodes", action="store_true", help="also print seconds per node")
    ap.add_argument("--farm", action="store_true", help="time a farm render task: the shot cache is computed "
                    "first (untimed) and the timed run reuses it")
    args, extra = ap.parse_known_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    frames = f"1001-{1000 + args.frames}"
    with tempfile.TemporaryDirectory(prefix="fw_bench_render_") as tmp:
        tmp = Path(tmp)
        plates = Path(args.plates) if args.plates else tmp / "plates"
        pattern = str(plates / "plate.####.exr")
        if not (plates / f"plate.{1000 + args.frames}.exr").exists():
            write_demo_plates(pattern, range(1001, 1001 + args.frames), (w, h))
        variants = {"this tree": None}
        if args.baseline:
            variants[f"baseline {args.baseline}"] = str(_worktree(args.baseline, tmp / "base"))
        warm = tmp / "warm" / "plate.####.exr"
        write_demo_plates(str(warm), (1001, 1002), (320, 180))
        load_before = os.getloadavg()
        results: dict[str, list[dict]] = {k: [] for k in variants}
        try:
            for name, path in variants.items():  # compiles kernels (numba caches them) and warms the page cache
                _run_once(path, args.preset, "1001-1002", str(warm), tmp / f"warm_{name.split()[0]}", extra,
                          args.farm)
            for r in range(args.repeats):
                for name, path in variants.items():
                    results[name].append(_run_once(path, args.preset, frames, pattern, tmp / f"out{r}_{len(results[name])}"
                                                   f"_{name.split()[0]}", extra, args.farm))
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(tmp / "base" / "facewarp")],
                               capture_output=True)
        load_after = os.getloadavg()
    print(f"facewarp run {args.preset}: {args.frames} frames {w}x{h}, repeats={args.repeats}, cpus={os.cpu_count()}"
          + (", farm task (shot cache computed first, untimed)" if args.farm else "")
          + (f", extra args {' '.join(extra)}" if extra else ""))
    print(f"load average before {tuple(round(v, 2) for v in load_before)}, after {tuple(round(v, 2) for v in load_after)}")
    for name, runs in results.items():
        def med(key, runs=runs):
            return statistics.median(r[key] for r in runs)

        steady = med("steady")
        print(f"{name:24s} steady {steady:6.3f} s/frame | task {med('wall'):6.2f} s = {med('wall') / (steady * args.frames):4.2f}x "
              f"frames x steady | first frame on disk {med('first'):5.2f} s | plate reads/frame "
              f"{med('reads_per_frame'):4.2f} | peak RSS {med('rss_mb'):6.0f} MB | CPU {med('cpu'):5.2f} s "
              f"(system {med('sys'):4.1f} s)")
        if args.nodes:
            for node, sec in sorted(runs[0]["nodes"].items(), key=lambda kv: -kv[1]):
                print(f"    {node:14s} {sec:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
