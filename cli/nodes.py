"""``facewarp nodes [TYPE] [--json]``: the node types and their schemas; ``facewarp presets [--json]``: the
bundled presets."""

from __future__ import annotations

import json

from facewarp import __version__, api
from facewarp.core.errors import EXIT_OK
from facewarp.graph import registry


def add_parsers(sub) -> None:
    nodes = sub.add_parser("nodes", help="list node types, or describe one")
    nodes.add_argument("type", nargs="?")
    nodes.add_argument("--json", action="store_true", help="machine-readable schema for host UIs")
    nodes.set_defaults(func=cmd_nodes)
    presets = sub.add_parser("presets", help="list the bundled presets (run or validate them by name)")
    presets.add_argument("--json", action="store_true", help="names, descriptions and files as JSON")
    presets.set_defaults(func=cmd_presets)


def cmd_nodes(args) -> int:
    types = registry.node_types()
    if args.type:
        cls = registry.get(args.type)
        print(json.dumps(cls.schema.to_json(), indent=2) if args.json else cls.schema.help_text())
        return EXIT_OK
    if args.json:
        print(json.dumps({"facewarp": __version__, "nodes": [c.schema.to_json() for c in types.values()]}, indent=2))
        return EXIT_OK
    width = max(len(t) for t in types)
    for name, cls in types.items():
        print(f"{name:<{width}}  {cls.schema.category:<10} {cls.schema.doc.split('. ')[0]}")
    return EXIT_OK


def cmd_presets(args) -> int:
    found = api.presets()
    if args.json:
        print(json.dumps({"facewarp": __version__, "presets": found}, indent=2))
        return EXIT_OK
    width = max((len(p["name"]) for p in found), default=0)
    for p in found:
        print(f"{p['name']:<{width}}  {p['description']}")
    return EXIT_OK
