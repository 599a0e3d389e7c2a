"""Throughput of ``facewarp run --dask``: 2 worker processes against 1, on 1080p reanimate.yaml.

    python benchmarks/bench_dask.py [--frames 40] [--repeats 3] [--size 1920x1080] [--out DIR]

Plates: the embedded demo sequence (scikit-image's astronaut, a slow push-in) at ``--size``,
written once as half-float EXRs. The shot cache (tracking and fitting over the whole shot) is
computed once first and is the same for every run, so what is timed is the distributed part:
``run_on_dask`` rendering every frame (``--overwrite``) on an already started ``LocalCluster``
whose workers have imported facewarp (a warm-up render of 2 frames). Printed: the median wall time
per configuration, throughput (frames/s), the cores the workers kept busy (their CPU seconds over
the wall time), the ratio 2 workers / 1 worker (the goal on a 2-core machine: >= 1.7) with the
most that more workers could add (cores / the cores one worker keeps busy), and each worker's
peak RSS over the timed runs (``VmHWM``, reset before them).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time


def _reset_peak_rss() -> bool:
    """Start the worker's peak RSS afresh (Linux: ``clear_refs`` 5): a forked process inherits
    its parent's peak, so a worker started by a client that has just computed the shot cache
    would report the client's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the worker process
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--out", default=None, help="work folder (default: a temp folder)")
    parser.add_argument("--preset", default=None, help="preset (default: the bundled reanimate.yaml); it is copied "
                        "into the work folder first, so an edit during the run changes nothing")
    parser.add_argument("--no-share-cores", dest="share_cores", action="store_false",
                        help="let every worker's libraries start a thread per core (before share_cores)")
    args = parser.parse_args(argv)

    import dask
    from distributed import Client, LocalCluster

    from facewarp.cli.render import demo_preset, run_preset
    from facewarp.farm.dask_run import TASK_THREADS_ENV, run_on_dask
    from facewarp.imaging.demo import write_demo_plates

    w, h = (int(v) for v in args.size.lower().split("x"))
    first, last = 1001, 1000 + args.frames
    work = args.out or tempfile.mkdtemp(prefix="bench_dask_")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    plates = os.path.join(work, "plates", "plate.####.exr")
    t0 = time.perf_counter()
    write_demo_plates(plates, range(first, last + 1), (w, h))
    print(f"plates: {args.frames} frames {w}x{h} in {time.perf_counter() - t0:.1f}s ({work})")
    preset = os.path.join(work, "bench_preset.yaml")
    shutil.copyfile(args.preset or demo_preset(), preset)
    sets = [f"plate={plates}", f"out={work}/render/r.####.exr", f"stmap={work}/stmap/st.####.exr"]
    spec = f"{first}-{last}"
    t0 = time.perf_counter()
    run_preset(preset, frames_spec=spec, shot_spec=spec, sets=sets, cache_only=True, quiet=True, output_root=work)
    print(f"shot cache (once, not timed below): {time.perf_counter() - t0:.1f}s")

    dask.config.set({"distributed.scheduler.allowed-failures": 3})
    results = {}
    for n in (1, 2):
        # what --dask local:N does: each task gets the machine's cores / N threads (share_cores)
        if args.share_cores:
            os.environ[TASK_THREADS_ENV] = str(max(1, (os.cpu_count() or 1) // n))
        else:
            os.environ.pop(TASK_THREADS_ENV, None)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.CRITICAL) as cluster, \
                Client(cluster) as client:
            run_on_dask(preset, cluster.scheduler_address, frames_spec=f"{first}-{first + 1}", shot_spec=spec,
                        sets=sets, mode="overwrite", output_root=work, quiet=True, chunk=1)  # warm-up: imports
            times = []
            client.run(_reset_peak_rss)  # the peak of the timed runs only
            cpu0 = client.run(_cpu_seconds)
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                run_on_dask(preset, cluster.scheduler_address, frames_spec=spec, shot_spec=spec, sets=sets,
                            mode="overwrite", output_root=work, quiet=True)
                times.append(time.perf_counter() - t0)
            cpu1 = client.run(_cpu_seconds)
            rss = client.run(_peak_rss_mib)
        # cores the workers kept busy while rendering (their CPU seconds / wall seconds, all runs)
        busy = sum(cpu1[k] - cpu0[k] for k in cpu1) / sum(times)
        results[n] = (statistics.median(times), times, sorted(rss.values()), busy)
        med = results[n][0]
        print(f"{n} worker(s): median {med:.2f}s over {args.repeats} run(s) {[round(t, 2) for t in times]}, "
              f"{args.frames / med:.2f} frames/s, cores busy {busy:.2f}, "
              f"peak RSS per worker {[round(r) for r in results[n][2]]} MiB")
    ratio = results[1][0] / results[2][0]
    cores = os.cpu_count() or 1
    print(f"throughput 2 workers / 1 worker: {ratio:.2f}x (goal >= 1.7 on 2 cores; os.cpu_count() = {cores}); "
          f"1 worker kept {results[1][3]:.2f} of {cores} cores busy, so more workers can add at most "
          f"{cores / results[1][3]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
