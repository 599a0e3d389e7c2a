"""Importing the two mediapipe solutions facewarp uses, and not the rest of mediapipe.

``import mediapipe`` runs three package ``__init__`` files that import every legacy solution
(hands, pose, holistic, objectron, ... with matplotlib.pyplot for the drawing helpers) and the
whole Tasks API: 0.21-0.25 s on the machines here, in every process that tracks or checks a
face. facewarp needs ``face_detection`` and ``face_mesh`` (0.02 s on their own).

:func:`import_solutions` puts *partial packages* in ``sys.modules`` for ``mediapipe``,
``mediapipe.python`` and ``mediapipe.python.solutions``: real package modules (spec, path,
loader) whose ``__init__`` has not run yet, so their submodules import as usual. The first lookup
of a name such a package does not have (``mp.solutions``, ``mp.__version__``, a star import), or
``dir()`` of it, runs the real ``__init__`` into the same module object; so code that imports mediapipe later in
the process (a host, a user's script) gets the whole package, the same module objects included.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

from facewarp.core.quiet import quiet_native, verbose

PACKAGES = ("mediapipe", "mediapipe.python", "mediapipe.python.solutions")
SOLUTIONS = ("face_detection", "face_mesh")


class PartialPackage(types.ModuleType):
    """A package module whose ``__init__`` runs on the first lookup of a name it lacks."""

    def __getattr__(self, attr):
        d = self.__dict__
        if d.get("_facewarp_completing"):  # inside its own __init__: a missing name is missing
            raise AttributeError(f"partially initialized module {self.__name__!r} has no attribute {attr!r}")
        complete(self)
        return getattr(self, attr)

    def __dir__(self):  # a console's completion lists the whole package
        if not self.__dict__.get("_facewarp_completing"):
            complete(self)
        return sorted(self.__dict__)


def complete(module: types.ModuleType) -> None:
    """Run a :class:`PartialPackage`'s real ``__init__`` into it; then it is a plain module."""
    if not isinstance(module, PartialPackage):
        return
    module.__dict__["_facewarp_completing"] = True
    try:
        module.__spec__.loader.exec_module(module)
    finally:
        del module.__dict__["_facewarp_completing"]
    module.__class__ = types.ModuleType


def _install_partial(name: str) -> PartialPackage:
    spec = importlib.util.find_spec(name)  # a subpackage's spec comes from its (partial) parent's __path__
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"no package {name!r}", name=name)
    module = importlib.util.module_from_spec(spec)
    module.__class__ = PartialPackage
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def import_solutions() -> types.ModuleType:
    """``mediapipe.python.solutions`` with ``face_detection`` and ``face_mesh`` imported; the rest
    of mediapipe only if it was imported already. Native log lines are silenced unless
    ``facewarp --verbose``."""
    if not verbose():
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native():
        if "mediapipe" not in sys.modules:
            before = set(sys.modules)
            try:
                for name in PACKAGES:
                    _install_partial(name)
                _import_solutions()
            except ImportError:  # a mediapipe laid out otherwise: undo, and import it the usual way
                for name in set(sys.modules) - before:
                    del sys.modules[name]
                import mediapipe  # noqa: F401
        _import_solutions()
    return sys.modules["mediapipe.python.solutions"]


def _import_solutions() -> None:
    for sub in SOLUTIONS:
        importlib.import_module(f"mediapipe.python.solutions.{sub}")
