"""Rendering a graph over a frame range: the loop the CLI and hosts share.

``render()`` validates the graph, plans the run (which frames to render, which output files
already exist), refuses or skips before computing anything, then pulls every ``graph.outputs``
node frame by frame with one :class:`Evaluator`.

Output policy (``mode``, the same as ``Context.write_mode`` that writers read):
    ``"error"``      an existing output file raises :class:`OutputExistsError` before any compute
    ``"overwrite"``  existing files are replaced
    ``"skip"``       frames whose planned outputs all exist are not rendered at all

Where a run may write (checked by ``plan()`` for every planned output, before anything is
computed; each problem a one-line ValidationError naming the node, parameter and file):
    * only under the output root - ``output_root=``, else ``$FACEWARP_OUTPUT_ROOT``, else the
      current directory - after resolving ``..`` and symlinks (``os.path.realpath``);
    * never onto a file the run reads (``Node.planned_inputs`` of every node it evaluates, plus
      the ``inputs=`` a caller names, e.g. the preset);
    * every file once: a path without a frame token over several frames, or two writers of the
      same file, is refused (each frame would replace the last);
    * into a folder that exists or can be created (not under a regular file), and not onto a folder.
A run also removes, before its first frame, the temp files that a killed earlier run left for
its own outputs (``core.files.remove_stale_temps``); ``plan()`` itself changes nothing.

The shot: ``ctx.frames`` is the shot, the range that sequence nodes (``requires_sequence``) are
evaluated over and that ``${first}``/``${last}`` name; ``frames`` (a subset) are the frames this run
renders - a farm chunk. ``shot_cache=`` (True: the default file beside the outputs, or a path)
stores the sequence nodes' results over the shot in a versioned file (``graph/shot_cache.py``) that
every chunk of the shot reuses, so chunks equal a single render of the shot bit for bit; without
it (the default) the sequence nodes are computed in memory over ``ctx.frames`` and nothing is
written. :func:`prepare_shot` computes that file alone (a farm's first step).

Writing: writer nodes hand their files to a background :class:`~.pipeline.WritePipeline` (one
thread, at most one write per writer node in flight) while the next frame computes; a frame
counts as rendered, and is reported to ``progress``, once its files are on disk. A pipeline the
caller made active already is used instead (and drained, not closed, at the end).

Holding results: the evaluator ``render()`` makes holds each frame's results until the frame is
done and keeps for the next frame only what it will ask for (``Evaluator.hold_for``); its cache
(``cache_bytes``, default ``RENDER_CACHE_BYTES``) only keeps the shot pass's first plates for the
frame loop. A too-small cache never makes a node compute twice in a frame.

Stopping: ``cancel()`` is asked before every frame; when it returns True, the writes of the frames
already computed are finished and ``render()`` raises :class:`RenderCancelled` (exit code 130). A node's
error (bad input, a failed write) also finishes the writes of the frames computed before it, then
raises; a stop from outside (Ctrl-C, SIGTERM) drops the writes not started yet. Any exception that
escapes the frame loop carries the partial :class:`RenderResult` as ``exc.render_result``, so a
caller can still report what was rendered and the timings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from facewarp.core import buffers
from facewarp.core.errors import FacewarpError, OutputExistsError, RenderCancelled, UsageError, ValidationError
from facewarp.core.files import remove_stale_temps

from . import shot_cache as _shot
from .context import Context
from .evaluate import RENDER_CACHE_BYTES, Evaluator
from .graph import Graph
from .pipeline import WritePipeline, active

MODES = ("error", "overwrite", "skip")

# progress(done, total, frame, seconds): once with done=0, frame=None before the first frame,
# then after each rendered frame with its number and the seconds it took.
Progress = Callable[[int, int, "int | None", float], None]
# note(line): a one-line remark for the user (e.g. a shot cache found stale and recomputed).
Note = Callable[[str], None]


@dataclass(frozen=True)
class RenderPlan:
    """What a run would do, decided from the file system before computing anything."""

    mode: str
    frames: tuple[int, ...]  # requested
    todo: tuple[int, ...]  # to render, in order
    skipped: tuple[int, ...]  # "skip" mode: every output exists
    outputs: dict[int, tuple[str, ...]] = field(default_factory=dict)  # frame -> planned files
    existing: tuple[tuple[int, str], ...] = ()  # (frame, file) planned and already on disk
    root: str = ""  # the output root, resolved
    problems: tuple[FacewarpError, ...] = ()  # outputs the run may not write (see the module doc)

    def check(self) -> None:
        """Raise the first of ``problems``, else :class:`OutputExistsError` when ``mode`` is
        "error" and an output exists."""
        if self.problems:
            raise self.problems[0]
        if self.existing and self.mode == "error":
            frame, first = self.existing[0]
            n = len(self.existing)
            more = f" (and {n - 1} more output file(s) of this run)" if n > 1 else ""
            raise OutputExistsError(f"exists{more}; use --overwrite to replace or --skip-existing to keep",
                                    file=first, frame=frame)


@dataclass
class RenderResult:
    """Frames rendered (in order), frames skipped, wall time and the evaluator's stats."""

    frames: tuple[int, ...]
    skipped: tuple[int, ...]
    seconds: float
    device: str
    evaluator: Evaluator
    frame_seconds: dict[int, float] = field(default_factory=dict)
    cancelled: bool = False
    shot_cache: _shot.ShotCache | None = None  # what the run did with its shot cache, when asked for one

    def stats_json(self, **extra) -> dict:
        """Per-node timing and cache stats, then ``extra`` (e.g. the preset), frames, skipped,
        seconds and device: the CLI's ``--stats`` file."""
        stats = self.evaluator.stats_json()
        stats.update(extra)
        stats.update({"frames": list(self.frames), "skipped": list(self.skipped),
                      "seconds": round(self.seconds, 6), "device": self.device})
        if self.shot_cache is not None:
            stats["shot_cache"] = {"path": self.shot_cache.path, "status": self.shot_cache.status,
                                   "nodes": list(self.shot_cache.nodes)}
        return stats


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"output mode must be one of {', '.join(MODES)}, got '{str(mode)[:40]}'")
    return mode


