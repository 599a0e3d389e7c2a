"""Counts nodes report while computing (fold-over triangles, repaired pixels, ...).

A node calls ``events.count("foldovers", n)`` inside ``compute``; the ``Evaluator`` collects
what each compute counted into that node's ``NodeStats`` (per frame and in total), and
``stats_json()`` carries them. ``summary(stats_json)`` turns them into one line for the end
of a run. Nothing is printed while rendering: a count is not a warning per frame.

Outside an evaluation (a library test calling ``compute`` directly) ``count`` does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

# (frame or None, key, n) tuples of the compute running now; set by the Evaluator.
_sink: ContextVar[list[tuple[int | None, str, int]] | None] = ContextVar("facewarp_events", default=None)

# key -> how the summary names it ("12 non-finite sample(s) zeroed"); nodes register theirs.
LABELS: dict[str, str] = {}


def label(key: str, text: str) -> str:
    """Register how ``summary`` words ``key`` (e.g. ``label("foldovers", "fold-over triangle(s)")``)."""
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
        sink.append((frame, str(key), n))


@contextlib.contextmanager
def collecting() -> Iterator[list[tuple[int | None, str, int]]]:
    """Collect the counts made inside the block (the Evaluator wraps each compute in one;
    nested computes of upstream nodes collect into their own)."""
    events: list[tuple[int | None, str, int]] = []
    token = _sink.set(events)
    try:
        yield events
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
            text = f"{total} {LABELS.get(key, key.replace('_', ' '))}"
            if frames:
                text += f" on {_plural(frames, 'frame')}"
            parts.append(f"{text} (node '{name}')")
    return "; ".join(parts) or None


def report(stats: dict) -> dict:
    """The counts of a run per frame (``{"frames": {frame: {node: {key: n}}}, "totals": {node:
    {key: n}}, "summary": line}``), from a ``stats_json()`` dict: what ``facewarp run --report``
    writes, for hosts and farms to read."""
    frames: dict[str, dict[str, dict[str, int]]] = {}
    totals: dict[str, dict[str, int]] = {}
    for name, node in (stats.get("nodes") or {}).items():
        if node.get("counts"):
            totals[name] = dict(node["counts"])
        for frame, counts in (node.get("frame_counts") or {}).items():
            if counts:
                frames.setdefault(str(frame), {})[name] = dict(counts)
    rendered = [str(f) for f in stats.get("frames") or ()]
    for f in rendered:  # every rendered frame has an entry, empty when nothing was counted
        frames.setdefault(f, {})
    order = {f: i for i, f in enumerate(rendered)}
    ordered = dict(sorted(frames.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    return {"frames": ordered, "totals": totals, "summary": summary(stats)}


__all__ = ["LABELS", "collecting", "count", "label", "report", "summary"]
