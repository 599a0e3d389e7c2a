"""``facewarp run | validate | demo``: presets through :func:`facewarp.graph.render`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from importlib import resources

from facewarp.api import preset_path as find_preset
from facewarp.core.errors import EXIT_INVALID, EXIT_OK, UsageError
from facewarp.core.files import atomic_output, remove_stale_temps
from facewarp.graph import events, frames_available, plan, render
from facewarp.graph.context import DEVICES, parse_frames
from facewarp.graph.preset import load_preset
from facewarp.graph.render_loop import (
    OUTPUT_ROOT_ENV,
    output_problem,
    planned_inputs,
    prepare_shot,
    resolve_output_root,
)

_ROOT_HELP = (f"folder the run may write under (default: ${OUTPUT_ROOT_ENV}, else the current directory); "
              "outputs and --stats elsewhere are refused")


def add_parsers(sub) -> None:
    run = sub.add_parser("run", help="render a preset over a frame range")
    run.add_argument("preset", help="YAML preset file, or a bundled preset's name (facewarp presets)")
    run.add_argument("--frames", help="1001-1100, 1001-1100x2 or 1,5,9 (default: the preset's, else the plate's)")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                     help="set a preset variable (repeatable)")
    run.add_argument("--device", choices=DEVICES, default="auto")
    policy = run.add_mutually_exclusive_group()
    policy.add_argument("--overwrite", action="store_true", help="replace existing output frames")
    policy.add_argument("--skip-existing", action="store_true", help="render only frames whose outputs are missing")
    run.add_argument("--stats", metavar="FILE", help="write per-node timing as JSON (under the output root)")
    run.add_argument("--report", metavar="FILE", help="write what nodes counted per frame (fold-overs, repaired "
                     "samples) and the summary line as JSON (under the output root)")
    run.add_argument("--output-root", metavar="DIR", help=_ROOT_HELP)
    run.add_argument("--cache-mb", type=int, default=None, help="result cache size in MB (default 256 or FACEWARP_CACHE_MB): keeps the tracking pass's "
                     "first plates for the frame loop")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--shot", metavar="FIRST-LAST", help="the whole shot that --frames is a chunk of: sequence nodes "
                     "(tracking, fitting) are evaluated over it once and kept in a shot cache file beside the "
                     "outputs that every chunk reuses, so chunks equal one render of the shot; --frames then picks "
                     "frames of the shot (default: the shot is the frames rendered, and no cache file is written)")
    run.add_argument("--cache-only", action="store_true", help="compute the shot cache (over --shot, else --frames) "
                     "and render nothing: a farm job's first step")
    run.add_argument("--progress-lines", action="store_true", help="print 'Progress: N%%' lines on stdout (what "
                     "Deadline's CommandLine plugin parses)")
    run.add_argument("--workdir", metavar="DIR", help="change to DIR first: relative paths (the preset, --set values, "
                     "paths written in the preset, the default output root) resolve there (farm tasks pass it)")
    run.add_argument("--dask", metavar="local:N|tcp://HOST:PORT", help="render frame chunks as tasks on a Dask cluster: "
                     "N local worker processes, or a running scheduler's address (needs the farm extra)")
    run.add_argument("--chunk", type=int, default=None, metavar="N", help="frames per task with --dask (default: "
                     "spread the frames over the workers, at most 10 per task)")
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="check a preset without rendering")
    val.add_argument("preset", help="YAML preset file, or a bundled preset's name (facewarp presets)")
    val.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    val.add_argument("--frames")
    val.add_argument("--output-root", metavar="DIR", help=_ROOT_HELP)
    val.set_defaults(func=cmd_validate)

    demo = sub.add_parser("demo", help="render the bundled demo: generated plates through a preset")
    demo.add_argument("--out", default="facewarp_demo", help="folder for the demo plates and renders (the run's "
                      "output root)")
    demo.add_argument("--preset", default=None, help="preset to run (default: the bundled demo preset)")
    demo.add_argument("--frames", default="1001-1005")
    demo.add_argument("--size", default="1280x720", help="plate size WxH, e.g. 3840x2160")
    demo.add_argument("--device", choices=DEVICES, default="auto")
    demo.add_argument("--overwrite", action="store_true")
    demo.set_defaults(func=cmd_demo)


def _load(preset_path: str, sets: list[str], frames_spec: str | None, shot_spec: str | None = None):
    frames = parse_frames(frames_spec) if frames_spec else None  # first: a bad range costs no node imports
    shot = parse_frames(shot_spec) if shot_spec else None
    if shot is not None:  # --frames picks the shot's frames: a farm's chunk A-B may span a gap of the shot
        in_shot = set(shot)
        frames = shot if frames is None else tuple(f for f in frames if f in in_shot)
        if not frames:
            raise UsageError(f"--frames {frames_spec} holds no frame of --shot {shot_spec}")
    preset = load_preset(preset_path)
    preset.apply_sets(sets)
    if frames is not None:
        return preset, frames
    if preset.frames:
        return preset, parse_frames(preset.frames)
    # No --frames and no preset range: what the sources have on disk.
    found = frames_available(preset.graph, preset.context(frames=()))
    if not found:
        raise UsageError("no frame range: give --frames, a 'frames:' key in the preset, or a plate sequence on disk")
    return preset, found


def cmd_validate(args) -> int:
    """Every problem knowable before rendering, each on its own line: the preset, parameters,
    connections, node checks (input files over the range, keyframes, checkpoints, output formats)
    and where the outputs would go."""
    args.preset = find_preset(args.preset)
    preset, frames = _load(args.preset, args.sets, args.frames)
    ctx = preset.context(frames)
    problems = preset.graph.problems(ctx)
    if not preset.graph.outputs:
        problems.append(UsageError("the preset renders nothing: list writer nodes under 'outputs:'", source=preset.path))
    todo = None
    if not problems:  # where the outputs go needs a valid graph
        todo = plan(preset.graph, ctx, output_root=args.output_root, inputs=[args.preset])
        problems += todo.problems
    for p in problems:
        print(f"facewarp: error: {p}", file=sys.stderr)
    if problems:
        return EXIT_INVALID
    print(f"{args.preset}: ok ({len(preset.graph.nodes)} nodes, frames {frames[0]}-{frames[-1]} ({len(frames)}))")
    done = {f for f, _ in todo.existing}
    if done:  # not a problem of the preset, but `run` would refuse without a policy
        print(f"{len(done)} of {len(frames)} frame(s) have existing outputs: run with --overwrite or --skip-existing")
    return EXIT_OK


def cmd_run(args) -> int:
    mode = "overwrite" if args.overwrite else "skip" if args.skip_existing else "error"
    if args.workdir:
        try:
            os.chdir(args.workdir)
        except OSError as exc:
            raise UsageError(f"--workdir: cannot change to it: {exc.strerror or exc}", file=args.workdir) from None
    if args.chunk is not None and (args.chunk < 1 or not args.dask):
        raise UsageError("--chunk N needs --dask and N >= 1")
    if args.dask:
        if args.cache_only:
            raise UsageError("--cache-only and --dask do not go together (the Dask run computes the cache itself)")
        from facewarp.cli.farm import run_dask

        return run_dask(args, mode)
    return run_preset(args.preset, frames_spec=args.frames, sets=args.sets, device=args.device, mode=mode,
                      stats=args.stats, cache_mb=args.cache_mb, quiet=args.quiet, output_root=args.output_root,
                      report=args.report, shot_spec=args.shot, cache_only=args.cache_only,
                      progress_lines=args.progress_lines)


@contextlib.contextmanager
def _terminate_cleanly():
    """SIGTERM (a farm stopping a task) raises SystemExit(143) instead of killing the process,
    so every ``finally`` runs and no temp file is left behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        print("facewarp: terminated", file=sys.stderr)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_preset(preset_path: str, *, frames_spec: str | None = None, sets: list[str] = (), device: str = "auto",
               mode: str = "error", stats: str | None = None, cache_mb: int | None = None, quiet: bool = False,
               output_root: str | None = None, report: str | None = None, shot_spec: str | None = None,
               cache_only: bool = False, progress_lines: bool = False) -> int:
    """``facewarp run``. With ``shot_spec`` the frames are a chunk of that shot: the context's range
    is the shot and the sequence nodes come from the shot cache (computed first if needed);
    ``cache_only`` computes that cache and renders nothing."""
    preset_path = find_preset(preset_path)  # a file, or a bundled preset's name
    preset, frames = _load(preset_path, list(sets), frames_spec, shot_spec)
    shot = parse_frames(shot_spec) if shot_spec else frames
    ctx = preset.context(shot, device=device, write_mode=mode)
    root = resolve_output_root(output_root)

    def note(line: str) -> None:
        print(f"facewarp: note: {line}", file=sys.stderr, flush=True)

    if cache_only:
        with _terminate_cleanly():
            done = prepare_shot(preset.graph, ctx, output_root=root, inputs=[preset_path], note=note,
                                cache_bytes=cache_mb * (1 << 20) if cache_mb is not None else None)
        if not quiet:
            what = {"loaded": "is valid", "computed": "written", "none": "not needed (no sequence nodes)"}[done.status]
            print(f"shot cache {shot[0]}-{shot[-1]}: {what}" + (f": {done.path}" if done.path else ""), file=sys.stderr)
        if progress_lines:
            print("Progress: 100%", flush=True)
        return EXIT_OK
    for option, path in (("--stats", stats), ("--report", report)):
        why = output_problem(path, root, planned_inputs(preset.graph, ctx, [preset_path])) if path else None
        if why is not None:
            raise UsageError(f"{option} file {why}", file=path)
    bar = None

    def progress(done, total, frame, seconds):
        nonlocal bar
        if progress_lines:  # Deadline's CommandLine plugin: stdout, its own line, flushed
            print(f"Progress: {100 * done // total if total else 100}%", flush=True)
        if quiet:
            return
        if frame is None:  # the start: the total is known
            if sys.stderr.isatty():
                from tqdm import tqdm

                bar = tqdm(total=total, unit="frame", file=sys.stderr, desc=os.path.basename(preset_path))
        elif bar is not None:
            bar.update(1)
        else:
            print(f"frame {frame} done in {seconds:.2f}s", file=sys.stderr, flush=True)

    with _terminate_cleanly():
        try:
            result = render(preset.graph, ctx, frames=frames, mode=mode, progress=progress, output_root=root,
                            inputs=[preset_path], cache_bytes=cache_mb * (1 << 20) if cache_mb is not None else None,
                            shot_cache=True if shot_spec else None, note=note)
        except BaseException as exc:
            partial = getattr(exc, "render_result", None)  # set once frames started: report what was done
            if partial is not None:
                _write_reports(stats, report, partial.stats_json(preset=preset_path))
            raise
        finally:
            if bar is not None:
                bar.close()
        _write_reports(stats, report, result.stats_json(preset=preset_path))
    if not quiet:
        skipped = len(result.skipped)
        cache = result.shot_cache
        cached = f" (shot cache {cache.status}: {cache.path})" if cache is not None and cache.path else ""
        print(f"rendered {len(result.frames)} frame(s)" + (f", skipped {skipped} existing" if skipped else "") + cached,
              file=sys.stderr)
    counted = events.summary(result.stats_json())
    if counted:  # fold-overs, repaired samples: said once per run, even with --quiet
        print(f"facewarp: note: {counted}", file=sys.stderr)
    figures = events.figures_line(result.stats_json())
    if figures and not quiet:  # transfer error, tracking status, ...: the run's quality at a glance
        print(f"facewarp: figures: {figures}", file=sys.stderr)
    return EXIT_OK


