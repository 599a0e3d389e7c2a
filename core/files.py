"""Atomic output files: the one mechanism every writer uses (plates, presets, checkpoints,
ONNX exports, model files, reports). The data goes to a temp file in the destination's
folder (same file system, so the final rename is atomic) which keeps the extension (writers
such as OpenImageIO and numpy choose their format by it); only a complete file is moved into
place, and a failed write leaves nothing behind: the temp file is removed on every exit path
Python sees (an error, Ctrl-C, SIGTERM once the CLI turns it into an exception).

Only ``kill -9`` or a lost machine can leave a temp file; its name says whose it was
(``.{stem}.partial-{pid}-{8 hex}{ext}``, see :func:`temp_path_for`), and
:func:`remove_stale_temps` - called by the render pre-flight for the run's own outputs - removes
it once that process is gone and the file has not changed for ``STALE_TEMP_SECONDS`` (a task on
another farm machine, whose process id means nothing here, may still be writing it)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable

from facewarp.core.errors import OutputExistsError, RenderError


def temp_path_for(final: str | os.PathLike) -> str:
    """A temp name beside ``final`` that keeps its extension."""
    directory, name = os.path.split(os.fspath(final))
    stem, ext = os.path.splitext(name)
    return os.path.join(directory, f".{stem}.partial-{os.getpid()}-{secrets.token_hex(4)}{ext}")


# Exactly the names temp_path_for makes: "." stem ".partial-" pid "-" 8 hex digits, then the
# extension (splitext's: empty or "." and no further dot).
_TEMP_NAME = re.compile(r"\.(?P<stem>.*)\.partial-(?P<pid>[0-9]{1,10})-[0-9a-f]{8}(?P<ext>(?:\.[^.]*)?)", re.S)
STALE_TEMP_SECONDS = 60.0


def parse_temp_name(name: str) -> tuple[str, int] | None:
    """(final file name, writer's process id) for a temp name made by :func:`temp_path_for`, else None."""
    m = _TEMP_NAME.fullmatch(name)
    if m is None:
        return None
    final = m.group("stem") + m.group("ext")
    stem, ext = os.path.splitext(final)
    if (stem, ext) != (m.group("stem"), m.group("ext")):  # not what temp_path_for would have made
        return None
    return final, int(m.group("pid"))


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine. Unsure (not POSIX, no permission): True."""
    if pid == os.getpid():
        return True
    if os.name != "posix" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


def remove_stale_temps(finals: Iterable[str | os.PathLike], *, min_age: float = STALE_TEMP_SECONDS) -> list[str]:
    """Remove temp files that a killed writer left for any of the output files ``finals``.

    Only regular files named exactly like :func:`temp_path_for`'s temp for one of these outputs,
    in the output's own folder, whose process is not running here and which have not been
    modified for ``min_age`` seconds. Nothing else is touched. Returns the removed paths."""
    wanted: dict[str, set[str]] = {}
    for final in finals:
        directory, name = os.path.split(os.fspath(final))
        wanted.setdefault(directory or ".", set()).add(name)
    removed, now = [], time.time()
    for directory, names in wanted.items():
        try:
            entries = list(os.scandir(directory))
        except OSError:  # no folder yet: nothing stale in it
            continue
        for entry in entries:
            parsed = parse_temp_name(entry.name) if entry.name.startswith(".") else None
            if parsed is None or parsed[0] not in names or process_alive(parsed[1]):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < min_age:
                    continue
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(entry.path)
    return removed


def commit_file(tmp: str, final: str | os.PathLike, overwrite: bool) -> None:
    """Move a finished temp file into place; refuse to replace an existing file unless asked."""
    final = os.fspath(final)
    if not os.path.isfile(tmp):
        raise RenderError("nothing was written (the writer left no file)", file=final)
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # atomic "create if absent": two farm tasks cannot both win
    except FileExistsError:
        os.unlink(tmp)
        raise OutputExistsError("exists (use --overwrite to replace it or --skip-existing to keep it)",
                                file=final) from None
    except OSError:
        # File systems without hard links: best effort check, then the atomic rename.
        if os.path.exists(final):
            os.unlink(tmp)
            raise OutputExistsError("exists (use --overwrite to replace it or --skip-existing to keep it)",
                                    file=final) from None
        os.replace(tmp, final)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(final: str | os.PathLike, overwrite: bool):
    """``with atomic_output(path, overwrite) as tmp:`` write ``tmp``; on leaving the block the
    file is committed (see :func:`commit_file`), and on an error the temp file is removed."""
    tmp = temp_path_for(final)
    try:
        yield tmp
        commit_file(tmp, final, overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # committed (linked or renamed away) or failed: never left behind
