"""``facewarp train wggan|hrhgan SOURCE... --out DIR``: argument parsing over
:func:`facewarp.networks.training.train`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from facewarp.core.errors import EXIT_INVALID, EXIT_OK, EXIT_RENDER_FAILED
from facewarp.networks.checkpoint import CheckpointError
from facewarp.networks.training import KINDS, TrainConfig, train


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="facewarp train", description="Train WgGAN or HrhGAN per shot "
                                 "(a video / image sequence whose first frame is the rest expression) or on a "
                                 "folder of such sequences.")
    ap.add_argument("kind", choices=KINDS)
    ap.add_argument("source", nargs="+", help="video file(s), image-sequence folder(s), or a folder of sequences")
    ap.add_argument("--out", required=True, help="checkpoint folder")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--size", type=int, default=None, help="network crop size (default 256)")
    ap.add_argument("--every", type=int, default=10, help="use every N-th frame (the paper: 10)")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--ckpt-every", type=int, default=None)
    ap.add_argument("--resume", default=None, help="checkpoint to continue from, or 'auto' (latest in --out)")
    ap.add_argument("--overwrite", action="store_true", help="allow starting afresh in a folder that holds checkpoints")
    ap.add_argument("--no-progress", action="store_true")
    # Every other TrainConfig field becomes an option of its own type.
    for f in fields(TrainConfig):
        if f.name in ("kind", "size", "steps", "batch", "seed", "device", "ckpt_every"):
            continue
        kind = _parse_bool if isinstance(f.default, bool) else type(f.default)
        ap.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None)
    return ap


def train_main(argv: list[str] | None = None) -> int:
    """``facewarp train wggan|hrhgan SOURCE... --out DIR [options]``; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors -> exit code 2, --help -> 0
        return int(exc.code or 0)
    opts = {f.name: getattr(args, f.name, None) for f in fields(TrainConfig) if f.name not in ("kind",)}
    try:
        tr = train(args.kind, args.source, args.out, every=args.every, max_frames=args.max_frames, resume=args.resume,
                   overwrite=args.overwrite, progress=not args.no_progress, **opts)
    except (FileNotFoundError, FileExistsError, CheckpointError, ValueError, OSError) as exc:
        print(f"facewarp train: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except RuntimeError as exc:
        print(f"facewarp train: {exc}", file=sys.stderr)
        return EXIT_RENDER_FAILED
    print(f"facewarp train: {tr.cfg.kind} step {tr.step}, last checkpoint {tr.checkpoints[-1] if tr.checkpoints else '-'}")
    return EXIT_OK
