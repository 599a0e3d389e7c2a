"""Thinkbox Deadline export: job-info and plugin-info files for the CommandLine plugin.

Two jobs, each a pair of ``key=value`` files:

* ``shot_cache.job_info.job`` / ``shot_cache.plugin_info.job``: one task (``Frames`` = the shot's
  first frame, ``ChunkSize=1``) running ``facewarp run ... --cache-only``;
* ``render.job_info.job`` / ``render.plugin_info.job``: ``Frames`` = the shot, ``ChunkSize`` = the
  chunk; ``Arguments`` holds ``--frames <STARTFRAME>-<ENDFRAME>`` (Deadline substitutes each
  task's first and last frame) and ``--progress-lines``, so ``facewarp run`` prints
  ``Progress: N%`` lines that the plugin's progress handling parses; ``JobDependencies`` names the
  shot-cache job.

A job's ID is known only once Deadline accepts it, so ``submit.sh`` submits the shot-cache job
(``deadlinecommand -SubmitJob``), reads the ``JobID=`` line it prints, writes it into
``JobDependencies`` (the files hold the placeholder ``CACHE_JOB_ID``) and submits the render job.

``Arguments`` is one string (Deadline starts the executable itself, no shell): an argument with
spaces or other characters is put in double quotes, a ``"`` inside written ``\\"``; Deadline's
argument splitting and ``shlex.split`` read that back alike. A backslash in an argument is refused
(the two disagree on it).
"""

from __future__ import annotations

import os
import re
import stat

from facewarp.core.errors import UsageError
from facewarp.core.files import atomic_output

from .jobs import FarmJob, frames_spec

CACHE_JOB_ID = "CACHE_JOB_ID"  # placeholder in render.job_info.job until submit.sh knows the ID
FILES = ("shot_cache.job_info.job", "shot_cache.plugin_info.job", "render.job_info.job", "render.plugin_info.job",
         "submit.sh")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:=,@%+#-]+$")


def quote(arg: str) -> str:
    """One argument for Deadline's ``Arguments`` string."""
    if "\\" in arg:
        raise UsageError(f"a Deadline command argument cannot hold a backslash: '{arg[:80]}'")
    if arg and _PLAIN.match(arg) and not arg.startswith("#"):
        return arg
    return '"' + arg.replace('"', '\\"') + '"'


def arguments(args: list[str]) -> str:
    return " ".join(quote(a) for a in args)


def _lines(pairs: dict) -> str:
    for key, value in pairs.items():
        if "\n" in str(value) or "\r" in str(value):
            raise ValueError(f"Deadline info value for {key} has a line break")
    return "".join(f"{k}={v}\n" for k, v in pairs.items())


def files(job: FarmJob) -> dict[str, str]:
    """File name -> content."""
    cache_cmd = job.cache_command()
    render_cmd = job.render_command("<STARTFRAME>", "<ENDFRAME>", progress_lines=True)
    common = {"Plugin": "CommandLine", "BatchName": job.name, "OnTaskTimeout": "Error"}
    cache_job = {**common, "Name": f"{job.name} shot cache", "Frames": str(job.frames[0]), "ChunkSize": 1,
                 "Comment": "facewarp: sequence nodes over the whole shot, into the shot cache"}
    render_job = {**common, "Name": f"{job.name} render", "Frames": frames_spec(job.frames), "ChunkSize": job.chunk,
                  "JobDependencies": CACHE_JOB_ID,
                  "Comment": "facewarp: frame chunks (--skip-existing: a requeued task finishes what is missing)"}
    plugin = {"Shell": "default", "ShellExecute": False, "SingleFramesOnly": False, "StartupDirectory": job.workdir}
    cache_plugin = {"Executable": cache_cmd[0], "Arguments": arguments(cache_cmd[1:]), **plugin}
    render_plugin = {"Executable": render_cmd[0], "Arguments": arguments(render_cmd[1:]), **plugin}
    submit = f"""#!/bin/sh
# Submit the facewarp shot-cache job, then the render job depending on it (JobDependencies).
# DEADLINECOMMAND: the deadlinecommand executable (default: deadlinecommand on PATH).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dl=${{DEADLINECOMMAND:-deadlinecommand}}
out=$("$dl" -SubmitJob "$here/shot_cache.job_info.job" "$here/shot_cache.plugin_info.job")
printf '%s\\n' "$out"
id=$(printf '%s\\n' "$out" | sed -n 's/^JobID=//p' | tr -d '\\r' | head -n 1)
[ -n "$id" ] || {{ echo "submit.sh: no JobID in deadlinecommand's output" >&2; exit 1; }}
sed "s/^JobDependencies={CACHE_JOB_ID}\\$/JobDependencies=$id/" "$here/render.job_info.job" > "$here/render.submitted.job_info.job"
"$dl" -SubmitJob "$here/render.submitted.job_info.job" "$here/render.plugin_info.job"
"""
    return {"shot_cache.job_info.job": _lines(cache_job), "shot_cache.plugin_info.job": _lines(cache_plugin),
            "render.job_info.job": _lines(render_job), "render.plugin_info.job": _lines(render_plugin),
            "submit.sh": submit}


def write(job: FarmJob, out_dir: str, *, overwrite: bool = False) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, text in files(job).items():
        path = os.path.join(out_dir, name)
        with atomic_output(path, overwrite=overwrite) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            if name.endswith(".sh"):
                os.chmod(tmp, os.stat(tmp).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(path)
    return written


def parse_info(text: str) -> dict[str, str]:
    """A Deadline info file as a dict (``key=value`` lines; the first ``=`` splits)."""
    out = {}
    for line in text.splitlines():
        if line.strip():
            key, _, value = line.partition("=")
            out[key] = value
    return out


__all__ = ["CACHE_JOB_ID", "FILES", "arguments", "files", "parse_info", "quote", "write"]
