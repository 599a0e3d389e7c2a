"""Open Job Description (``jobtemplate-2023-09``) export, with the ``TASK_CHUNKING`` extension.

Two steps: ``ShotCache`` (one task: ``facewarp run ... --cache-only``) and ``Render``, which depends
on it and whose one task parameter ``Frame`` is ``CHUNK[INT]`` over the shot with
``rangeConstraint: CONTIGUOUS``: each task gets a contiguous run of frames as ``A-B`` (a one-frame
chunk arrives as ``1001-1001``; a range with gaps is split at the gaps), passed as ``--frames``.
The chunk size is the job parameter ``ChunkSize`` (default: ``--chunk``). Check and run it with
``openjd check DIR/job.template.yaml`` and ``openjd run DIR/job.template.yaml --step Render
--run-dependencies``.
"""

from __future__ import annotations

import os

import yaml

from facewarp.core.files import atomic_output

from .jobs import FarmJob, runs

SPEC = "jobtemplate-2023-09"
TEMPLATE_NAME = "job.template.yaml"


def range_expr(frames) -> str:
    """Frames as an OpenJD integer range expression: ``1001-1100`` or ``1-3,7,9-12``."""
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs(frames))


def _action(command: list[str]) -> dict:
    return {"command": command[0], "args": command[1:]}


def template(job: FarmJob) -> dict:
    """The job template as a plain dict."""
    return {
        "specificationVersion": SPEC,
        "extensions": ["TASK_CHUNKING"],
        "name": job.name,
        "description": f"facewarp: {os.path.basename(job.preset)} over frames {job.shot} in chunks of at most "
                       f"{job.chunk}; the first step computes the shot cache every chunk reuses",
        "parameterDefinitions": [
            {"name": "ChunkSize", "type": "INT", "default": job.chunk, "minValue": 1,
             "description": "frames per Render task"},
        ],
        "steps": [
            {
                "name": "ShotCache",
                "description": "sequence nodes (tracking, fitting) over the whole shot, into the shot cache",
                "script": {"actions": {"onRun": _action(job.cache_command())}},
            },
            {
                "name": "Render",
                "description": "render a chunk of frames (--skip-existing: a retried task finishes what is missing)",
                "dependencies": [{"dependsOn": "ShotCache"}],
                "parameterSpace": {
                    "taskParameterDefinitions": [
                        {"name": "Frame", "type": "CHUNK[INT]", "range": range_expr(job.frames),
                         "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"}},
                    ],
                },
                "script": {"actions": {"onRun": _action(_render_command(job))}},
            },
        ],
    }


def _render_command(job: FarmJob) -> list[str]:
    cmd = job.render_command("A", "B")
    i = cmd.index("--frames")
    cmd[i + 1] = "{{Task.Param.Frame}}"  # "A-B" (contiguous chunks)
    return cmd


def write(job: FarmJob, out_dir: str, *, overwrite: bool = False) -> list[str]:
    """Write ``out_dir/job.template.yaml``; returns the files written."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, TEMPLATE_NAME)
    text = yaml.safe_dump(template(job), sort_keys=False, width=1 << 16, allow_unicode=True)
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    return [path]


__all__ = ["SPEC", "TEMPLATE_NAME", "range_expr", "template", "write"]
