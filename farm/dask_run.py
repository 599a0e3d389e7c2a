"""``facewarp run PRESET --dask local:N | tcp://HOST:PORT``: frame chunks as tasks on a Dask cluster.

The client (the process that runs the command) checks everything first, as ``facewarp run`` does
(the preset, the inputs over the shot, where the outputs go, existing outputs under the output
policy), then computes the shot cache **once** (``graph/shot_cache.py``: the sequence nodes over
the whole shot, beside the outputs), then submits one task per chunk of frames. Each task loads
the preset in its worker, finds the shot cache valid and renders its frames with
``--skip-existing`` semantics (``overwrite`` when the run overwrites), so:

* a worker killed mid-task (SIGKILL, a lost machine) costs nothing: the scheduler gives its tasks
  to another worker (a worker death is not an exception: Dask's ``retries`` do not count it, the
  scheduler's ``distributed.scheduler.allowed-failures`` does - set to ``ALLOWED_FAILURES`` for
  ``local:N``), the frames it finished are kept and skipped, the frame it was writing was only a
  temp file (outputs are renamed into place whole);
* a task that raises is retried ``retries`` times; a chunk that still fails fails the run, which
  ends after the other chunks with an error listing the failed chunks' frames.

``local:N`` starts a ``LocalCluster`` of N worker processes (one thread each) for the run, and each
task lets its libraries use the machine's cores / N threads (``share_cores``; on a remote cluster,
``$FACEWARP_TASK_THREADS`` in the workers' environment says how many);
``tcp://HOST:PORT`` uses a running scheduler, whose workers must see the same files at the same
absolute paths (every path a task uses is made absolute here) and have facewarp installed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable

from facewarp.core.errors import EXIT_OK, RenderError, UsageError
from facewarp.graph import frames_available, plan
from facewarp.graph.context import parse_frames
from facewarp.graph.preset import load_preset
from facewarp.graph.render_loop import prepare_shot, resolve_output_root

from .jobs import _absolute_sets, chunks

ALLOWED_FAILURES = 3  # worker deaths one task may cause before the scheduler gives up on it (local:N)
DEFAULT_RETRIES = 2  # re-runs of a task that raised
MAX_CHUNK = 10
TASK_THREADS_ENV = "FACEWARP_TASK_THREADS"  # a remote worker's threads per task (its machine's cores / workers)


def parse_address(text: str) -> tuple[str, int | str]:
    """``local:N`` -> ("local", N); ``tcp://HOST:PORT`` (or tls://) -> ("address", text)."""
    if text.startswith("local:"):
        try:
            n = int(text.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise UsageError(f"--dask local:N needs N >= 1 worker processes, got '{text[:40]}'")
        return "local", n
    if "://" in text and text.split("://", 1)[1]:
        return "address", text
    raise UsageError(f"--dask takes local:N or a scheduler address like tcp://HOST:8786, got '{text[:80]}'")


def share_cores(threads: int | None) -> None:
    """Let this process's libraries use ``threads`` threads each (numba's parallel kernels launched
    from the calling thread, OpenCV, OpenImageIO and OpenEXR), so that N workers on one machine
    share its cores instead of each starting a thread per core and preempting the others."""
    if not threads:
        return
    import cv2
    import numba
    import OpenImageIO as oiio

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    cv2.setNumThreads(threads)
    oiio.attribute("threads", threads)
    oiio.attribute("exr_threads", threads)


def render_chunk(spec: dict, frames: tuple[int, ...]) -> dict:
    """One task, run in a worker: render ``frames`` of the shot with the shot cache."""
    from facewarp.graph import render

    share_cores(spec.get("threads") or int(os.environ.get(TASK_THREADS_ENV, "0") or 0))
    if os.getcwd() != spec["workdir"]:
        os.chdir(spec["workdir"])  # paths written inside the preset are relative to it (one thread per worker)
    preset = load_preset(spec["preset"])
    preset.apply_sets(spec["sets"])
    ctx = preset.context(tuple(spec["shot"]), device=spec["device"], write_mode=spec["mode"])
    t0 = time.perf_counter()
    try:
        result = render(preset.graph, ctx, frames=frames, mode=spec["mode"], output_root=spec["output_root"],
                        inputs=[spec["preset"]], shot_cache=True, cache_bytes=spec.get("cache_bytes"))
    except Exception as exc:  # one line, picklable: the client lists it with the chunk's frames
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
    return {"frames": list(result.frames), "skipped": list(result.skipped), "seconds": time.perf_counter() - t0,
            "pid": os.getpid(), "shot_cache": result.shot_cache.status if result.shot_cache else None}


def _client(address: str):
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise UsageError(f"--dask needs dask[distributed]: pip install 'facewarp[farm]' ({exc})") from None
    kind, value = parse_address(address)
    if not os.environ.get("FACEWARP_VERBOSE"):
        for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker"):
            logging.getLogger(name).setLevel(logging.ERROR)
    if kind == "local":
        dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
        quiet_logs = logging.CRITICAL if not os.environ.get("FACEWARP_VERBOSE") else False  # the run lists failures
        cluster = LocalCluster(n_workers=value, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=quiet_logs)
        return Client(cluster), cluster, value
    try:
        client = Client(value, timeout="20s")
    except OSError as exc:
        raise UsageError(f"--dask: cannot reach the scheduler at {value}: {exc}") from None
    return client, None, max(1, len(client.scheduler_info().get("workers", {})))


def run_on_dask(preset_path: str, address: str, *, frames_spec: str | None = None, shot_spec: str | None = None,
                sets=(), device: str = "auto", mode: str = "error", output_root: str | None = None,
                chunk: int | None = None, quiet: bool = False, progress_lines: bool = False,
                cache_mb: int | None = None, retries: int = DEFAULT_RETRIES,
                note: Callable[[str], None] | None = None) -> int:
    """Render the preset on a Dask cluster; returns the exit code (0), raises FacewarpError."""
    parse_address(address)  # a bad address costs nothing
    say = note or (lambda line: print(f"facewarp: note: {line}", file=sys.stderr, flush=True))
    preset_path = os.path.abspath(preset_path)
    workdir = os.getcwd()
    frames = parse_frames(frames_spec) if frames_spec else None
    shot = parse_frames(shot_spec) if shot_spec else None
    preset = load_preset(preset_path)
    absolute = _absolute_sets(preset, list(sets), workdir)
    preset.apply_sets(absolute)
    if frames is None:
        frames = shot or (parse_frames(preset.frames) if preset.frames else frames_available(
            preset.graph, preset.context(frames=())))
    if not frames:
        raise UsageError("no frame range: give --frames, a 'frames:' key in the preset, or a plate sequence on disk")
    if shot is not None:
        in_shot = set(shot)
        frames = tuple(f for f in frames if f in in_shot)
        if not frames:
            raise UsageError(f"--frames {frames_spec} holds no frame of --shot {shot_spec}")
    shot = tuple(shot or frames)
    root = resolve_output_root(output_root)
    ctx = preset.context(shot, device=device, write_mode=mode)
    preset.graph.validate(ctx)
    todo = plan(preset.graph, ctx, mode, frames, output_root=root, inputs=[preset_path])
    todo.check()  # before anything is computed
    cache_bytes = cache_mb * (1 << 20) if cache_mb is not None else None
    if not todo.todo:
        if not quiet:
            print(f"rendered 0 frame(s), skipped {len(todo.skipped)} existing", file=sys.stderr)
        return EXIT_OK
    started = time.perf_counter()
    client, cluster, n_workers = _client(address)
    try:
        done = prepare_shot(preset.graph, ctx, output_root=root, inputs=[preset_path], note=say,
                            cache_bytes=cache_bytes)
        if not quiet and done.status != "none":
            print(f"shot cache {done.status}: {done.path}", file=sys.stderr, flush=True)
        size = chunk or max(1, min(MAX_CHUNK, math.ceil(len(todo.todo) / (2 * n_workers))))
        parts = chunks(todo.todo, size)
        spec = {"preset": preset_path, "sets": absolute, "shot": list(shot), "device": device,
                "mode": "overwrite" if mode == "overwrite" else "skip", "output_root": root, "workdir": workdir,
                "cache_bytes": cache_bytes,
                # local:N: the machine's cores shared out; a remote worker's machine is its own business
                "threads": max(1, (os.cpu_count() or 1) // n_workers) if cluster is not None else None}
        failed, rendered, skipped, pids = _run_chunks(client, spec, parts, retries, quiet, progress_lines,
                                                      len(todo.todo))
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
    seconds = time.perf_counter() - started
    if failed:
        listed = "; ".join(f"frames {a}-{b}: {why}" for (a, b), why in failed)
        raise RenderError(f"{len(failed)} of {len(parts)} chunk(s) failed after {retries + 1} tries each, "
                          f"the other frames are written: {listed}")
    if not quiet:
        extra = len(todo.skipped) + skipped
        print(f"rendered {rendered} frame(s)" + (f", skipped {extra} existing" if extra else "")
              + f" in {len(parts)} chunk(s) on {len(pids)} worker process(es), {seconds:.1f}s", file=sys.stderr)
    return EXIT_OK


def _run_chunks(client, spec, parts, retries, quiet, progress_lines, total):
    from distributed import as_completed

    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", file=sys.stderr, desc="dask")
    futures = {}
    for a, b in parts:
        fut = client.submit(render_chunk, spec, tuple(range(a, b + 1)), retries=retries, pure=False,
                            key=f"facewarp-chunk-{a}-{b}-{os.getpid()}-{time.time_ns()}")
        futures[fut] = (a, b)
    failed, rendered, skipped, pids, finished = [], 0, 0, set(), 0
    if progress_lines:
        print("Progress: 0%", flush=True)
    try:
        for fut in as_completed(futures):
            a, b = futures[fut]
            try:
                out = fut.result()
            except Exception as exc:  # raised in every try, or killed its workers (KilledWorker)
                failed.append(((a, b), f"{type(exc).__name__}: {exc}"[:400]))
                finished += b - a + 1
            else:
                rendered += len(out["frames"])
                skipped += len(out["skipped"])
                pids.add(out["pid"])
                finished += b - a + 1
                if bar is None and not quiet:
                    print(f"frames {a}-{b} done in {out['seconds']:.1f}s (worker pid {out['pid']})", file=sys.stderr,
                          flush=True)
            if bar is not None:
                bar.update(b - a + 1)
            if progress_lines:
                print(f"Progress: {100 * finished // total}%", flush=True)
    finally:
        if bar is not None:
            bar.close()
    failed.sort()
    return failed, rendered, skipped, pids


__all__ = ["ALLOWED_FAILURES", "DEFAULT_RETRIES", "parse_address", "render_chunk", "run_on_dask", "share_cores"]
