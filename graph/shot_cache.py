"""The shot cache: results of the sequence nodes over a whole shot, in one file beside the outputs.

Nodes that need the whole shot (``requires_sequence``: LandmarkTracker's zero-phase smoothing,
FLAMEFit's shot identity, LandmarkSpread, Retarget's neutral frame, ...) give different results
when evaluated over a chunk of the shot instead of the shot. A farm renders a shot in chunks, so
a first step evaluates every sequence node the outputs depend on over the **shot** range and
stores the results here; every chunk then loads them instead of computing its own. A chunked
render therefore equals a single-process render of the shot bit for bit.

File format (version ``CACHE_VERSION`` = 1): a NumPy ``.npz`` archive (read with
``allow_pickle=False``; nothing in it is ever a pickle) holding

* ``header``: UTF-8 JSON, a uint8 array::

      {"format": "facewarp-shot-cache", "version": 1, "facewarp": "<package version>",
       "key": "<sha256 hex of the key parts>",
       "parts": {"preset": "<sha256 of the preset file>" | null, "source": "<preset path>",
                 "vars": "<repr of the variables>", "shot": "<first>-<last>/<count>/<blake2b of the frames>",
                 "fps": 24.0, "device": "auto",
                 "inputs": "<blake2b of [(path, size, mtime_ns), ...]>", "n_inputs": N,
                 "nodes": {"<use>": "<the engine's sequence hash of the node over that range>"}},
       "nodes": {"<use>": {"node": "<name>", "type": "<node type>", "frames": [...],
                           "results": {"<frame>": <value tree>}}}}

  where a use is ``<node>@<first>-<last>/<count>/<digest>``: a sequence node and the range it is
  evaluated over - the shot, or what a node downstream narrows it to (FrameHold: one frame);

* ``a0``, ``a1``, ...: the NumPy arrays the value trees refer to (identical arrays stored once).

The key covers the preset file's content, the variables (``--set`` included), the shot range, fps
and device, the identity of every file the sequence nodes and their inputs read over the shot -
path, size and modification time (``os.stat``: no content hashing, so checking the key costs one
``stat`` per file, not reading 4K plates; a file replaced with the same size and time keeps the
key) - and each sequence node's hash as the engine computes it (node types, versions, parameters,
connections). A cache whose key differs (stale), that is not a facewarp shot cache of this version
(foreign), or that cannot be read (corrupt) is never used: it is recomputed and replaced, and a
one-line note says why.

Value trees (JSON): ``null``, booleans, integers, strings and finite floats as themselves; a list
as a list; ``{"$t": [...]}`` a tuple; ``{"$d": [[key, value], ...]}`` a dict (any keys, in
order); ``{"$f": "nan"|"inf"|"-inf"}``; ``{"$a": "a3"}`` an array, ``{"$s": "a4"}`` a NumPy scalar
(a 0-d array); ``{"$o": "Landmarks", "f": {field: value}}`` a port type of
:mod:`facewarp.core.types` (and ``Camera``). In ``info`` and ``metadata`` dicts (reports that
travel with a value), entries that none of these can hold are left out; anywhere else such a value
stops the cache with an error naming the node and port. Round trips are exact: same types, dtypes,
shapes and bits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from facewarp.core.errors import FacewarpError, RenderError
from facewarp.core.files import atomic_output, remove_stale_temps
from facewarp.core.types import PORT_TYPES, Camera

from .context import Context
from .evaluate import Evaluator
from .graph import Graph

CACHE_FORMAT = "facewarp-shot-cache"
CACHE_VERSION = 1
CACHE_SUFFIX = ".fwshot.npz"
_LENIENT_FIELDS = ("info", "metadata")  # report dicts: unstorable entries are left out
_TYPES: dict[str, type] = {**PORT_TYPES, "Camera": Camera}

Note = Callable[[str], None]


class ShotCacheError(RenderError):
    """A value the shot cache cannot store, or a cache file that cannot be written."""


# -- values <-> JSON trees + arrays -------------------------------------------------------------

class _Encoder:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self._by_digest: dict[tuple, str] = {}

    def _array(self, arr: np.ndarray) -> str:
        if arr.dtype.hasobject:
            raise TypeError(f"an array of Python objects (dtype {arr.dtype})")
        data = np.ascontiguousarray(arr)
        digest = (data.dtype.str, data.shape, hashlib.blake2b(data.tobytes(), digest_size=20).digest())
        key = self._by_digest.get(digest)
        if key is None:
            key = f"a{len(self.arrays)}"
            self.arrays[key] = arr
            self._by_digest[digest] = key
        return key

    def encode(self, value: Any, lenient: bool = False) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if isinstance(value, float) and type(value) is float:
            if math.isfinite(value):
                return value
            return {"$f": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, np.ndarray):
            return {"$a": self._array(value)}
        if isinstance(value, np.generic):
            return {"$s": self._array(np.asarray(value))}
        if isinstance(value, list) and type(value) is list:
            return [self.encode(v, lenient) for v in value]
        if isinstance(value, tuple) and type(value) is tuple:
            return {"$t": [self.encode(v, lenient) for v in value]}
        if isinstance(value, dict) and type(value) is dict:
            items = []
            for k, v in value.items():
                try:
                    items.append([self.encode(k), self.encode(v, lenient)])
                except TypeError:
                    if not lenient:
                        raise
            return {"$d": items}
        cls = type(value)
        if dataclasses.is_dataclass(value) and _TYPES.get(getattr(cls, "type_name", cls.__name__)) is cls:
            out = {}
            for f in dataclasses.fields(value):
                if f.init:
                    out[f.name] = self.encode(getattr(value, f.name), f.name in _LENIENT_FIELDS)
            return {"$o": _TYPES_NAME[cls], "f": out}
        raise TypeError(f"a value of type {cls.__module__}.{cls.__qualname__}")


_TYPES_NAME = {cls: name for name, cls in _TYPES.items()}


def _decode(tree: Any, arrays) -> Any:
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    if not isinstance(tree, dict) or len(tree) not in (1, 2):
        raise ValueError("malformed value tree")
    if "$t" in tree:
        return tuple(_decode(v, arrays) for v in tree["$t"])
    if "$d" in tree:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in tree["$d"]}
    if "$f" in tree:
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[tree["$f"]]
    if "$a" in tree:
        return arrays(tree["$a"])
    if "$s" in tree:
        return arrays(tree["$s"])[()]
    if "$o" in tree:
        cls = _TYPES[tree["$o"]]
        return cls(**{k: _decode(v, arrays) for k, v in tree["f"].items()})
    raise ValueError("malformed value tree")


def encode_values(values: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """``values`` (node outputs: port types, arrays, JSON-like data) as (JSON tree, arrays)."""
    enc = _Encoder()
    return enc.encode(values), enc.arrays


def decode_values(tree: Any, arrays: dict[str, np.ndarray], used: set[str] | None = None) -> Any:
    """The inverse of :func:`encode_values`; an array used twice is given as two copies (pass the
    same ``used`` set to decode several trees over the same arrays)."""
    used = set() if used is None else used

    def get(key: str) -> np.ndarray:
        arr = arrays[key]
        if key in used:
            return arr.copy()
        used.add(key)
        return arr

    return _decode(tree, get)


# -- which nodes, which key ---------------------------------------------------------------------

Use = tuple[str, tuple[int, ...]]  # (sequence node, the range it is evaluated over)


def _upstream_ctx(node, ctx: Context) -> Context:
    """Where a node's inputs are pulled for ``ctx`` (as the Evaluator does: ``Node.input_context``,
    unless bypassed)."""
    hook = getattr(node, "input_context", None)
    return ctx if node.bypass or hook is None else hook(ctx)


def sequence_uses(graph: Graph, ctx: Context) -> list[Use]:
    """Every (sequence node, range) that rendering the outputs over the shot ``ctx.frames`` evaluates,
    in dependency order: a sequence node is evaluated over the shot, or over what a node downstream
    narrows the range to (``Node.input_context``: FrameHold holds one frame, so a still is tracked
    once, not once per frame of the shot)."""
    shot = _shot_of(ctx)
    found: list[Use] = []
    seen: set = set()

    def visit(name: str, c: Context) -> None:
        node = graph.nodes.get(name)
        if node is None:
            return
        frames = tuple(c.frames or ((c.frame,) if c.frame is not None else ()))
        if node.schema.requires_sequence:
            key = (name, frames, _context_rest(c))
            if key in seen:
                return
            seen.add(key)
            for f in frames:  # compute_sequence may fetch its inputs at any frame of its range
                up = _upstream_ctx(node, c.at(f))
                for src, _ in graph.inputs_of(name).values():
                    visit(src, up)
            if (name, frames) not in found:
                found.append((name, frames))
            return
        key = (name, c.frame, frames, _context_rest(c))
        if key in seen:
            return
        seen.add(key)
        up = _upstream_ctx(node, c)
        for src, _ in graph.inputs_of(name).values():
            visit(src, up)

    for f in shot:
        for name in graph.outputs:
            visit(name, ctx.at(f))
    return found


def sequence_nodes(graph: Graph, ctx: Context | None = None) -> list[str]:
    """The ``requires_sequence`` nodes the outputs depend on (over the shot ``ctx.frames`` when
    given: those that rendering evaluates), in dependency order."""
    if ctx is not None:
        return list(dict.fromkeys(name for name, _ in sequence_uses(graph, ctx)))
    names = graph.upstream_order([n for n in graph.outputs if n in graph.nodes])
    return [n for n in names if n in graph.nodes and graph.nodes[n].schema.requires_sequence]


def _context_rest(c: Context) -> str:
    return repr((c.fps, c.device, sorted(c.variables.items())))


def _shot_of(ctx: Context) -> tuple[int, ...]:
    return tuple(ctx.frames or ((ctx.frame,) if ctx.frame is not None else ()))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def _range_id(frames: tuple[int, ...]) -> str:
    return f"{frames[0]}-{frames[-1]}/{len(frames)}/{_digest(','.join(map(str, frames)))}" if frames else ""


def use_id(use: Use) -> str:
    """How a use is named in the file: ``node@first-last/count/digest``."""
    return f"{use[0]}@{_range_id(use[1])}"


def input_identities(graph: Graph, ctx: Context, uses: Iterable[Use]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every file the sequence nodes and everything upstream of them read
    over their ranges (a missing file: size and time -1)."""
    seen: dict[str, tuple[str, int, int]] = {}
    for name, frames in uses:
        for up in graph.upstream_order([name]):
            node = graph.nodes.get(up)
            if node is None or node.bypass:
                continue
            try:
                per_frame = node.inputs_over(replace(ctx, frames=frames), frames)
            except FacewarpError:
                continue
            for _, files in per_frame:
                for path in files:
                    if path in seen or "\0" in path:
                        continue
                    try:
                        st = os.stat(path)
                        seen[path] = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
                    except OSError:
                        seen[path] = (os.path.abspath(path), -1, -1)
    return sorted(seen.values())