def _write_reports(stats: str | None, report: str | None, data: dict) -> None:
    if stats:
        _write_json(stats, data)
    if report:
        _write_json(report, dict(events.report(data), preset=data.get("preset")))


def _write_json(path: str, data) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    remove_stale_temps([path])
    # stats are a report the user asked for: replacing is expected
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)


def demo_preset() -> str:
    """The bundled demo preset, found through the installed package."""
    return str(resources.files("facewarp.presets").joinpath("reanimate.yaml"))


def cmd_demo(args) -> int:
    """Generate plates from data a dependency ships, then run a preset over them."""
    from facewarp.imaging.demo import write_demo_plates

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        assert w > 0 and h > 0
    except (ValueError, AssertionError):
        raise UsageError(f"--size must be WxH like 3840x2160, got '{args.size}'") from None
    frames = parse_frames(args.frames)
    plates = os.path.join(args.out, "plates", "plate.####.exr")
    renders = os.path.join(args.out, "render", "render.####.exr")
    stmaps = os.path.join(args.out, "stmap", "stmap.####.exr")
    print(f"writing demo plates {plates} ({w}x{h}, {len(frames)} frames)", file=sys.stderr)
    write_demo_plates(plates, frames, (w, h))
    sets = [f"plate={plates}", f"out={renders}", *([f"stmap={stmaps}"] if args.preset is None else [])]
    rc = run_preset(args.preset or demo_preset(), frames_spec=args.frames, sets=sets, device=args.device,
                    mode="overwrite" if args.overwrite else "error", stats=os.path.join(args.out, "stats.json"),
                    output_root=args.out)
    if rc == EXIT_OK:
        print(f"demo renders: {renders}", file=sys.stderr)
        sheet, movie = _demo_pictures(args, frames, plates, renders, stmaps)
        print(f"demo contact sheet: {sheet}, movie: {movie}", file=sys.stderr)
    return rc


