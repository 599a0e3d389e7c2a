"""The graph: named nodes, connections between typed ports, validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from facewarp.core.errors import FacewarpError, ValidationError, brief, cut

from . import registry
from .context import Context
from .node import Node
from .schema import ANY


def split_ref(ref: Any, what: str = "connection") -> tuple[str, str]:
    """``"node.port"`` -> ("node", "port")."""
    if not isinstance(ref, str) or ref.count(".") < 1:
        raise ValidationError(f"{what} must be 'node.output', got {brief(ref)}")
    node, port = ref.rsplit(".", 1)
    if not node or not port:
        raise ValidationError(f"{what} must be 'node.output', got {brief(ref)}")
    return node, port


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    # (dst node, dst input) -> (src node, src output)
    connections: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # nodes to render (writers)
    # Where things were declared, for error messages: key -> line. Keys: (node,),
    # (node, "param", name), (node, "input", name), ("outputs",).
    lines: dict[tuple, int] = field(default_factory=dict)
    source: str | None = None

    # -- building ---------------------------------------------------------------------
    def add(self, type_name: str, name: str, params: dict | None = None, *, bypass: bool = False) -> Node:
        if name in self.nodes:
            raise self._err(f"a node named '{cut(name)}' already exists", node=name, key=(name,))
        if not isinstance(name, str) or not name or "." in name:
            raise self._err(f"node names must be non-empty and contain no '.', got {brief(name)}", key=(name,))
        try:
            node = registry.create(type_name, name, params, bypass=bypass)
        except FacewarpError as exc:
            line = self.lines.get((name, "param", exc.param)) or self.lines.get((name, "type")) or self.lines.get((name,))
            exc.located(node=name, line=line, source=self.source)
            raise
        self.nodes[name] = node
        return node

    def connect(self, src: str, dst: str) -> None:
        dst_node, dst_port = split_ref(dst, "input")
        src_node, src_port = split_ref(src, f"input '{dst_port}' of node '{dst_node}'")
        self.connections[(dst_node, dst_port)] = (src_node, src_port)

    def inputs_of(self, name: str) -> dict[str, tuple[str, str]]:
        return {port: src for (dst, port), src in self.connections.items() if dst == name}

    def output_type(self, name: str, port: str, _seen: frozenset = frozenset()) -> str | None:
        """The type output ``name.port`` carries (None: no such output): its declared type, or for
        an ``Any`` output the type of what feeds the node's first ``Any`` input - ``Any`` while
        that is unconnected (a problem of its own) or in a cycle."""
        node = self.nodes.get(name)
        spec = node.schema.output(port) if node is not None else None
        if spec is None or spec.type != ANY or name in _seen:
            return None if spec is None else spec.type
        first = next((i.name for i in node.schema.inputs if i.type == ANY), None)
        src = self.connections.get((name, first))
        if src is None:
            return ANY
        return self.output_type(src[0], src[1], _seen | {name}) or ANY

    # -- validation -------------------------------------------------------------------
    def problems(self, ctx: Context | None = None) -> list[FacewarpError]:
        """Every validation problem, each a one-line error; empty when the graph is valid.

        Connections, required inputs, every parameter (at the first frame), cycles and outputs;
        then, for every node the outputs depend on (all nodes when none are listed) that is not
        bypassed and whose parameters are valid, the node's own :meth:`Node.problems` over the
        range ``ctx.frames``: missing input files, keyframes, checkpoints, output formats."""
        ctx = ctx or Context()
        if ctx.frame is None:
            ctx = ctx.at(ctx.frames[0] if ctx.frames else 1)
        out: list[ValidationError] = []
        for (dst, port), (src, src_port) in self.connections.items():
            key = (dst, "input", port)
            if dst not in self.nodes:
                out.append(self._err(f"connection into unknown node '{cut(dst)}'", key=key))
                continue
            dnode = self.nodes[dst]
            spec_in = dnode.schema.input(port)
            if spec_in is None:
                known = ", ".join(i.name for i in dnode.schema.inputs) or "none"
                out.append(self._err(f"unknown input port (known: {known})", node=dst, port=port, key=key))
                continue
            if src not in self.nodes:
                out.append(self._err(f"input connected to unknown node '{cut(src)}'", node=dst, port=port, key=key))
                continue
            spec_out = self.nodes[src].schema.output(src_port)
            if spec_out is None:
                known = ", ".join(o.name for o in self.nodes[src].schema.outputs) or "none"
                out.append(self._err(f"'{cut(src)}' has no output '{cut(src_port)}' (known: {known})", node=dst, port=port,
                                     key=key))
                continue
            got = self.output_type(src, src_port)
            if ANY not in (spec_in.type, got) and got != spec_in.type:
                out.append(self._err(f"type mismatch: expected {spec_in.type}, got {got} from '{src}.{src_port}'",
                                     node=dst, port=port, key=key))
        for name, node in self.nodes.items():
            connected = {port for (dst, port) in self.connections if dst == name}
            for spec in node.schema.inputs:
                if not spec.optional and spec.name not in connected:
                    out.append(self._err(f"required input is not connected (expects {spec.type})", node=name,
                                         port=spec.name, key=(name,)))
            for spec in node.schema.params:
                try:
                    value = node.param(ctx, spec.name)
                    if value is None and spec.required:
                        raise ValidationError("required parameter is not set")
                except FacewarpError as exc:
                    exc.located(node=name, node_type=node.schema.type, param=spec.name)
                    exc.frame = None  # validation is not about one frame
                    exc.located(line=self.lines.get((name, "param", spec.name)) or self.lines.get((name,)),
                                source=self.source)
                    out.append(exc if isinstance(exc, ValidationError) else ValidationError(exc.message).located(
                        **{k: getattr(exc, k) for k in ("node", "node_type", "param", "line", "source")}))
        cycle = self._find_cycle()
        if cycle:
            out.append(self._err("cycle: " + " -> ".join(cycle), node=cycle[0], key=(cycle[0],)))
        for name in self.outputs:
            if name not in self.nodes:
                out.append(self._err(f"outputs lists unknown node '{cut(name)}'", key=("outputs",)))
        if not cycle:
            bad_params = {p.node for p in out if p.param is not None}
            for name in self.upstream_order([n for n in self.outputs if n in self.nodes]) if self.outputs else self.nodes:
                node = self.nodes.get(name)
                if node is None or node.bypass or name in bad_params:
                    continue
                try:
                    found = list(node.problems(ctx))
                except FacewarpError as exc:
                    found = [exc]
                for exc in found:
                    exc.located(node=name, node_type=node.schema.type)
                    key = (name, "param", exc.param) if exc.param else (name,)
                    exc.located(line=self.lines.get(key) or self.lines.get((name,)), source=self.source)
                    out.append(exc)
        return out

    def validate(self, ctx: Context | None = None) -> None:
        problems = self.problems(ctx)
        if problems:
            raise problems[0]

    def _find_cycle(self) -> list[str] | None:
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(n: str) -> list[str] | None:
            state[n] = 1
            stack.append(n)
            for (src, _) in self.inputs_of(n).values():
                if src not in self.nodes:
                    continue
                if state.get(src) == 1:
                    return stack[stack.index(src):] + [src]
                if src not in state:
                    found = visit(src)
                    if found:
                        return found
            stack.pop()
            state[n] = 2
            return None

        for n in self.nodes:
            if n not in state:
                found = visit(n)
                if found:
                    return found
        return None

    def upstream_order(self, targets: list[str]) -> list[str]:
        """Nodes the targets depend on, in dependency order (targets last)."""
        seen: list[str] = []

        def visit(n):
            if n in seen:
                return
            for (src, _) in self.inputs_of(n).values():
                visit(src)
            seen.append(n)

        for t in targets:
            visit(t)
        return seen

    def _err(self, message: str, *, node: str | None = None, port: str | None = None,
             key: tuple | None = None) -> ValidationError:
        node_type = self.nodes[node].schema.type if node in self.nodes else None
        line = self.lines.get(key) if key else None
        if line is None and node is not None:
            line = self.lines.get((node,))
        return ValidationError(message, node=node, node_type=node_type, port=port, line=line, source=self.source)
