"""Pull-based, per-frame evaluation with hash-keyed caching and per-node timing."""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from facewarp.core.errors import FacewarpError, RenderError, ValidationError
from facewarp.core.types import PORT_TYPES

from . import events
from .cache import LRUCache
from .context import Context
from .graph import Graph
from .schema import ANY

_CACHE_MB = os.environ.get("FACEWARP_CACHE_MB")
DEFAULT_CACHE_BYTES = int(_CACHE_MB or 2048) * (1 << 20)  # an interactive evaluator (hosts)
# render(): the frame loop holds what it needs by itself (see Evaluator); the cache only keeps the shot
# pass's first plates for it, so a small one does. 256 MB: ten 1080p RGB float plates, two 4K ones.
RENDER_CACHE_BYTES = int(_CACHE_MB or 256) * (1 << 20)
RETAIN = ("lru", "need")


@dataclass
class NodeStats:
    computes: int = 0
    seconds: float = 0.0
    frames: dict[int, float] = field(default_factory=dict)  # frame -> seconds (last compute)
    # What the node reported through ``events.count``: per frame (its last compute of that
    # frame, so a recomputed frame is not counted twice) and the totals over those frames.
    frame_counts: dict[int, dict[str, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # What it reported through ``events.figure``: per frame, one value per key (last compute).
    frame_figures: dict[int, dict[str, float | str]] = field(default_factory=dict)

    def record_counts(self, computed: Iterable[int], reported: events.Reported, default_frame: int) -> None:
        """Replace the counts and figures of the frames just ``computed`` by what was ``reported``."""
        for frame in computed:
            self.frame_counts.pop(frame, None)
            self.frame_figures.pop(frame, None)
        for frame, key, n in reported.counts:
            per = self.frame_counts.setdefault(default_frame if frame is None else frame, {})
            per[key] = per.get(key, 0) + n
        for frame, key, value in reported.figures:
            self.frame_figures.setdefault(default_frame if frame is None else frame, {})[key] = value
        totals: dict[str, int] = {}
        for per in self.frame_counts.values():
            for key, n in per.items():
                totals[key] = totals.get(key, 0) + n
        self.counts = totals

    def to_json(self) -> dict:
        def frame_key(item):
            return (item[0] is None, item[0] if item[0] is not None else 0)

        return {"computes": self.computes, "seconds": round(self.seconds, 6),
                "frames": {str(k): round(v, 6) for k, v in sorted(self.frames.items(), key=frame_key)},
                "counts": dict(sorted(self.counts.items())),
                "frame_counts": {str(k): dict(sorted(v.items()))
                                 for k, v in sorted(self.frame_counts.items(), key=frame_key)},
                "frame_figures": {str(k): {key: _json_figure(x) for key, x in sorted(v.items())}
                                  for k, v in sorted(self.frame_figures.items(), key=frame_key)}}


def _json_figure(value: float | str) -> float | str | None:
    """A figure as JSON takes it: NaN/inf are not JSON numbers."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


class Evaluator:
    """Evaluates a validated graph. One instance per run keeps the cache and the results of
    sequence nodes (those live for the evaluator's lifetime, not in the LRU).

    What is held, and for how long (so that a small cache never makes a node compute twice):
        * **the working set**: every result of one top-level ``pull``/``output`` call or ``batch()``
          block is held until it ends, whatever the cache size - within one frame no node computes
          twice. A sequence node's ``fetch(frame)`` holds what it pulled for that frame only, so a
          tracker pulling a whole shot of plates holds one at a time;
        * **what the next frame needs**: ``hold_for(ctx)`` (the render loop calls it after each frame
          with the next one) keeps the results whose hash the next frame will ask for - a still
          image, a model - and lets the rest go;
        * **the LRU cache** (``cache_bytes``): results for later calls, e.g. a host pulling again
          after a parameter change. ``retain="need"`` (what ``render()`` uses) puts there only what a
          sequence node's fetch pulled, and only while it fits without evicting anything: the first
          frames' plates of the shot pass are then still there when the frame loop reaches them,
          in the order it reaches them; a result taken from it by a frame is removed (it is not
          needed again).

    Results are cached by node hash, so after any change (``set_param``, rewiring, another
    context, a plate replaced on disk) the next ``pull``/``output`` recomputes exactly the
    nodes whose hash changed and nothing else. Hashes are memoised only for the duration of
    one top-level ``pull``/``output``/``hash`` call, or of a ``with evaluator.batch():``
    block that shares them across several pulls of one frame; a result is never stale.
    ``clear()`` frees this evaluator's memory; ``facewarp.core.memory.free_memory()`` frees
    the library-wide caches (loaded models).
    """

    def __init__(self, graph: Graph, cache_bytes: int = DEFAULT_CACHE_BYTES, retain: str = "lru"):
        if retain not in RETAIN:
            raise ValueError(f"retain must be one of {RETAIN}, got {retain!r}")
        self.graph = graph
        self.cache = LRUCache(cache_bytes)
        self.retain = retain
        self._working: list[dict[str, dict[str, Any]]] = []  # results held by the open scopes, outermost first
        self._held: dict[str, dict[str, Any]] = {}  # results the next frame needs (hold_for)
        self._fetching = 0  # nesting of sequence fetches
        self.stats: dict[str, NodeStats] = {name: NodeStats() for name in graph.nodes}
        self._sequence: dict[str, dict[int, dict[str, Any]]] = {}  # sequence hash -> results
        self._sequence_latest: dict[tuple, str] = {}  # (node, frames) -> its newest sequence hash
        self._hash_memo: dict[tuple, str] = {}
        self._depth = 0  # nesting of top-level calls and batch() blocks

    # -- scopes -----------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[Evaluator]:
        """Share hashes across the pulls inside the block (e.g. every output of one frame).
        Do not change the graph, its parameters or its files inside; if you do, call
        ``forget_hashes()`` before the next pull."""
        with self._scope():
            yield self

    @contextmanager
    def _scope(self) -> Iterator[None]:
        # The memo lives only while a top-level call (or batch) runs: anything may change between.
        if self._depth == 0:
            self._hash_memo.clear()
            self._working.append({})
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._hash_memo.clear()
                self._working.pop()

    @contextmanager
    def _fetch_scope(self) -> Iterator[None]:
        # What a sequence node pulls for one frame of its range is held only until it returns.
        self._working.append({})
        self._fetching += 1
        try:
            yield
        finally:
            self._fetching -= 1
            self._working.pop()

    def forget_hashes(self) -> None:
        """Drop memoised hashes now (needed only inside a ``batch()`` after a change)."""
        self._hash_memo.clear()

    def clear(self) -> None:
        """Drop cached results, sequence results and hashes: frees this evaluator's memory."""
        self.cache.clear()
        self._held.clear()
        for level in self._working:
            level.clear()
        self._sequence.clear()
        self._sequence_latest.clear()
        self._hash_memo.clear()

    # -- hashing ----------------------------------------------------------------------
    def hash(self, name: str, ctx: Context) -> str:
        """Hash of node ``name``'s outputs for ``ctx``."""
        with self._scope():
            return self._hash(name, ctx)

    def _hash(self, name: str, ctx: Context) -> str:
        key = ("node", name, ctx.frame, _context_key(ctx))
        memo = self._hash_memo.get(key)
        if memo is not None:
            return memo
        node = self.graph.nodes[name]
        if node.schema.requires_sequence:
            h = hashlib.blake2b(self._sequence_hash(name, ctx).encode(), digest_size=16)
            h.update(f"@{ctx.frame}".encode())
            value = h.hexdigest()
        else:
            up = self._upstream_context(name, ctx)
            upstream = {port: f"{self._hash(src, up)}.{src_port}" for port, (src, src_port) in self.graph.inputs_of(name).items()}
            value = node.hash(ctx, upstream)
        self._hash_memo[key] = value
        return value

    def _sequence_hash(self, name: str, ctx: Context) -> str:
        frames = ctx.frames or ((ctx.frame,) if ctx.frame is not None else ())
        key = ("sequence", name, frames, _context_key(ctx))
        memo = self._hash_memo.get(key)
        if memo is not None:
            return memo
        node = self.graph.nodes[name]
        upstream = {}
        for port, (src, src_port) in self.graph.inputs_of(name).items():
            h = hashlib.blake2b(digest_size=16)
            for f in frames:
                h.update(f"{f}:{self._hash(src, self._upstream_context(name, ctx.at(f)))}.{src_port};".encode())
            upstream[port] = h.hexdigest()
        seq_ctx = ctx.at(frames[0]) if frames else ctx
        value = node.hash(seq_ctx, upstream) + "/" + ",".join(map(str, frames))
        self._hash_memo[key] = value
        return value

    # -- pulling ----------------------------------------------------------------------
    def pull(self, name: str, ctx: Context) -> dict[str, Any]:
        """All outputs of node ``name`` for ``ctx`` (computed or from the cache)."""
        with self._scope():
            return self._pull(name, ctx)

    def output(self, ref: str, ctx: Context) -> Any:
        """One output, ``"node.port"``, for ``ctx``."""
        name, port = ref.rsplit(".", 1)
        return self.pull(name, ctx)[port]

    def _pull(self, name: str, ctx: Context) -> dict[str, Any]:
        node = self.graph.nodes[name]
        if node.schema.requires_sequence:
            return self._pull_sequence(name, ctx)
        key = self._hash(name, ctx)
        cached = self._lookup(key)
        if cached is not None:
            return cached
        inputs = self._inputs(name, ctx)
        outputs = self._run(name, ctx, lambda: node.bypass_outputs(inputs) if node.bypass else node.compute(ctx, inputs))
        self._store(key, outputs)
        return outputs

    def _lookup(self, key: str) -> dict[str, Any] | None:
        for level in reversed(self._working):
            if key in level:
                return level[key]
        found = self._held.get(key)
        if found is None:
            # a frame takes a result the shot pass left for it: it is not needed again
            found = self.cache.take(key) if self.retain == "need" and not self._fetching else self.cache.get(key)
        if found is not None and self._working:
            self._working[-1][key] = found
        return found

    def _store(self, key: str, outputs: dict[str, Any]) -> None:
        if self._working:
            self._working[-1][key] = outputs
        if self.retain == "lru":
            self.cache.put(key, outputs)
        elif self._fetching:
            self.cache.put(key, outputs, evict=False)

    def hold_for(self, ctx: Context, names: Iterable[str]) -> int:
        """Keep, past the current scope, the results that pulling ``names`` at ``ctx`` (the next
        frame) will ask for and that are at hand now; drop what was held before. Returns how many
        are held. Call inside the ``batch()`` of the frame just done (its results are at hand)."""
        with self._scope():
            keys: set[str] = set()
            try:
                for name in names:
                    self._needed_keys(name, ctx, keys)
            except FacewarpError:
                keys = set()  # cannot hash the next frame (e.g. a missing input): hold nothing
        at_hand = [level for level in self._working] + [self._held]
        held = {}
        for key in keys:
            for level in at_hand:
                if key in level:
                    held[key] = level[key]
                    break
        self._held = held
        return len(held)

    def _needed_keys(self, name: str, ctx: Context, keys: set[str]) -> None:
        node = self.graph.nodes[name]
        if node.schema.requires_sequence:
            return  # served from the sequence results, which live as long as the evaluator
        key = self._hash(name, ctx)
        if key in keys:
            return
        keys.add(key)
        up = self._upstream_context(name, ctx)
        for src, _ in self.graph.inputs_of(name).values():
            self._needed_keys(src, up, keys)

    def _inputs(self, name: str, ctx: Context) -> dict[str, Any]:
        up = self._upstream_context(name, ctx)
        return {port: self._pull(src, up)[src_port] for port, (src, src_port) in self.graph.inputs_of(name).items()}

    def _upstream_context(self, name: str, ctx: Context) -> Context:
        """Where node ``name``'s inputs are pulled (and hashed) for ``ctx``: ``Node.input_context``,
        except when bypassed (its inputs then pass through as they are at ``ctx``)."""
        node = self.graph.nodes[name]
        return ctx if node.bypass else node.input_context(ctx)

    def _pull_sequence(self, name: str, ctx: Context) -> dict[str, Any]:
        node = self.graph.nodes[name]
        frames = ctx.frames or ((ctx.frame,) if ctx.frame is not None else ())
        if ctx.frame not in frames:
            raise node.error(RenderError, f"frame {ctx.frame} is outside the sequence range being evaluated", frame=ctx.frame)
        seq_key = self._sequence_hash(name, ctx)
        results = self._sequence.get(seq_key)
        if results is None:
            seq_ctx = ctx.at(frames[0])

            def fetch(frame: int) -> dict[str, Any]:
                if frame not in frames:
                    raise node.error(RenderError, f"asked for frame {frame} outside the range", frame=frame)
                with self._fetch_scope():
                    return self._inputs(name, ctx.at(frame))

            if node.bypass:
                compute = lambda: {f: node.bypass_outputs(fetch(f)) for f in frames}  # noqa: E731
            else:
                compute = lambda: node.compute_sequence(seq_ctx, tuple(frames), fetch)  # noqa: E731
            results = self._run(name, seq_ctx, compute, sequence=True)
            missing = [f for f in frames if f not in results]
            if missing:
                raise node.error(RenderError, f"sequence computation returned no result for frames {missing[:5]}")
            self._keep_sequence(name, tuple(frames), seq_key, results)
        return results[ctx.frame]

    def _keep_sequence(self, name: str, frames: tuple[int, ...], seq_key: str, results: dict) -> None:
        # One result set per node and range: edits upstream would otherwise pile up old ones. Per
        # range, because one node can be pulled over two (the whole range, and a held frame alone
        # through a FrameHold) and the two must not evict each other.
        old = self._sequence_latest.get((name, frames))
        if old is not None and old != seq_key:
            self._sequence.pop(old, None)
        self._sequence[seq_key] = results
        self._sequence_latest[(name, frames)] = seq_key

    def seed_sequence(self, name: str, ctx: Context, results: dict[int, dict[str, Any]]) -> None:
        """Give sequence node ``name`` its ``results`` over ``ctx.frames`` (``{frame: outputs}``, e.g.
        loaded from a shot cache) as if it had computed them: later pulls serve them."""
        frames = tuple(ctx.frames or ((ctx.frame,) if ctx.frame is not None else ()))
        with self._scope():
            seq_key = self._sequence_hash(name, ctx)
        self._keep_sequence(name, frames, seq_key, results)

    def _run(self, name: str, ctx: Context, compute, sequence: bool = False):
        node = self.graph.nodes[name]
        t0 = time.perf_counter()
        try:
            with events.collecting() as reported:
                outputs = compute()
        except FacewarpError as exc:
            exc.located(node=name, node_type=node.schema.type, frame=None if sequence else ctx.frame)
            raise
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a node bug or a library failure: report where, keep the cause
            raise RenderError(f"{type(exc).__name__}: {exc}", node=name, node_type=node.schema.type,
                              frame=None if sequence else ctx.frame) from exc
        elapsed = time.perf_counter() - t0
        st = self.stats.setdefault(name, NodeStats())  # nodes added after construction
        st.computes += 1
        st.seconds += elapsed
        if not sequence:
            st.frames[ctx.frame] = elapsed
        st.record_counts(outputs.keys() if sequence else (ctx.frame,), reported, ctx.frame)
        for result in (outputs.values() if sequence else (outputs,)):
            self._check_outputs(name, result)
        return outputs

    def _check_outputs(self, name: str, outputs: dict[str, Any]) -> None:
        node = self.graph.nodes[name]
        for spec in node.schema.outputs:
            if spec.name not in outputs:
                raise RenderError(f"node produced no value for output '{spec.name}'", node=name,
                                  node_type=node.schema.type, port=spec.name)
            value = outputs[spec.name]
            if value is not None and spec.type != ANY and not isinstance(value, PORT_TYPES[spec.type]):
                raise RenderError(f"output '{spec.name}' should be {spec.type}, node produced {type(value).__name__}",
                                  node=name, node_type=node.schema.type, port=spec.name)

    def stats_json(self) -> dict:
        return {
            "nodes": {n: s.to_json() for n, s in self.stats.items()},
            "cache": {"bytes": self.cache.bytes, "max_bytes": self.cache.max_bytes, "entries": len(self.cache),
                      "hits": self.cache.hits, "misses": self.cache.misses},
        }


def _context_key(ctx: Context) -> tuple:
    """Everything in ``ctx`` but the frame, hashable (variables may hold lists)."""
    rest = tuple(getattr(ctx, f.name) for f in fields(ctx) if f.name not in ("frame", "variables"))
    return rest + (repr(sorted(ctx.variables.items())),)


def check_graph(graph: Graph, ctx: Context) -> None:
    """Validate, raising the first problem (ValidationError)."""
    problems = graph.problems(ctx)
    if problems:
        raise problems[0]


__all__ = ["DEFAULT_CACHE_BYTES", "RENDER_CACHE_BYTES", "Evaluator", "NodeStats", "check_graph", "ValidationError"]