DEMO_SHEET_ROWS = 6  # at most this many rows on the contact sheet
DEMO_MOVIE_WIDTH = 1920  # the MP4 is the render down-scaled to at most this width


def _demo_sheet_frames(frames, keys: str | None) -> list[int]:
    """The frames the contact sheet shows: all of them when few, else the keyframes in the range
    (the preset's ``keys``), else frames spread evenly over the range."""
    import re

    import numpy as np

    frames = sorted(frames)
    if len(frames) <= DEMO_SHEET_ROWS:
        return frames
    keyed = sorted({int(f) for f in re.findall(r"(\d+)\s*:", keys or "")} & set(frames))
    if keyed:
        return keyed[:DEMO_SHEET_ROWS]
    idx = np.linspace(0, len(frames) - 1, DEMO_SHEET_ROWS).round().astype(int)
    return [frames[i] for i in sorted(set(idx))]


def _demo_pictures(args, frames, plates: str, renders: str, stmaps: str) -> tuple[str, str]:
    """After the demo's render: ``<out>/contact_sheet.png`` (input, landmarks, displacement and
    output of the keyframes) and ``<out>/render.mp4`` (H.264 of the render)."""
    from facewarp.core.conventions import stmap_to_displacement
    from facewarp.core.frames import frame_path
    from facewarp.face.tracking import track_frame
    from facewarp.imaging.contact_sheet import SheetRow, contact_sheet, display_tile, write_png
    from facewarp.imaging.movie import write_mp4
    from facewarp.imaging.plates import read_plate

    preset = load_preset(find_preset(args.preset) if args.preset else demo_preset())
    keys = preset.values.get("keys")
    rows = []
    for f in _demo_sheet_frames(frames, keys if isinstance(keys, str) else None):
        plate = read_plate(frame_path(plates, f)).pixels
        stmap_file = frame_path(stmaps, f)
        field = None
        if os.path.isfile(stmap_file):
            st = read_plate(stmap_file, channels="forward.u,forward.v").pixels
            field = stmap_to_displacement(st)
        rows.append(SheetRow(f, plate, read_plate(frame_path(renders, f)).pixels, track_frame(plate).points, field))
    sheet_path = os.path.join(args.out, "contact_sheet.png")
    write_png(sheet_path, contact_sheet(rows, tile_width=320), overwrite=args.overwrite)

    def movie_frames():
        for f in frames:
            px = read_plate(frame_path(renders, f)).pixels
            h, w = px.shape[:2]
            size = (w, h) if w <= DEMO_MOVIE_WIDTH else (DEMO_MOVIE_WIDTH, round(h * DEMO_MOVIE_WIDTH / w))
            yield display_tile(px, size)

    movie_path = os.path.join(args.out, "render.mp4")
    write_mp4(movie_frames(), movie_path, fps=float(preset.fps or 24.0), overwrite=args.overwrite)
    return sheet_path, movie_path