OUTPUT_ROOT_ENV = "FACEWARP_OUTPUT_ROOT"


def resolve_output_root(root: str | os.PathLike | None = None) -> str:
    """The folder a run may write under, resolved: ``root``, else ``$FACEWARP_OUTPUT_ROOT``, else
    the current directory."""
    if root is None or root == "":
        root = os.environ.get(OUTPUT_ROOT_ENV) or os.curdir
    try:
        return os.path.realpath(os.fspath(root))
    except (OSError, ValueError) as exc:
        raise UsageError(f"output root '{str(root)[:80]}' cannot be resolved: {exc}") from None


def _resolve(path: str, cache: dict | None = None) -> str:
    """``os.path.realpath(path)``, resolving each folder once per ``cache``."""
    if cache is None:
        return os.path.realpath(path)
    parent, name = os.path.split(os.path.abspath(path))
    key = ("real", parent)
    if key not in cache:
        cache[key] = os.path.realpath(parent)
    full = os.path.join(cache[key], name)
    return os.path.realpath(full) if os.path.islink(full) else full


def output_problem(path: str, root: str, inputs: dict[str, str] | None = None, cache: dict | None = None) -> str | None:
    """Why the run may not write ``path`` (a message), or None. ``root`` is resolved (see
    :func:`resolve_output_root`); ``inputs`` maps the resolved files the run reads to who reads them;
    ``cache`` (any dict, reused across calls) keeps what is known of each folder."""
    if not path or "\0" in path:
        return "is not a usable file name"
    real = _resolve(path, cache)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        where = f" (it resolves to '{real}')" if os.path.abspath(path) != real else ""
        return (f"is outside the output root '{root}'{where}; a run writes only under its output root "
                f"(--output-root DIR or ${OUTPUT_ROOT_ENV}; default: the current directory)")
    if inputs and real in inputs:
        return f"is also an input of this run ({inputs[real]}); refusing to write over it"
    if os.path.isdir(real):
        return "is a folder, not a file"
    parent = os.path.dirname(real)
    key = ("folder", parent)
    if cache is not None and key in cache:
        return cache[key]
    folder = parent
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    why = None
    if not os.path.isdir(folder):
        why = f"cannot be created: '{folder}' is a file, not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        why = f"cannot be written: the folder '{folder}' is not writable"
    if cache is not None:
        cache[key] = why
    return why