def _use_ctx(ctx: Context, frames: tuple[int, ...]) -> Context:
    return replace(ctx, frames=frames, frame=frames[0] if frames else None)


def key_parts(graph: Graph, ctx: Context, uses: list[Use] | None = None) -> dict[str, Any]:
    """What the cache of ``graph`` over the shot ``ctx.frames`` depends on (see the module doc)."""
    uses = sequence_uses(graph, ctx) if uses is None else uses
    shot = _shot_of(ctx)
    preset = None
    if graph.source and os.path.isfile(graph.source):
        with open(graph.source, "rb") as fh:
            preset = hashlib.sha256(fh.read()).hexdigest()
    inputs = input_identities(graph, ctx, uses)
    # The engine's own sequence hashes, with the output policy left out (a chunk run with
    # --skip-existing reads the cache the first step wrote).
    hctx = replace(ctx, write_mode="error")
    ev = Evaluator(graph, cache_bytes=0)
    with ev.batch():
        node_hashes = {use_id(u): ev._sequence_hash(u[0], _use_ctx(hctx, u[1])) for u in uses}
    return {
        "preset": preset,
        "source": os.path.abspath(graph.source) if graph.source else None,
        "vars": repr(sorted((k, v) for k, v in ctx.variables.items())),
        "shot": _range_id(shot),
        "fps": float(ctx.fps),
        "device": ctx.device,
        "inputs": _digest(repr(inputs)),
        "n_inputs": len(inputs),
        "nodes": {k: _digest(h) for k, h in node_hashes.items()},
    }


