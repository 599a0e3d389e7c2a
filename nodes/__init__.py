"""Built-in node types, one thin module per type (what two types share lives in one of them:
FLAMEFit's model parameters, LandmarkTracker's settings, WgGAN's weights handling).

``NODE_TYPES`` is what facewarp's ``facewarp.nodes`` entry point names: the engine finds the
built-in types exactly as it finds a studio's own.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil


def _node_types() -> tuple:
    from facewarp.graph import Node

    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, Node) and obj.__module__ == module.__name__ and "schema" in obj.__dict__]
    return tuple(found)


NODE_TYPES = _node_types()
