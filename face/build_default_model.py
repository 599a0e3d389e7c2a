"""Write the embedded default face model: ``python -m facewarp.face.build_default_model [--force]``.

The file (``nodes/data/default_face.npz``, a few hundred kB) is generated entirely by
:func:`facewarp.face.default_model.build_default_model`; nothing is copied from any asset.
"""

from __future__ import annotations

import sys

from facewarp.face.default_model import DATA_PATH, build_default_model


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    model = build_default_model()
    DATA_PATH.parent.mkdir(parents=True, exist_ok=True)
    model.save_npz(DATA_PATH, overwrite="--force" in argv)
    print(f"wrote {DATA_PATH} ({DATA_PATH.stat().st_size / 1024:.0f} kB): {model.n_vertices} vertices, "
          f"{len(model.faces)} faces, {model.n_shape} shape, {model.n_expr} expression components")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
