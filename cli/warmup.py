"""``facewarp warmup``: compile the CPU kernels ahead of the first render, once per install.

numba compiles a kernel the first time a process calls it and caches the machine code (in
``kernels/__pycache__``, or ``NUMBA_CACHE_DIR`` / ``~/.cache/facewarp/numba`` when the package is
read-only: README "Kernels"). Without this, the first render task on a fresh machine compiles for
about 10 s. ``warmup`` renders each bundled preset (the network presets with their networks
bypassed) over three small generated frames, RGB and RGBA plates, in a temp folder, so every
kernel signature those renders use lands in the cache; nothing is left behind but the cache.

Run it where the cache will be read: as the user (or with the ``NUMBA_CACHE_DIR``) that renders,
on each CPU type of a farm (numba compiles for the host CPU), after every install or upgrade.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from facewarp.core.errors import EXIT_OK

# Every bundled preset: each runs as shipped on generated plates and embedded data (the network
# presets with their networks bypassed, so ResWarp and the crops still run)
WARMUP_PRESETS = ("grade_exr", "reanimate", "reanimate_mesh", "reanimate_gan", "reenact", "reenact_networks")
WARMUP_SIZE = (320, 180)  # numba compiles per argument type, not per size
WARMUP_FRAMES = (1001, 1002, 1003)


def add_parsers(sub) -> None:
    w = sub.add_parser("warmup", help="compile the CPU kernels into numba's cache once per install, so that the "
                       "first render on a fresh machine compiles nothing")
    w.add_argument("--presets", nargs="+", default=None, metavar="NAME",
                   help=f"bundled presets to render (default: {' '.join(WARMUP_PRESETS)})")
    w.set_defaults(func=cmd_warmup)


def cmd_warmup(args) -> int:
    import numba

    from facewarp.api import preset_path
    from facewarp.graph.preset import load_preset

    from .render import run_preset

    names = args.presets or WARMUP_PRESETS
    paths = {name: preset_path(name) for name in names}  # an unknown name fails before any work
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="facewarp_warmup_") as tmp:
        first, last = WARMUP_FRAMES[0], WARMUP_FRAMES[-1]
        plates = {alpha: _demo_plates(os.path.join(tmp, "rgba" if alpha else "rgb", "plate.####.exr"), alpha)
                  for alpha in (False, True)}
        for name, path in paths.items():
            wanted = load_preset(path).values
            for alpha, pattern in plates.items():
                if alpha and "plate" not in wanted:
                    continue  # reads its own (embedded) inputs: one run is enough
                out = os.path.join(tmp, name + ("_rgba" if alpha else ""))
                sets = [f"{var}={os.path.join(out, var + '.####.exr')}" for var in ("out", "stmap") if var in wanted]
                if "plate" in wanted:
                    sets.append(f"plate={pattern}")
                t0 = time.perf_counter()
                rc = run_preset(path, frames_spec=f"{first}-{last}", sets=sets, quiet=True, output_root=tmp,
                                mode="overwrite")
                if rc != EXIT_OK:
                    return rc
                print(f"warmup: {name}{' (RGBA plates)' if alpha else ''}: {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr)
    cache = numba.config.CACHE_DIR or "kernels/__pycache__ beside each kernel module"
    print(f"warmup: kernels compiled and cached in {cache} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return EXIT_OK


def _demo_plates(pattern: str, alpha: bool) -> str:
    """The demo push-in at ``WARMUP_SIZE`` as half EXRs, with an opaque alpha when ``alpha``."""
    import numpy as np

    from facewarp.core.frames import frame_path
    from facewarp.core.types import Image
    from facewarp.imaging.demo import demo_plate
    from facewarp.imaging.plates import write_plate

    for f in WARMUP_FRAMES:
        img = demo_plate(f, WARMUP_SIZE, first=WARMUP_FRAMES[0])
        if alpha:
            img = Image(np.concatenate([img.pixels, np.ones_like(img.pixels[..., :1])], axis=2), ("R", "G", "B", "A"))
        write_plate(frame_path(pattern, f), img, pixel_type="half")
    return pattern


__all__ = ["WARMUP_PRESETS", "add_parsers", "cmd_warmup"]