def planned_inputs(graph: Graph, ctx: Context, extra: Iterable[str] = ()) -> dict[str, str]:
    """Resolved path -> who reads it, for every file the run reads over the range ``ctx.frames``:
    each node the outputs depend on (``Node.planned_inputs``, bypassed nodes read nothing) and
    ``extra`` files (e.g. the preset)."""
    found: dict[str, str] = {}
    cache: dict = {}
    for path in extra:
        found.setdefault(os.path.realpath(path), f"'{path}'")
    frames = ctx.frames or ((ctx.frame,) if ctx.frame is not None else ())
    names = [n for n in graph.upstream_order([n for n in graph.outputs if n in graph.nodes]) if n in graph.nodes]
    for name in names:
        node = graph.nodes[name]
        if node.bypass:
            continue
        try:
            per_frame = node.inputs_over(ctx, tuple(frames))
        except FacewarpError:
            continue
        seen: set[str] = set()
        for _, files in per_frame:
            for path in files:
                if path not in seen and "\0" not in path:
                    seen.add(path)
                    found.setdefault(_resolve(path, cache), f"node '{name}' reads it")
    return found


def plan(graph: Graph, ctx: Context, mode: str | None = None, frames: Iterable[int] | None = None, *,
         output_root: str | os.PathLike | None = None, inputs: Iterable[str] = ()) -> RenderPlan:
    """Ask every output node for the files each frame would write, check where they are (see
    the module doc) and see which exist.

    ``mode`` defaults to ``ctx.write_mode``, ``frames`` to ``ctx.frames``; ``output_root`` as in
    :func:`resolve_output_root`; ``inputs`` are more files the run reads (e.g. the preset). Does not raise
    for problems or existing files (see :meth:`RenderPlan.check`); the graph should be valid."""
    mode = _check_mode(ctx.write_mode if mode is None else mode)
    frames = tuple(ctx.frames if frames is None else frames)
    root = resolve_output_root(output_root)
    reads = planned_inputs(graph, ctx, inputs)
    todo, skipped, existing, outputs = [], [], [], {}
    problems: list[FacewarpError] = []
    reported: set[str] = set()  # one problem per writer node
    written: dict[str, tuple[str, int]] = {}  # resolved file -> (node, frame) writing it first
    cache: dict = {}  # folders resolved and checked
    for frame in frames:
        fctx = ctx.at(frame)
        planned = []
        for name in graph.outputs:
            node = graph.nodes[name]
            for path in node.planned_outputs(fctx):
                planned.append(path)
                if name in reported:
                    continue
                why = output_problem(path, root, reads, cache)
                real = _resolve(path, cache) if why is None else None
                if real is not None and real in written:
                    other, other_frame = written[real]
                    if other == name and other_frame != frame:
                        why = (f"is the same file for frames {other_frame} and {frame}: every frame would replace "
                               f"it; put a frame token (####) in the name or render one frame")
                    else:
                        why = f"is also written by node '{other}' at frame {other_frame}"
                elif real is not None:
                    written[real] = (name, frame)
                if why is not None:
                    reported.add(name)
                    param = node.path_param_of(fctx, path)
                    line = graph.lines.get((name, "param", param)) or graph.lines.get((name,))
                    problems.append(ValidationError(why, node=name, node_type=node.schema.type, param=param,
                                                    file=path, line=line, source=graph.source))
        planned = tuple(planned)
        found = [p for p in planned if os.path.exists(p)]
        outputs[frame] = planned
        existing += [(frame, p) for p in found]
        # Skipped frames are decided here so a finished frame does not even read its plates.
        if mode == "skip" and planned and len(found) == len(planned):
            skipped.append(frame)
        else:
            todo.append(frame)
    return RenderPlan(mode, frames, tuple(todo), tuple(skipped), outputs, tuple(existing), root, tuple(problems))


def frames_available(graph: Graph, ctx: Context) -> tuple[int, ...]:
    """The default range of a graph given no frames: first to last of what the first node (in
    graph order) that reports frames on disk has, else (). A gap in the sequence on disk stays in
    the range, so the input check names the missing frames (or the reader's own missing-frame
    policy fills them) instead of the gap being skipped without a word."""
    for node in graph.nodes.values():
        found = node.frames_available(ctx)
        if found:
            return tuple(range(min(found), max(found) + 1))
    return ()


