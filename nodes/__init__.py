"""Built-in node types, one module per type (discovered by facewarp.graph.registry)."""
