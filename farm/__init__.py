"""Render farms: job exports (OpenJD, Deadline, OpenCue) and a Dask executor.

The library behind ``facewarp farm export`` and ``facewarp run --dask``: :mod:`.jobs` builds the
job (the shot-cache step, the frame chunks, every task's absolute command line), one module per
format writes it, :mod:`.dask_run` runs it on a Dask cluster. The OpenCue and Dask parts need
the ``farm`` extra (``pip install 'facewarp[farm]'``) and import it only when used.
"""

from __future__ import annotations

from .jobs import FarmJob, build_job, chunks, frames_spec

FORMATS = ("openjd", "deadline", "opencue")


def export(job: FarmJob, fmt: str, out_dir: str, *, overwrite: bool = False) -> list[str]:
    """Write ``job`` in format ``fmt`` (one of FORMATS) into ``out_dir``; returns the files."""
    if fmt == "openjd":
        from . import openjd as writer
    elif fmt == "deadline":
        from . import deadline as writer
    elif fmt == "opencue":
        from . import opencue as writer
    else:
        from facewarp.core.errors import UsageError

        raise UsageError(f"unknown farm format '{str(fmt)[:40]}' (known: {', '.join(FORMATS)})")
    return writer.write(job, out_dir, overwrite=overwrite)


__all__ = ["FORMATS", "FarmJob", "build_job", "chunks", "export", "frames_spec"]
