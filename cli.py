"""The ``facewarp`` command line.

Exit codes: 0 success; 2 invalid preset, arguments or inputs (nothing rendered, or a bad
input file met while rendering); 1 failure while rendering. User errors print one line
(``facewarp: error: ...``) and no traceback; set FACEWARP_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from facewarp import __version__
from facewarp.graph import registry
from facewarp.graph.context import DEVICES, parse_frames
from facewarp.core.errors import EXIT_INVALID, EXIT_OK, EXIT_RENDER_FAILED, FacewarpError, OutputExistsError, UsageError
from facewarp.graph.evaluate import Evaluator
from facewarp.core.files import atomic_output
from facewarp.graph.preset import load_preset
from facewarp.core.frames import frames_on_disk, has_token


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"facewarp: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def _convert_flame(argv):
    from facewarp.face.flame import convert_flame_main

    return convert_flame_main(argv)


def _train(argv):
    from facewarp.networks.training import train_main

    return train_main(argv)


def _export_onnx(argv):
    from facewarp.networks.inference import export_onnx_main

    return export_onnx_main(argv)


# Subcommands with their own argument parsers (they take the rest of the command line).
DELEGATED = {
    "train": (_train, "train WgGAN or HrhGAN on a shot (facewarp train wggan|hrhgan --help)"),
    "export-onnx": (_export_onnx, "export a WgGAN/HrhGAN checkpoint to ONNX (dynamic batch)"),
    "convert-flame": (_convert_flame, "convert a FLAME .pkl to the plain-array .npz facewarp loads"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="facewarp", description="Node-graph face reanimation for VFX plates.")
    parser.add_argument("--version", action="version", version=f"facewarp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="render a preset over a frame range")
    run.add_argument("preset", help="YAML preset file")
    run.add_argument("--frames", help="1001-1100, 1001-1100x2 or 1,5,9 (default: the preset's, else the plate's)")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                     help="set a preset variable (repeatable)")
    run.add_argument("--device", choices=DEVICES, default="auto")
    policy = run.add_mutually_exclusive_group()
    policy.add_argument("--overwrite", action="store_true", help="replace existing output frames")
    policy.add_argument("--skip-existing", action="store_true", help="render only frames whose outputs are missing")
    run.add_argument("--stats", metavar="FILE", help="write per-node timing as JSON")
    run.add_argument("--cache-mb", type=int, default=None, help="result cache size (default 2048 or FACEWARP_CACHE_MB)")
    run.add_argument("--quiet", action="store_true", help="no progress output")

    val = sub.add_parser("validate", help="check a preset without rendering")
    val.add_argument("preset")
    val.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    val.add_argument("--frames")

    demo = sub.add_parser("demo", help="render the bundled demo: generated plates through a preset")
    demo.add_argument("--out", default="facewarp_demo", help="folder for the demo plates and renders")
    demo.add_argument("--preset", default=None, help="preset to run (default: the bundled demo preset)")
    demo.add_argument("--frames", default="1001-1005")
    demo.add_argument("--size", default="1280x720", help="plate size WxH, e.g. 3840x2160")
    demo.add_argument("--device", choices=DEVICES, default="auto")
    demo.add_argument("--overwrite", action="store_true")

    for name, (_, text) in DELEGATED.items():  # listed in --help; parsed by their own modules
        sub.add_parser(name, help=text, add_help=False)

    nodes = sub.add_parser("nodes", help="list node types, or describe one")
    nodes.add_argument("type", nargs="?")
    nodes.add_argument("--json", action="store_true", help="machine-readable schema for host UIs")
    return parser


def _default_frames(preset) -> tuple[int, ...]:
    """No --frames and no preset range: the frames on disk of the first sequence read."""
    ctx = preset.context(frames=())
    for node in preset.graph.nodes.values():
        if node.schema.type == "PlateRead":
            pattern = ctx.substitute(node.params["path"], frames=False)
            if isinstance(pattern, str) and has_token(pattern):
                found = frames_on_disk(pattern)
                if found:
                    return tuple(found)
    raise UsageError("no frame range: give --frames, a 'frames:' key in the preset, or a plate sequence on disk")


def _load(args):
    preset = load_preset(args.preset)
    preset.apply_sets(args.sets)
    frames = parse_frames(args.frames) if args.frames else (parse_frames(preset.frames) if preset.frames else None)
    if frames is None:
        frames = _default_frames(preset)
    return preset, frames


def cmd_validate(args) -> int:
    preset, frames = _load(args)
    ctx = preset.context(frames)
    problems = preset.graph.problems(ctx)
    if not preset.graph.outputs:
        problems.append(UsageError("the preset renders nothing: list writer nodes under 'outputs:'", source=preset.path))
    for p in problems:
        print(f"facewarp: error: {p}", file=sys.stderr)
    if problems:
        return EXIT_INVALID
    print(f"{args.preset}: ok ({len(preset.graph.nodes)} nodes, frames {frames[0]}-{frames[-1]} ({len(frames)}))")
    return EXIT_OK


def cmd_run(args) -> int:
    preset, frames = _load(args)
    mode = "overwrite" if args.overwrite else "skip" if args.skip_existing else "error"
    ctx = preset.context(frames, device=args.device, write_mode=mode)
    graph = preset.graph
    graph.validate(ctx)
    if not graph.outputs:
        raise UsageError("the preset renders nothing: list writer nodes under 'outputs:'", source=preset.path)

    # Pre-flight: decide what to render before computing anything, so a refused overwrite
    # costs nothing and --skip-existing does not even read the plates of finished frames.
    todo, clashes = [], []
    for frame in frames:
        fctx = ctx.at(frame)
        planned = [p for name in graph.outputs for p in graph.nodes[name].planned_outputs(fctx)]
        existing = [p for p in planned if os.path.exists(p)]
        clashes += [(frame, p) for p in existing]
        if mode == "skip" and planned and len(existing) == len(planned):
            continue
        todo.append(frame)
    if clashes and mode == "error":
        frame, first = clashes[0]
        more = f" (and {len(clashes) - 1} more output file(s) of this run)" if len(clashes) > 1 else ""
        raise OutputExistsError(f"exists{more}; use --overwrite to replace or --skip-existing to keep",
                                file=first, frame=frame)

    cache = args.cache_mb * (1 << 20) if args.cache_mb is not None else None
    evaluator = Evaluator(graph, **({"cache_bytes": cache} if cache is not None else {}))
    progress = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        progress = tqdm(total=len(todo), unit="frame", file=sys.stderr, desc=os.path.basename(args.preset))
    started = time.perf_counter()
    try:
        for frame in todo:
            t0 = time.perf_counter()
            evaluator.forget_hashes()
            fctx = ctx.at(frame)
            for name in graph.outputs:
                evaluator.pull(name, fctx)
            if progress is not None:
                progress.update(1)
            elif not args.quiet:
                print(f"frame {frame} done in {time.perf_counter() - t0:.2f}s", file=sys.stderr, flush=True)
    finally:
        if progress is not None:
            progress.close()
        if args.stats:
            stats = evaluator.stats_json()
            stats.update({"preset": args.preset, "frames": list(todo), "skipped": [f for f in frames if f not in todo],
                          "seconds": round(time.perf_counter() - started, 6), "device": args.device})
            _write_json(args.stats, stats)
    if not args.quiet:
        skipped = len(frames) - len(todo)
        print(f"rendered {len(todo)} frame(s)" + (f", skipped {skipped} existing" if skipped else ""), file=sys.stderr)
    return EXIT_OK


def _write_json(path: str, data) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # stats are a report the user asked for: replacing is expected
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)


def cmd_nodes(args) -> int:
    types = registry.node_types()
    if args.type:
        cls = registry.get(args.type)
        print(json.dumps(cls.schema.to_json(), indent=2) if args.json else cls.schema.help_text())
        return EXIT_OK
    if args.json:
        print(json.dumps({"facewarp": __version__, "nodes": [c.schema.to_json() for c in types.values()]}, indent=2))
        return EXIT_OK
    width = max(len(t) for t in types)
    for name, cls in types.items():
        print(f"{name:<{width}}  {cls.schema.category:<10} {cls.schema.doc.split('. ')[0]}")
    return EXIT_OK


DEMO_PRESET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets", "reanimate.yaml")


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
    run_args = [args.preset or DEMO_PRESET, "--frames", args.frames, "--set", f"plate={plates}",
                "--set", f"out={renders}", *(["--set", f"stmap={stmaps}"] if args.preset is None else []), "--device", args.device, "--stats", os.path.join(args.out, "stats.json")]
    if args.overwrite:
        run_args.append("--overwrite")
    rc = cmd_run(build_parser().parse_args(["run", *run_args]))
    if rc == EXIT_OK:
        print(f"demo renders: {renders}", file=sys.stderr)
    return rc


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "nodes": cmd_nodes, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        try:
            return DELEGATED[argv[0]][0](argv[1:])
        except FacewarpError as exc:
            print(f"facewarp: error: {exc}", file=sys.stderr)
            return exc.exit_code
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_INVALID
    try:
        return COMMANDS[args.command](args)
    except FacewarpError as exc:
        if os.environ.get("FACEWARP_DEBUG"):
            import traceback

            traceback.print_exc()
        print(f"facewarp: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("facewarp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user error: keep the traceback for the report
        import traceback

        traceback.print_exc()
        print(f"facewarp: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_RENDER_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
