"""Counts and figures nodes report while computing (fold-over triangles, repaired pixels, a
frame's tracking status, a fit's error, ...).

A node calls ``events.count("foldovers", n)`` (a number of things, added up) or
``events.figure("fit_reprojection_iod_pct", 1.3)`` (one value per frame: a float or a short
string, the last one a compute gives wins) inside ``compute``; the ``Evaluator`` collects what
each compute reported into that node's ``NodeStats`` (per frame, and counts in total), and
``stats_json()`` carries them. ``summary(stats_json)`` turns the counts into one line for the end
of a run; ``report(stats_json)`` lays counts and figures out per frame. Nothing is printed while
rendering: a count is not a warning per frame.

Outside an evaluation (a library test calling ``compute`` directly) ``count`` and ``figure`` do
nothing.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

Figure = float | str


@dataclass
class Reported:
    """What one compute reported: ``(frame or None, key, n)`` counts and ``(frame or None, key,
    value)`` figures; a None frame is the frame computed."""

    counts: list[tuple[int | None, str, int]] = field(default_factory=list)
    figures: list[tuple[int | None, str, Figure]] = field(default_factory=list)


# What the compute running now reported; set by the Evaluator.
_sink: ContextVar[Reported | None] = ContextVar("facewarp_events", default=None)

# key -> how the summary names it ("12 non-finite sample(s) zeroed"); nodes register theirs.
LABELS: dict[str, str] = {}


def label(key: str, text: str) -> str:
    """Register how ``summary`` words ``key`` (e.g. ``label("foldovers", "fold-over triangle(s)")``).
    A text ending in "frame(s)" counts frames (one per frame): the summary then does not add
    "on N frames"."""
    LABELS[key] = text
    return key


def count(key: str, n: int = 1, frame: int | None = None) -> None:
    """Add ``n`` to ``key`` for the node computing now. ``frame`` is needed only by sequence
    nodes (one compute, many frames); by default the count belongs to the frame computed."""
    n = int(n)
    if n == 0:
        return
    sink = _sink.get()
    if sink is not None:
        sink.counts.append((frame, str(key), n))


def figure(key: str, value: float | str, frame: int | None = None) -> None:
    """Record ``value`` as ``key`` for the node computing now and the frame (``frame`` as in
    ``count``): a number (kept as a float; NaN/inf become None in the JSON) or a string (cut to
    80 characters). A frame has one value per key: a second call replaces the first."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"figure {key!r}: expected a number or a string, got {type(value).__name__}")
    sink = _sink.get()
    if sink is not None:
        sink.figures.append((frame, str(key), value[:80] if isinstance(value, str) else float(value)))


@contextlib.contextmanager
def collecting() -> Iterator[Reported]:
    """Collect the counts and figures reported inside the block (the Evaluator wraps each compute
    in one; nested computes of upstream nodes collect into their own)."""
    reported = Reported()
    token = _sink.set(reported)
    try:
        yield reported
    finally:
        _sink.reset(token)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary(stats: dict) -> str | None:
    """One line naming every count of a run, from a ``stats_json()`` dict (an Evaluator's or a
    render result's), e.g. ``3 fold-over triangle(s) on 2 frames (node 'warp'); 12 non-finite
    sample(s) zeroed on 1 frame (node 'read')``; None when nothing was counted."""
    parts = []
    for name, node in (stats.get("nodes") or {}).items():
        per_frame = node.get("frame_counts") or {}
        for key, total in (node.get("counts") or {}).items():
            if not total:
                continue
            frames = sum(1 for counts in per_frame.values() if counts.get(key))
            word = LABELS.get(key, key.replace('_', ' '))
            text = f"{total} {word}"
            if frames and not word.endswith("frame(s)"):
                text += f" on {_plural(frames, 'frame')}"
            parts.append(f"{text} (node '{name}')")
    return "; ".join(parts) or None


def report(stats: dict) -> dict:
    """What nodes reported in a run, from a ``stats_json()`` dict: what ``facewarp run --report``
    writes, for hosts and farms to read.

    ``{"frames": {frame: {node: {key: value}}}, "totals": {node: {key: n}}, "figures": {node: {key:
    summary}}, "summary": line}``: per frame, each node's counts (integers) and figures (floats,
    None for a non-finite one, or strings) side by side; the counts' totals; per figure, the frames
    it has and for numbers their ``median``, ``min`` and ``max``, for strings how many frames had
    each value (``values``); and ``summary``'s line."""
    frames: dict[str, dict[str, dict[str, int | Figure | None]]] = {}
    totals: dict[str, dict[str, int]] = {}
    figures: dict[str, dict[str, dict]] = {}
    for name, node in (stats.get("nodes") or {}).items():
        if node.get("counts"):
            totals[name] = dict(node["counts"])
        for frame, counts in (node.get("frame_counts") or {}).items():
            if counts:
                frames.setdefault(str(frame), {}).setdefault(name, {}).update(counts)
        per_key: dict[str, list] = {}
        for frame, values in (node.get("frame_figures") or {}).items():
            if values:
                frames.setdefault(str(frame), {}).setdefault(name, {}).update(values)
            for key, value in values.items():
                per_key.setdefault(key, []).append(value)
        if per_key:
            figures[name] = {key: _figure_summary(values) for key, values in sorted(per_key.items())}
    rendered = [str(f) for f in stats.get("frames") or ()]
    for f in rendered:  # every rendered frame has an entry, empty when nothing was reported
        frames.setdefault(f, {})
    order = {f: i for i, f in enumerate(rendered)}
    ordered = dict(sorted(frames.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    return {"frames": ordered, "totals": totals, "figures": figures, "summary": summary(stats)}


def _figure_summary(values: list) -> dict:
    """Median/min/max of a numeric figure (over its finite values), or how often each string came."""
    out: dict = {"frames": len(values)}
    if not any(isinstance(v, str) for v in values):  # numbers (None: a non-finite one)
        finite = [float(v) for v in values if v is not None and math.isfinite(v)]
        if finite:
            out.update(median=statistics.median(finite), min=min(finite), max=max(finite))
        return out
    counted: dict[str, int] = {}
    for v in values:
        counted[str(v)] = counted.get(str(v), 0) + 1
    out["values"] = dict(sorted(counted.items()))
    return out


def figures_line(stats: dict) -> str | None:
    """One line of the run's figures from a ``stats_json()`` dict: each numeric figure's median and
    max over its frames, each string figure's counts, e.g. ``check: transfer_lips_iod_pct median 1.54 max
    1.96 (60 frames); track: tracking_status found 58, interpolated 2`` (figures per node); None when nothing was recorded."""
    parts = []
    for node, figures in (report(stats).get("figures") or {}).items():
        for key, s in figures.items():
            if "median" in s:
                parts.append(f"{node}: {key} median {s['median']:.3g} max {s['max']:.3g} "
                             f"({_plural(s['frames'], 'frame')})")
            elif "values" in s:
                parts.append(f"{node}: {key} " + ", ".join(f"{v} {n}" for v, n in s["values"].items()))
    return "; ".join(parts) or None


__all__ = ["LABELS", "Reported", "collecting", "count", "figure", "figures_line", "label", "report", "summary"]
