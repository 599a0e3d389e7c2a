"""OpenCue export: an outline built with ``opencue-pyoutline`` and serialised to the job-spec XML
(cjsl DTD, the spec version pyoutline is configured for: 1.15 for pyoutline 1.37).

Two layers of ``outline.modules.shell.Shell``: ``shot_cache`` (type Util, one frame: the shot's
first) running ``facewarp run ... --cache-only``, and ``render`` (type Render, the shot, chunk =
``--chunk``) running ``--frames #FRAME_START#-#FRAME_END#`` (RQD substitutes each chunk's first
and last frame), which depends on ``shot_cache`` (LAYER_ON_LAYER). Commands are one string, each
argument quoted for a POSIX shell (``shlex.join``). Submit with ``cuerun`` or ``opencue.api``
(``launchSpec``) from ``DIR/job.xml``.

Needs the ``farm`` extra (``opencue-pyoutline`` and ``packaging``); imported only when used.
"""

from __future__ import annotations

import os
import shlex

from facewarp.core.errors import UsageError
from facewarp.core.files import atomic_output

from .jobs import FarmJob, frames_spec

XML_NAME = "job.xml"


def _outline():
    try:
        import outline
        import outline.backend.cue
        import outline.cuerun
        from outline.modules.shell import Shell
    except ImportError as exc:
        raise UsageError(f"the OpenCue export needs opencue-pyoutline: pip install 'facewarp[farm]' ({exc})") from None
    return outline, Shell


def spec_xml(job: FarmJob, *, show: str = "facewarp", shot: str = "shot", user: str | None = None) -> str:
    """The job spec as OpenCue's XML."""
    outline, Shell = _outline()
    ol = outline.Outline(job.name, frame_range=frames_spec(job.frames), shot=shot, show=show,
                         user=user or os.environ.get("USER") or "facewarp")
    cache = Shell("shot_cache", command=shlex.join(job.cache_command()), range=str(job.frames[0]), chunk=1,
                  type="Util", service="shell")
    render = Shell("render", command=shlex.join(job.render_command("#FRAME_START#", "#FRAME_END#")),
                   range=frames_spec(job.frames), chunk=job.chunk, service="shell")
    render.depend_all(cache)
    ol.add_layer(cache)
    ol.add_layer(render)
    launcher = outline.cuerun.OutlineLauncher(ol, user=ol.get_user(), nomail=True)
    return outline.backend.cue.serialize_simple(launcher)


def write(job: FarmJob, out_dir: str, *, overwrite: bool = False, **kwargs) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, XML_NAME)
    text = spec_xml(job, **kwargs)
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return [path]


__all__ = ["XML_NAME", "spec_xml", "write"]
