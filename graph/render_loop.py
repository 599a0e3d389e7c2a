"""Rendering a graph over a frame range: the loop the CLI and hosts share.

``render()`` validates the graph, plans the run (which frames to render, which output files
already exist), refuses or skips before computing anything, then pulls every ``graph.outputs``
node frame by frame with one :class:`Evaluator`.

Output policy (``mode``, the same as ``Context.write_mode`` that writers read):
    ``"error"``      an existing output file raises :class:`OutputExistsError` before any compute
    ``"overwrite"``  existing files are replaced
    ``"skip"``       frames whose planned outputs all exist are not rendered at all

Stopping: ``cancel()`` is asked before every frame; when it returns True, ``render()`` raises
:class:`RenderCancelled` (exit code 130). Any exception that escapes the frame loop (a cancel,
a node failure, Ctrl-C) carries the partial :class:`RenderResult` as ``exc.render_result``,
so a caller can still report what was rendered and the timings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from facewarp.core.errors import OutputExistsError, RenderCancelled, UsageError

from .context import Context
from .evaluate import Evaluator
from .graph import Graph

MODES = ("error", "overwrite", "skip")

# progress(done, total, frame, seconds): once with done=0, frame=None before the first frame,
# then after each rendered frame with its number and the seconds it took.
Progress = Callable[[int, int, "int | None", float], None]


@dataclass(frozen=True)
class RenderPlan:
    """What a run would do, decided from the file system before computing anything."""

    mode: str
    frames: tuple[int, ...]  # requested
    todo: tuple[int, ...]  # to render, in order
    skipped: tuple[int, ...]  # "skip" mode: every output exists
    outputs: dict[int, tuple[str, ...]] = field(default_factory=dict)  # frame -> planned files
    existing: tuple[tuple[int, str], ...] = ()  # (frame, file) planned and already on disk

    def check(self) -> None:
        """Raise :class:`OutputExistsError` when ``mode`` is "error" and an output exists."""
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

    def stats_json(self, **extra) -> dict:
        """Per-node timing and cache stats, then ``extra`` (e.g. the preset), frames, skipped,
        seconds and device: the CLI's ``--stats`` file."""
        stats = self.evaluator.stats_json()
        stats.update(extra)
        stats.update({"frames": list(self.frames), "skipped": list(self.skipped),
                      "seconds": round(self.seconds, 6), "device": self.device})
        return stats


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"output mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def plan(graph: Graph, ctx: Context, mode: str | None = None, frames: Iterable[int] | None = None) -> RenderPlan:
    """Ask every output node for the files each frame would write and see which exist.

    ``mode`` defaults to ``ctx.write_mode``, ``frames`` to ``ctx.frames``. Does not raise for
    existing files (see :meth:`RenderPlan.check`); the graph should be valid."""
    mode = _check_mode(ctx.write_mode if mode is None else mode)
    frames = tuple(ctx.frames if frames is None else frames)
    todo, skipped, existing, outputs = [], [], [], {}
    for frame in frames:
        fctx = ctx.at(frame)
        planned = tuple(p for name in graph.outputs for p in graph.nodes[name].planned_outputs(fctx))
        found = [p for p in planned if os.path.exists(p)]
        outputs[frame] = planned
        existing += [(frame, p) for p in found]
        # Skipped frames are decided here so a finished frame does not even read its plates.
        if mode == "skip" and planned and len(found) == len(planned):
            skipped.append(frame)
        else:
            todo.append(frame)
    return RenderPlan(mode, frames, tuple(todo), tuple(skipped), outputs, tuple(existing))


def frames_available(graph: Graph, ctx: Context) -> tuple[int, ...]:
    """The frames on disk of the first node (in graph order) that reports any, else ()."""
    for node in graph.nodes.values():
        found = node.frames_available(ctx)
        if found:
            return tuple(found)
    return ()


def render(graph: Graph, ctx: Context, *, frames: Iterable[int] | None = None, mode: str | None = None,
           progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
           evaluator: Evaluator | None = None, cache_bytes: int | None = None) -> RenderResult:
    """Render every ``graph.outputs`` node over the frames.

    ``ctx.frames`` is the range (sequence nodes and ``${first}``/``${last}`` see it); ``frames``
    (default: the range) are the ones to render and must lie in it. ``mode`` defaults to
    ``ctx.write_mode``; when given it replaces it, so writers and the pre-flight agree.
    ``evaluator`` reuses a cache across calls; otherwise one is made with ``cache_bytes``.
    Raises ValidationError/UsageError (bad graph, no outputs, no frames), OutputExistsError
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
    outside = [f for f in frames if f not in ctx.frames]
    if outside:
        raise UsageError(f"frames {outside[:5]} are outside the context's range "
                         f"{min(ctx.frames)}-{max(ctx.frames)}", source=graph.source)
    graph.validate(ctx)
    if not graph.outputs:
        raise UsageError("the preset renders nothing: list writer nodes under 'outputs:'", source=graph.source)

    todo = plan(graph, ctx, mode, frames)
    todo.check()  # before anything is computed: a refused overwrite costs nothing

    if evaluator is None:
        evaluator = Evaluator(graph, **({"cache_bytes": cache_bytes} if cache_bytes is not None else {}))
    result = RenderResult(frames=(), skipped=todo.skipped, seconds=0.0, device=ctx.device, evaluator=evaluator)
    total = len(todo.todo)
    started = time.perf_counter()
    try:
        if progress is not None:
            progress(0, total, None, 0.0)
        for frame in todo.todo:
            if cancel is not None and cancel():
                result.cancelled = True
                raise RenderCancelled(f"cancelled before frame {frame}: {len(result.frames)} of {total} frame(s) rendered")
            t0 = time.perf_counter()
            fctx = ctx.at(frame)
            with evaluator.batch():  # one hashing pass for all outputs; files are read afresh each frame
                for name in graph.outputs:
                    evaluator.pull(name, fctx)
            elapsed = time.perf_counter() - t0
            result.frames += (frame,)
            result.frame_seconds[frame] = elapsed
            result.seconds = time.perf_counter() - started
            if progress is not None:
                progress(len(result.frames), total, frame, elapsed)
    except BaseException as exc:
        result.seconds = time.perf_counter() - started
        exc.render_result = result  # what was done before the stop, for stats
        raise
    result.seconds = time.perf_counter() - started
    return result


__all__ = ["MODES", "RenderPlan", "RenderResult", "frames_available", "plan", "render"]