def shot_cache_path(graph: Graph, ctx: Context, shot_cache: str | os.PathLike | bool | None, root: str,
                    inputs: Iterable[str] = ()) -> str | None:
    """The shot cache file a run uses (``shot_cache``: True = beside the outputs, see
    :func:`shot_cache.default_path`; a path; None/False: none), checked like an output: under the
    output ``root``, not an input of the run. Raises ValidationError."""
    if shot_cache is None or shot_cache is False:
        return None
    path = _shot.default_path(graph, ctx) if shot_cache is True else os.fspath(shot_cache)
    if path is None:
        raise UsageError("no shot cache file: the preset plans no output file to put it beside", source=graph.source)
    why = output_problem(path, root, planned_inputs(graph, ctx, inputs))
    if why is not None:
        raise ValidationError(f"shot cache {why}", file=path, source=graph.source)
    return path


def prepare_shot(graph: Graph, ctx: Context, *, shot_cache: str | os.PathLike | bool = True,
                 output_root: str | os.PathLike | None = None, inputs: Iterable[str] = (),
                 evaluator: Evaluator | None = None, cache_bytes: int | None = None,
                 note: Note | None = None) -> _shot.ShotCache:
    """A farm's first step: validate, then compute the sequence nodes over the shot ``ctx.frames``
    and write the shot cache (or find it valid already). Renders nothing, so its own evaluator
    keeps nothing for later (``cache_bytes`` 0 unless given): a plate is held only while the
    tracker uses it."""
    if not ctx.frames:
        raise UsageError("no shot range to prepare", source=graph.source)
    graph.validate(ctx)
    root = resolve_output_root(output_root)
    path = shot_cache_path(graph, ctx, shot_cache, root, inputs)
    if evaluator is None:
        evaluator = Evaluator(graph, cache_bytes=0 if cache_bytes is None else cache_bytes, retain="need")
    return _shot.prepare(graph, ctx, path, evaluator, note=note)


def render(graph: Graph, ctx: Context, *, frames: Iterable[int] | None = None, mode: str | None = None,
           progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
           evaluator: Evaluator | None = None, cache_bytes: int | None = None,
           output_root: str | os.PathLike | None = None, inputs: Iterable[str] = (),
           shot_cache: str | os.PathLike | bool | None = None, note: Note | None = None,
           background_writes: bool = True) -> RenderResult:
    """Render every ``graph.outputs`` node over the frames.

    ``ctx.frames`` is the range (sequence nodes and ``${first}``/``${last}`` see it); ``frames``
    (default: the range) are the ones to render and must lie in it. ``mode`` defaults to
    ``ctx.write_mode``; when given it replaces it, so writers and the pre-flight agree.
    ``evaluator`` reuses a cache across calls; otherwise one is made with ``cache_bytes``.
    ``output_root`` and ``inputs``: where the run may write and what else it reads (see :func:`plan`).
    ``shot_cache``: True (the file beside the outputs) or a path makes the sequence nodes' results
    over ``ctx.frames`` come from that file, computed and written first when it is missing, stale,
    foreign or corrupt (``note`` gets one line saying so); see the module doc.
    ``background_writes`` False writes each file on the calling thread before the next frame.
    Raises ValidationError/UsageError (bad graph, no outputs, no frames, an output it may not
    write), InputError (a missing input file), OutputExistsError
    (mode "error"), RenderCancelled (``cancel()`` returned True), or what a node raised.
    """
    mode = _check_mode(ctx.write_mode if mode is None else mode)
    if ctx.write_mode != mode:
        ctx = replace(ctx, write_mode=mode)
    frames = tuple(ctx.frames if frames is None else (int(f) for f in frames))
    if not frames:
        raise UsageError("no frames to render", source=graph.source)
    if not ctx.frames:
        ctx = replace(ctx, frames=tuple(sorted(set(frames))))
    in_range = set(ctx.frames)
    outside = [f for f in frames if f not in in_range]
    if outside:
        raise UsageError(f"frames {outside[:5]} are outside the context's range "
                         f"{min(ctx.frames)}-{max(ctx.frames)}", source=graph.source)
    graph.validate(ctx)
    if not graph.outputs:
        raise UsageError("the preset renders nothing: list writer nodes under 'outputs:'", source=graph.source)

    todo = plan(graph, ctx, mode, frames, output_root=output_root, inputs=inputs)
    todo.check()  # before anything is computed: a refused overwrite costs nothing
    cache_path = shot_cache_path(graph, ctx, shot_cache, todo.root, inputs) if todo.todo else None
    remove_stale_temps(p for planned in todo.outputs.values() for p in planned)  # left by a killed run

    if evaluator is None:
        evaluator = Evaluator(graph, cache_bytes=RENDER_CACHE_BYTES if cache_bytes is None else cache_bytes,
                              retain="need")
    result = RenderResult(frames=(), skipped=todo.skipped, seconds=0.0, device=ctx.device, evaluator=evaluator)
    total = len(todo.todo)
    started = time.perf_counter()
    # Writers hand their files to background threads while the next frame computes (graph/pipeline.py).
    # A pipeline the caller made active is used and drained, not closed.
    own = active() is None and background_writes
    writes = _NoPipeline() if active() is None and not background_writes else WritePipeline(workers=WRITE_WORKERS, max_pending=WRITES_PENDING_PER_OUTPUT * len(graph.outputs)).start() \
        if own else active()
    # (frame, seconds, writes submitted by then): computed, its files maybe still being written
    computed: list[tuple[int, float, int]] = []
    try:
        if cache_path is not None:
            result.shot_cache = _shot.prepare(graph, ctx, cache_path, evaluator, note=note)
        if progress is not None:
            progress(0, total, None, 0.0)
        for i, frame in enumerate(todo.todo):
            if cancel is not None and cancel():
                result.cancelled = True
                writes.drain()  # the frames computed before the cancel are finished, not lost
                _report_written(result, computed, writes.submitted, started, progress, total)
                raise RenderCancelled(f"cancelled before frame {frame}: {len(result.frames)} of {total} frame(s) rendered")
            t0 = time.perf_counter()
            fctx = ctx.at(frame)
            with evaluator.batch():  # one hashing pass for all outputs; files are read afresh each frame
                for name in graph.outputs:
                    evaluator.pull(name, fctx)
                if i + 1 < total:
                    evaluator.hold_for(ctx.at(todo.todo[i + 1]), graph.outputs)
            writes.check()
            computed.append((frame, time.perf_counter() - t0, writes.submitted))
            _report_written(result, computed, writes.done_upto(), started, progress, total)
        writes.finish() if own else writes.drain()
        _report_written(result, computed, writes.submitted, started, progress, total)
    except BaseException as exc:
        if own:
            if isinstance(exc, Exception):  # a node's error, not a stop: finish the frames computed before it
                _write_computed(writes, result, computed, started, progress, total)
            writes.finish(cancel=True)
        result.seconds = time.perf_counter() - started
        exc.render_result = result  # what was done before the stop, for stats
        raise
    finally:
        buffers.release_idle()  # the frame loop's reused blocks (core/buffers.py): not kept past the run
    result.seconds = time.perf_counter() - started
    return result


