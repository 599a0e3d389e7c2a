"""A farm job for a preset over a shot: the shot-cache step, the frame chunks and the exact
command line of every task.

Every task is ``<python> -m facewarp run <preset> --shot <shot> ...`` with absolute paths only:
the interpreter (the one exporting, so the farm runs the same environment), the preset file, the
working folder (``--workdir``: relative paths written inside the preset resolve there), the
output root, and every ``path`` variable of the preset (its default or ``--set`` value, made
absolute against the working folder unless it names another variable). Render tasks always run
with ``--skip-existing``, so a retried or re-queued task finishes only what is missing; the first
step (``--cache-only``) computes the shot cache (``graph/shot_cache.py``) that every render task
then loads, so the chunks equal a single render of the shot.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

from facewarp.core.errors import FacewarpError, UsageError
from facewarp.graph import plan
from facewarp.graph.context import parse_frames
from facewarp.graph.preset import Preset, load_preset
from facewarp.graph.render_loop import resolve_output_root


def runs(frames) -> list[tuple[int, int]]:
    """Sorted frames as runs of consecutive numbers: (first, last) each."""
    out: list[tuple[int, int]] = []
    for f in sorted(set(frames)):
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


def frames_spec(frames) -> str:
    """Frames in facewarp's ``--frames`` syntax: ``1001-1100``, ``1-3,7,9-12``."""
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs(frames))


def chunks(frames, size: int) -> list[tuple[int, int]]:
    """Contiguous chunks of at most ``size`` frames, split at gaps: (first, last) each (what a
    farm's chunking of a contiguous range gives; a gap always starts a new chunk)."""
    if size < 1:
        raise UsageError(f"--chunk must be at least 1, got {size}")
    out = []
    for a, b in runs(frames):
        for start in range(a, b + 1, size):
            out.append((start, min(start + size - 1, b)))
    return out


@dataclass
class FarmJob:
    """Everything the exports and the Dask executor need to run a preset over a shot."""

    preset: str  # absolute
    frames: tuple[int, ...]  # the shot: every frame the job renders
    chunk: int
    sets: list[str] = field(default_factory=list)  # NAME=VALUE, path variables absolute
    output_root: str = ""  # absolute
    workdir: str = ""  # absolute
    device: str = "auto"
    name: str = ""
    python: str = sys.executable

    @property
    def shot(self) -> str:
        return frames_spec(self.frames)

    def chunks(self) -> list[tuple[int, int]]:
        return chunks(self.frames, self.chunk)

    def base_args(self) -> list[str]:
        """Arguments after ``-m facewarp`` common to both steps."""
        args = ["run", self.preset, "--shot", self.shot, "--workdir", self.workdir, "--output-root", self.output_root,
                "--device", self.device]
        for item in self.sets:
            args += ["--set", item]
        return args

    def cache_command(self) -> list[str]:
        """The first step: compute the shot cache (no frame rendered)."""
        return [self.python, "-m", "facewarp", *self.base_args(), "--cache-only", "--quiet"]

    def render_command(self, first: str, last: str, *, progress_lines: bool = False) -> list[str]:
        """A render task for frames ``first``-``last`` (numbers, or a farm's tokens for them)."""
        cmd = [self.python, "-m", "facewarp", *self.base_args(), "--frames", f"{first}-{last}", "--skip-existing"]
        return cmd + (["--progress-lines"] if progress_lines else [])


_VAR_REF = re.compile(r"\$\{")


def _absolute_sets(preset: Preset, sets: list[str], workdir: str) -> list[str]:
    """``sets`` plus every path variable of the preset, made absolute against ``workdir``."""
    given: dict[str, str] = {}
    order: list[str] = []
    for item in sets:
        if "=" not in item:
            raise UsageError(f"--set expects name=value, got '{item[:80]}'")
        name, value = item.split("=", 1)
        name = name.strip()
        if name not in given:
            order.append(name)
        given[name] = value
    for name, spec in preset.variables.items():
        if spec.kind != "path":
            continue
        value = given.get(name, preset.values.get(name))
        if not isinstance(value, str) or not value or _VAR_REF.search(value):
            continue  # unset, or built from other variables: resolved where it is used
        absolute = os.path.normpath(os.path.join(workdir, os.path.expanduser(value)))
        if name not in given:
            order.append(name)
        given[name] = absolute
    return [f"{name}={given[name]}" for name in order]


def build_job(preset_path: str, *, frames_spec_text: str | None = None, chunk: int = 10, sets: list[str] = (),
              output_root: str | None = None, workdir: str | None = None, device: str = "auto",
              name: str | None = None, validate: bool = True) -> FarmJob:
    """Load and check the preset (every problem ``facewarp validate`` finds, where outputs go) and
    make the job. ``frames_spec_text`` defaults to the preset's ``frames:``."""
    if chunk < 1:
        raise UsageError(f"--chunk must be at least 1, got {chunk}")
    preset_path = os.path.abspath(preset_path)
    workdir = os.path.abspath(workdir or os.getcwd())
    preset = load_preset(preset_path)
    frames = parse_frames(frames_spec_text) if frames_spec_text else (
        parse_frames(preset.frames) if preset.frames else None)
    if not frames:
        raise UsageError("no frame range: give --frames or a 'frames:' key in the preset")
    absolute = _absolute_sets(preset, list(sets), workdir)
    preset.apply_sets(absolute)
    root = resolve_output_root(output_root if output_root else workdir)
    if validate:
        cwd = os.getcwd()
        os.chdir(workdir)  # the preset's own relative paths resolve where the tasks will run
        try:
            ctx = preset.context(frames, device=device)
            problems: list[FacewarpError] = list(preset.graph.problems(ctx))
            if not problems:
                problems += plan(preset.graph, ctx, "skip", output_root=root, inputs=[preset_path]).problems
            if not preset.graph.outputs:
                problems.append(UsageError("the preset renders nothing: list writer nodes under 'outputs:'"))
        finally:
            os.chdir(cwd)
        if problems:
            raise problems[0]
    stem = os.path.splitext(os.path.basename(preset_path))[0]
    job_name = name or f"facewarp_{stem}_{frames[0]}-{frames[-1]}"
    return FarmJob(preset=preset_path, frames=tuple(frames), chunk=chunk, sets=absolute, output_root=root,
                   workdir=workdir, device=device, name=re.sub(r"[^A-Za-z0-9_.-]", "_", job_name))


__all__ = ["FarmJob", "build_job", "chunks", "frames_spec", "runs"]