def key_of(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _what_changed(old: dict, new: dict) -> str:
    names = {"preset": "the preset file changed", "source": "another preset", "vars": "the variables differ",
             "shot": "another shot range", "fps": "another fps", "device": "another device",
             "inputs": "input files changed (size or time)", "n_inputs": "input files changed",
             "nodes": "the sequence nodes or their parameters changed"}
    diff = [names[k] for k in names if old.get(k) != new.get(k)]
    return ", ".join(dict.fromkeys(diff)) or "its key differs"


# -- the file -----------------------------------------------------------------------------------

def default_path(graph: Graph, ctx: Context) -> str | None:
    """Where the cache of this run lives: beside the first output file of the shot's first frame,
    named ``<preset stem>.shot-<first>-<last>.fwshot.npz``; None when no output is planned."""
    shot = _shot_of(ctx)
    if not shot:
        return None
    fctx = ctx.at(shot[0])
    for name in graph.outputs:
        node = graph.nodes.get(name)
        if node is None:
            continue
        try:
            planned = node.planned_outputs(fctx)
        except FacewarpError:
            continue
        if planned:
            stem = os.path.splitext(os.path.basename(graph.source))[0] if graph.source else "graph"
            return os.path.join(os.path.dirname(os.path.abspath(planned[0])),
                                f"{stem}.shot-{shot[0]}-{shot[-1]}{CACHE_SUFFIX}")
    return None


def write_cache(path: str, parts: dict, entries: list[tuple[Use, str, dict[int, dict]]]) -> None:
    """Write ``entries`` ((node, range), node type, frame -> outputs) atomically; replaces an older
    cache."""
    enc = _Encoder()
    stored = {}
    for (name, frames), type_name, per_frame in entries:
        tree = {}
        for frame, outputs in per_frame.items():
            items = []
            for port, value in outputs.items():
                try:
                    items.append([port, enc.encode(value)])
                except TypeError as exc:
                    raise ShotCacheError(f"the shot cache cannot store output '{port}': it holds {exc}",
                                         node=name, node_type=type_name, port=port, frame=frame) from None
            tree[str(frame)] = {"$d": items}
        stored[use_id((name, frames))] = {"node": name, "type": type_name, "frames": list(frames), "results": tree}
    from facewarp import __version__

    header = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "facewarp": __version__, "key": key_of(parts),
              "parts": parts, "nodes": stored}
    blob = np.frombuffer(json.dumps(header, separators=(",", ":")).encode(), dtype=np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    remove_stale_temps([path])
    try:
        with atomic_output(path, overwrite=True) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, header=blob, **enc.arrays)
    except OSError as exc:
        raise ShotCacheError(f"cannot write the shot cache: {exc.strerror or exc}", file=path) from None


