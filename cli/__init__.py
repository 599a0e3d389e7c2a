"""The ``facewarp`` command line: a thin shell over the engine (``facewarp.graph.render``).

Exit codes: 0 success; 2 invalid preset, arguments or inputs (nothing rendered, or a bad
input file met while rendering); 1 failure while rendering; 130 interrupted; 143 terminated (SIGTERM). User errors
print one line (``facewarp: error: ...``) and no traceback; set FACEWARP_DEBUG=1 to see
tracebacks.

One module per command group: ``render`` (run, validate, demo), ``nodes``, ``farm`` (farm export,
run --dask), ``warmup`` (compile the kernels ahead of the first render), and ``train``,
``onnx``, ``flame``, which parse their own arguments (they take the rest of the command line).
"""

from __future__ import annotations

import argparse
import importlib
import os
import stat
import sys
from typing import NoReturn

from facewarp import __version__
from facewarp.core.errors import EXIT_CANCELLED, EXIT_INVALID, EXIT_RENDER_FAILED, FacewarpError
from facewarp.core.quiet import VERBOSE_ENV

from . import farm, nodes, render, warmup
from .process_exit import end_process


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"facewarp: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


# name -> (module in facewarp.cli, its main, help). Imported on use: they pull in torch.
DELEGATED = {
    "train": ("train", "train_main", "train WgGAN or HrhGAN on a shot (facewarp train wggan|hrhgan --help)"),
    "export-onnx": ("onnx", "export_onnx_main", "export a WgGAN/HrhGAN checkpoint to ONNX (dynamic batch)"),
    "convert-flame": ("flame", "convert_flame_main", "convert a FLAME .pkl to the plain-array .npz facewarp loads"),
}


VERBOSE_HELP = "show third-party libraries' own log output (OpenEXR, MediaPipe, TFLite, ...)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="facewarp", description="Node-graph face reanimation for VFX plates.")
    parser.add_argument("--version", action="version", version=f"facewarp {__version__}")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    render.add_parsers(sub)
    for name, (_, _, text) in DELEGATED.items():  # listed in --help; parsed by their own modules
        sub.add_parser(name, help=text, add_help=False)
    nodes.add_parsers(sub)
    farm.add_parsers(sub)
    warmup.add_parsers(sub)
    for name, command in sub.choices.items():  # also after the command: facewarp run p.yaml --verbose
        if name not in DELEGATED and "--verbose" not in command._option_string_actions:
            command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def _delegate(name: str, argv: list[str]) -> int:
    module, func, _ = DELEGATED[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "--verbose" and len(argv) > 1 and argv[1] in DELEGATED:
        os.environ[VERBOSE_ENV] = "1"
        argv = argv[1:]
    if argv and argv[0] in DELEGATED:
        try:
            return _delegate(argv[0], argv[1:])
        except FacewarpError as exc:
            print(f"facewarp: error: {exc}", file=sys.stderr)
            return exc.exit_code
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        os.environ[VERBOSE_ENV] = "1"  # read by the libraries that silence native log output
    if not args.command:
        parser.print_help()
        return EXIT_INVALID
    try:
        return args.func(args)
    except FacewarpError as exc:
        if os.environ.get("FACEWARP_DEBUG"):
            import traceback

            traceback.print_exc()
        print(f"facewarp: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("facewarp: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        if not _stdout_is_a_pipe():
            raise
        # the pipe's reader went away (facewarp nodes --json | head): nothing is left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_RENDER_FAILED
    except Exception as exc:  # a bug, not a user error: keep the traceback for the report
        import traceback

        traceback.print_exc()
        print(f"facewarp: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_RENDER_FAILED


def _stdout_is_a_pipe() -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


def run(argv: list[str] | None = None) -> NoReturn:
    """The ``facewarp`` command itself (console script, ``python -m facewarp``): :func:`main`, then
    the process ends without the interpreter's teardown (``process_exit``). In-process callers
    (tests, hosts) call :func:`main`, which returns the exit code."""
    end_process(main(argv))


if __name__ == "__main__":
    run()
