"""``facewarp farm export`` and ``facewarp run --dask``: thin shells over :mod:`facewarp.farm`."""

from __future__ import annotations

import os
import sys

from facewarp.api import preset_path as find_preset
from facewarp.core.errors import EXIT_OK, UsageError
from facewarp.graph.context import DEVICES

FORMATS = ("openjd", "deadline", "opencue")


def add_parsers(sub) -> None:
    farm = sub.add_parser("farm", help="render farm jobs: export a preset as an OpenJD, Deadline or OpenCue job")
    verbs = farm.add_subparsers(dest="farm_command", metavar="VERB", parser_class=type(farm))
    exp = verbs.add_parser("export", help="write a job: a shot-cache step, then frame chunks depending on it")
    exp.add_argument("preset", help="YAML preset file, or a bundled preset's name (facewarp presets)")
    exp.add_argument("--frames", help="the shot: 1001-1100, 1-3,7 (default: the preset's frames:)")
    exp.add_argument("--chunk", type=int, default=10, help="frames per render task (default 10)")
    exp.add_argument("--format", required=True, choices=FORMATS, help="job format")
    exp.add_argument("--out", required=True, metavar="DIR", help="folder for the job files")
    exp.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                     help="set a preset variable (repeatable); path values are made absolute")
    exp.add_argument("--output-root", metavar="DIR", help="folder the tasks may write under (default: the current "
                     "directory), passed to every task as an absolute path")
    exp.add_argument("--device", choices=DEVICES, default="auto")
    exp.add_argument("--name", help="job name (default: facewarp_<preset>_<first>-<last>)")
    exp.add_argument("--overwrite", action="store_true", help="replace job files already in DIR")
    exp.set_defaults(func=cmd_export)
    farm.set_defaults(func=lambda args: _farm_help(farm))


def _farm_help(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def cmd_export(args) -> int:
    from facewarp.farm import build_job, export

    job = build_job(find_preset(args.preset), frames_spec_text=args.frames, chunk=args.chunk, sets=args.sets,
                    output_root=args.output_root, device=args.device, name=args.name)
    written = export(job, args.format, args.out, overwrite=args.overwrite)
    n = len(job.chunks())
    print(f"{args.format} job '{job.name}': shot cache step, then {n} render task(s) of at most {job.chunk} frame(s) "
          f"over {job.shot}", file=sys.stderr)
    for path in written:
        print(os.path.abspath(path))
    return EXIT_OK


def run_dask(args, mode: str) -> int:
    """``facewarp run PRESET --dask local:N|tcp://HOST:PORT``."""
    from facewarp.farm.dask_run import run_on_dask

    if args.stats or args.report:
        raise UsageError("--stats and --report are not written by a --dask run (each chunk runs elsewhere)")
    return run_on_dask(find_preset(args.preset), args.dask, frames_spec=args.frames, shot_spec=args.shot,
                       sets=args.sets, device=args.device, mode=mode, output_root=args.output_root,
                       chunk=args.chunk, quiet=args.quiet, progress_lines=args.progress_lines,
                       cache_mb=args.cache_mb)
