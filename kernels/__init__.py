"""facewarp.kernels: geometric primitives, each a CUDA source (``*.cu``, loaded with CuPy)
plus a CPU twin with the same signature and a dispatcher (see ``_dispatch``).

    sampling   bilinear backward warp with border modes, bilinear/area resampling
    reswarp    fused residual warp (field up-sample + residual sample + add, one pass)
    raster     triangle rasteriser: z-buffer, back-face culling, top-left rule,
               barycentric attribute interpolation
    triwarp    piecewise-affine triangle warp (raster + affine map + sample, one pass)

The CPU twins are serial ``nogil`` numba functions over a range of row tasks, run on
``numba.get_num_threads()`` threads by ``_dispatch.parallel_tasks`` (chunks handed out first
come first served, so a core shared with another job slows the kernel by its share only; no
numba ``prange``, whose bodies cost twice the compile time). ``numba.set_num_threads`` (and
``NUMBA_NUM_THREADS``) therefore still set how many threads a kernel uses.

Every kernel module imports numba, and this package's ``__init__`` runs first, so the numba
run-time settings are made here, before numba is imported (numba and OpenMP read them once,
at import / first parallel launch). Each is a default only: a variable already set in the
environment wins (docs/geometry.md, "Kernels on a shared machine").

    OMP_WAIT_POLICY=passive
        OpenMP workers (numba's layer, torch's) sleep when a parallel region ends instead of
        spinning for ~0.1-0.2 s:
        spinning workers steal the cores of whatever runs next (OpenCV, OpenEXR's threads, the
        next kernel) and of other jobs on a shared node (measured 3.2x slower kernels with one
        core held by another process).
    NUMBA_THREADING_LAYER_PRIORITY="omp tbb workqueue"
        the layer numba picks when NUMBA_THREADING_LAYER is unset (or "default"): OpenMP,
        which honours the wait policy above, else TBB, else numba's own workqueue (which does
        not spin but aborts the process when two Python threads launch kernels at once).
    NUMBA_CACHE_DIR
        only when the package directory is read-only (a shared or system install): compiled
        kernels are cached in ``$XDG_CACHE_HOME/facewarp/numba`` (``~/.cache/facewarp/numba``),
        else a per-user folder in the temp directory, so no task compiles them again.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def numba_cache_dir(environ: MutableMapping[str, str] = os.environ, package_dir: Path = _HERE) -> str | None:
    """Where compiled kernels are cached when ``package_dir`` cannot hold numba's in-tree
    ``__pycache__``; None when it can (numba's own default) or when nothing is writable."""
    pycache = package_dir / "__pycache__"
    if os.access(package_dir, os.W_OK | os.X_OK) and (not pycache.exists() or os.access(pycache, os.W_OK | os.X_OK)):
        return None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    for candidate in (Path(base) / "facewarp" / "numba", Path(tempfile.gettempdir()) / f"facewarp-{uid}" / "numba"):
        if _writable_dir(candidate):
            return str(candidate)
    return None


def configure_numba(environ: MutableMapping[str, str] = os.environ, package_dir: Path = _HERE) -> dict[str, str]:
    """Set the defaults described in the module doc in ``environ`` (values already there are
    kept) and return what was set. Without effect once numba is imported: called below,
    before any kernel module imports it (numba imported earlier by the caller's own code keeps
    the threading layer and cache folder it read; the wait policy still applies while no
    parallel kernel has run)."""
    done: dict[str, str] = {}

    def default(name: str, value: str | None) -> None:
        if value is not None and name not in environ:
            environ[name] = done[name] = value

    default("OMP_WAIT_POLICY", "passive")
    default("NUMBA_THREADING_LAYER_PRIORITY", "omp tbb workqueue")
    if "NUMBA_CACHE_DIR" not in environ:
        default("NUMBA_CACHE_DIR", numba_cache_dir(environ, package_dir))
    return done


NUMBA_DEFAULTS = configure_numba()
NUMBA_WAS_IMPORTED_FIRST = "numba" in sys.modules  # by the caller: the settings above came too late for it