class _NoPipeline:
    """What the loop calls on a pipeline, for writes made on its own thread (nothing in flight)."""

    submitted = 0

    def done_upto(self) -> int:
        return 0

    def check(self) -> None:
        pass

    drain = check


WRITE_WORKERS = 1  # one frame's files are written while the next computes; OpenEXR compresses with its own threads
WRITES_PENDING_PER_OUTPUT = 1  # writes held per writer node: one frame is written while the next computes


def _write_computed(writes, result: RenderResult, computed: list[tuple[int, float, int]], started: float,
                    progress: Progress | None, total: int) -> None:
    """Wait for the writes of the frames computed so far and report those frames rendered; a write
    that failed is not raised (the run reports the error that stopped it), nor its frame reported."""
    try:
        writes.drain()
    except Exception:  # noqa: BLE001 - recorded by the pipeline; the first error is the one reported
        pass
    _report_written(result, computed, writes.done_upto(), started, progress, total)


def _report_written(result: RenderResult, computed: list[tuple[int, float, int]], written: int, started: float,
                    progress: Progress | None, total: int) -> None:
    """Move the frames whose files are all written (their write mark <= ``written``) from
    ``computed`` to ``result`` and report them: a frame counts as rendered once it is on disk.
    Its seconds are its compute time (its writes overlap the next frame's)."""
    while computed and computed[0][2] <= written:
        frame, elapsed, _ = computed.pop(0)
        result.frames += (frame,)
        result.frame_seconds[frame] = elapsed
        result.seconds = time.perf_counter() - started
        if progress is not None:
            progress(len(result.frames), total, frame, elapsed)


__all__ = ["MODES", "OUTPUT_ROOT_ENV", "RenderPlan", "RenderResult", "frames_available", "output_problem", "resolve_output_root",
           "plan", "planned_inputs", "prepare_shot", "render", "shot_cache_path"]
