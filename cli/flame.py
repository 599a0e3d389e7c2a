"""``facewarp convert-flame SRC.pkl DST.npz``: argument parsing over
:func:`facewarp.face.flame.convert_flame`."""

from __future__ import annotations

import argparse
import sys

from facewarp.core.errors import EXIT_INVALID, EXIT_OK
from facewarp.face.flame import N_FLAME_SHAPE, ModelError, convert_flame


def convert_flame_main(argv=None) -> int:
    """``facewarp convert-flame SRC.pkl DST.npz [--embedding E] [--overwrite] [--n-shape 300]``;
    returns the exit code (2 on a refused/missing input or existing output)."""
    ap = argparse.ArgumentParser(prog="facewarp convert-flame",
                                 description="Convert a FLAME .pkl to a plain-array .npz (no chumpy, no pickle).")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--embedding", default=None, help="landmark embedding (.npz or DECA landmark_embedding.npy)")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--n-shape", type=int, default=N_FLAME_SHAPE)
    args = ap.parse_args(argv)
    try:
        out = convert_flame(args.src, args.dst, args.embedding, args.overwrite, args.n_shape)
    except (ModelError, FileExistsError, FileNotFoundError) as exc:
        print(f"facewarp: error: convert-flame: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {out}")
    return EXIT_OK
