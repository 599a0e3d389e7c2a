"""Importing a few submodules of a big package without running the package's ``__init__``.

``import mediapipe`` imports every mediapipe solution and the Tasks API (0.21-0.25 s) where
facewarp needs the face mesh; ``from scipy.spatial import Delaunay`` imports k-d trees,
distances and rotations (0.12 s) where it needs Qhull. Every render task pays that at start.

:func:`import_submodules` puts *partial packages* in ``sys.modules`` for the packages on the way:
real package modules (spec, ``__path__``, loader) whose ``__init__`` has not run, so submodules
import under them as usual. The first lookup of a name a partial package lacks (``mp.solutions``,
``mp.__version__``, a star import), or ``dir()`` of it, runs the real ``__init__`` into the same
module object, which is then a plain module: code that imports the package later in the process
(a host, a user's script) gets the whole package and the same submodule objects.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

_COMPLETING = "_facewarp_completing"  # in a package's __dict__ while its __init__ runs: the thread's id
_lock = threading.RLock()  # one completion at a time; re-entrant: a package's __init__ completes its subpackages


class PartialPackage(types.ModuleType):
    """A package module whose ``__init__`` runs on the first lookup of a name it lacks."""

    def __getattr__(self, attr):
        if self.__dict__.get(_COMPLETING) == threading.get_ident():  # its own __init__ asks: missing is missing
            raise AttributeError(f"partially initialized module {self.__name__!r} has no attribute {attr!r}")
        complete(self)  # another thread's completion is waited for
        return getattr(self, attr)

    def __dir__(self):  # a console's completion lists the whole package
        if self.__dict__.get(_COMPLETING) != threading.get_ident():
            complete(self)
        return sorted(self.__dict__)


def complete(module: types.ModuleType) -> None:
    """Run a :class:`PartialPackage`'s real ``__init__`` into it; then it is a plain module."""
    with _lock:
        if not isinstance(module, PartialPackage):
            return
        module.__dict__[_COMPLETING] = threading.get_ident()
        try:
            module.__spec__.loader.exec_module(module)
        finally:
            del module.__dict__[_COMPLETING]
        module.__class__ = types.ModuleType


def _install_partial(name: str) -> None:
    spec = importlib.util.find_spec(name)  # a subpackage's spec comes from its (partial) parent's __path__
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"no package {name!r}", name=name)
    module = importlib.util.module_from_spec(spec)
    module.__class__ = PartialPackage
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def import_submodules(packages: tuple[str, ...], submodules: tuple[str, ...]) -> list[types.ModuleType]:
    """The ``submodules`` (full names), imported under partial ``packages`` (outermost first) where
    those are not imported yet. A package laid out otherwise (a submodule not found) is imported
    the usual way instead, what this call added under those packages undone first."""
    before = set(sys.modules)
    try:
        for name in packages:
            if name not in sys.modules:
                _install_partial(name)
        return [importlib.import_module(name) for name in submodules]
    except ImportError:
        for name in set(sys.modules) - before:  # only this call's: another thread may be importing too
            if any(name == p or name.startswith(p + ".") for p in packages):
                del sys.modules[name]
        return [importlib.import_module(name) for name in submodules]
