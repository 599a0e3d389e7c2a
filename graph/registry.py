"""Node-type registry.

Built-in node types are the ``Node`` subclasses defined in the modules of
``facewarp.nodes`` (one module per type, discovered automatically). Third-party packages add
types through the ``facewarp.nodes`` entry-point group; each entry point names a ``Node``
subclass (or a module whose ``Node`` subclasses are taken).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType

from .errors import ValidationError
from .node import Node

_REGISTRY: dict[str, type[Node]] = {}
_LOADED = False


def register(cls: type[Node]) -> type[Node]:
    """Register a node class (usable as a decorator)."""
    if not (inspect.isclass(cls) and issubclass(cls, Node) and hasattr(cls, "schema")):
        raise TypeError(f"{cls!r} is not a Node subclass with a schema")
    existing = _REGISTRY.get(cls.schema.type)
    if existing is not None and existing is not cls:
        raise ValueError(f"node type {cls.schema.type} registered twice ({existing.__module__} and {cls.__module__})")
    _REGISTRY[cls.schema.type] = cls
    return cls


def _register_module(module: ModuleType) -> None:
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, Node) and obj is not Node and obj.__module__ == module.__name__ and "schema" in obj.__dict__:
            register(obj)


def load_builtin_and_plugins() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import facewarp.nodes as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            _register_module(importlib.import_module(f"facewarp.nodes.{info.name}"))
    for ep in entry_points(group="facewarp.nodes"):
        obj = ep.load()
        if inspect.ismodule(obj):
            _register_module(obj)
        else:
            register(obj)


def node_types() -> dict[str, type[Node]]:
    load_builtin_and_plugins()
    return dict(sorted(_REGISTRY.items()))


def get(type_name: str) -> type[Node]:
    types = node_types()
    if type_name not in types:
        raise ValidationError(f"unknown node type '{type_name}' (known: {', '.join(types)})")
    return types[type_name]


def create(type_name: str, name: str, params=None, *, bypass: bool = False) -> Node:
    return get(type_name)(name, params, bypass=bypass)
