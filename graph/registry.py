"""Node-type registry.

Every node type, the built-in ones included, comes through the ``facewarp.nodes`` entry-point
group: facewarp's own ``pyproject.toml`` lists ``facewarp.nodes:NODE_TYPES``, and a studio
package lists its own. An entry point names a ``Node`` subclass, a module (its ``Node``
subclasses are taken) or a sequence of ``Node`` subclasses. The engine therefore imports no
node module; ``register`` adds a type by hand (tests, hosts).
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from types import ModuleType

from facewarp.core.errors import ValidationError, cut

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


def load_entry_points() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for ep in entry_points(group="facewarp.nodes"):
        obj = ep.load()
        if inspect.ismodule(obj):
            _register_module(obj)
        elif inspect.isclass(obj):
            register(obj)
        else:
            for cls in obj:
                register(cls)


def node_types() -> dict[str, type[Node]]:
    load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def get(type_name: str) -> type[Node]:
    types = node_types()
    if type_name not in types:
        raise ValidationError(f"unknown node type '{cut(type_name)}' (known: {', '.join(types)})")
    return types[type_name]


def create(type_name: str, name: str, params=None, *, bypass: bool = False) -> Node:
    return get(type_name)(name, params, bypass=bypass)