@dataclass
class Loaded:
    status: str  # "ok", "missing", "stale", "foreign", "corrupt"
    why: str = ""
    results: dict[Use, dict[int, dict]] | None = None


def read_cache(path: str, parts: dict, uses: list[Use]) -> Loaded:
    """The cached results if the file at ``path`` is a valid cache for ``parts``; else why not."""
    if not os.path.exists(path):
        return Loaded("missing")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "header" not in npz.files:
                return Loaded("foreign", "not a facewarp shot cache (no header)")
            header = json.loads(bytes(npz["header"]).decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != CACHE_FORMAT:
                return Loaded("foreign", "not a facewarp shot cache")
            if header.get("version") != CACHE_VERSION:
                return Loaded("foreign", f"cache format version {header.get('version')!r}, this facewarp reads "
                                         f"{CACHE_VERSION}")
            if header.get("key") != key_of(parts):
                old = header.get("parts") if isinstance(header.get("parts"), dict) else {}
                return Loaded("stale", _what_changed(old, parts))
            if header.get("key") != key_of(header.get("parts", {})):
                return Loaded("corrupt", "its key does not match its own contents")
            stored = header.get("nodes", {})
            if sorted(stored) != sorted(use_id(u) for u in uses):
                return Loaded("corrupt", "its entries do not match its key")
            arrays = {k: npz[k] for k in npz.files if k != "header"}
            out, used = {}, set()
            for use in uses:
                entry = stored[use_id(use)]
                results = {int(f): decode_values(tree, arrays, used) for f, tree in entry["results"].items()}
                if sorted(results) != sorted(use[1]):
                    return Loaded("corrupt", f"node '{use[0]}' lacks frames")
                out[use] = results
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        return Loaded("corrupt", f"cannot be read ({type(exc).__name__}: {str(exc)[:80]})")
    return Loaded("ok", results=out)


# -- preparing a run ----------------------------------------------------------------------------

@dataclass
class ShotCache:
    """What :func:`prepare` did: ``status`` "loaded" (a valid file), "computed" (and written),
    or "none" (no sequence nodes: nothing to cache, no file)."""

    path: str | None
    status: str
    nodes: tuple[str, ...] = ()
    why: str = ""  # for "computed": why the file was not used (missing, stale: what changed, ...)


def seed(evaluator: Evaluator, name: str, ctx: Context, results: dict[int, dict]) -> None:
    """Give ``evaluator`` the results of sequence node ``name`` over ``ctx.frames``, as if it had
    computed them: later pulls of that node serve them without computing."""
    evaluator.seed_sequence(name, ctx, results)


def prepare(graph: Graph, ctx: Context, path: str | None, evaluator: Evaluator, *,
            note: Note | None = None) -> ShotCache:
    """Make the sequence nodes' results over the shot ``ctx.frames`` (and the narrower ranges that
    nodes like FrameHold evaluate them over, see :func:`sequence_uses`) available to ``evaluator``:
    from the cache file at ``path`` when it is valid, else computed and written there. ``path``
    None: computed, nothing written. ``note`` gets one line when a file is found unusable (stale,
    foreign, corrupt) and recomputed."""
    shot = _shot_of(ctx)
    if not shot:
        return ShotCache(path, "none")
    ctx = replace(ctx, frame=shot[0])
    uses = sequence_uses(graph, ctx)
    if not uses:
        return ShotCache(path, "none")
    names = tuple(dict.fromkeys(name for name, _ in uses))
    parts = key_parts(graph, ctx, uses) if path else None
    why = ""
    if path:
        found = read_cache(path, parts, uses)
        if found.status == "ok":
            for use in uses:
                seed(evaluator, use[0], _use_ctx(ctx, use[1]), found.results[use])
            return ShotCache(path, "loaded", names)
        why = found.status + (f": {found.why}" if found.why else "")
        if found.status != "missing" and note is not None:
            note(f"shot cache '{path}' is {found.status} ({found.why}); recomputing it")
    entries = []
    for name, frames in uses:
        uctx = _use_ctx(ctx, frames)
        # the first pull computes the node over its whole range; the others are served from it
        per_frame = {f: evaluator.pull(name, uctx.at(f)) for f in frames}
        entries.append(((name, frames), graph.nodes[name].schema.type, per_frame))
    if path:
        write_cache(path, parts, entries)
    return ShotCache(path, "computed", names, why)


__all__ = ["CACHE_FORMAT", "CACHE_SUFFIX", "CACHE_VERSION", "ShotCache", "ShotCacheError", "decode_values",
           "default_path", "encode_values", "input_identities", "key_of", "key_parts", "prepare", "read_cache",
           "seed", "sequence_nodes", "sequence_uses", "use_id", "write_cache"]
