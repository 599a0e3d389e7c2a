"""``facewarp export-onnx CHECKPOINT OUT.onnx``: argument parsing over
:func:`facewarp.networks.inference.export_onnx`."""

from __future__ import annotations

import argparse
import sys

from facewarp.core.errors import EXIT_INVALID, EXIT_OK, EXIT_RENDER_FAILED
from facewarp.networks.checkpoint import CheckpointError
from facewarp.networks.inference import export_onnx


def export_onnx_main(argv: list[str] | None = None) -> int:
    """``facewarp export-onnx CHECKPOINT OUT.onnx [--opset N] [--size S] [--overwrite]``."""
    ap = argparse.ArgumentParser(prog="facewarp export-onnx",
                                 description="Export a WgGAN/HrhGAN checkpoint's generator to ONNX (dynamic batch axis).")
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--size", type=int, default=None, help="crop size (default: the checkpoint's)")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--no-check", action="store_true", help="skip the torch vs onnxruntime parity check")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors -> exit code 2, --help -> 0
        return int(exc.code or 0)
    try:
        res = export_onnx(args.checkpoint, args.out, opset=args.opset, size=args.size, overwrite=args.overwrite,
                          check=not args.no_check)
    except (FileNotFoundError, FileExistsError, CheckpointError) as exc:
        print(f"facewarp export-onnx: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except RuntimeError as exc:
        print(f"facewarp export-onnx: {exc}", file=sys.stderr)
        return EXIT_RENDER_FAILED
    diff = "unchecked" if res["max_abs_diff"] is None else f"max |torch - ort| = {res['max_abs_diff']:.2e}"
    print(f"facewarp export-onnx: wrote {res['path']} ({res['kind']}, {res['size']}^2, {diff})")
    return EXIT_OK
