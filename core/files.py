"""Atomic output files: the one mechanism every writer uses (plates, presets, checkpoints,
ONNX exports, model files, reports). The data goes to a temp file in the destination's
folder (same file system, so the final rename is atomic) which keeps the extension (writers
such as OpenImageIO and numpy choose their format by it); only a complete file is moved into
place, and a failed write leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import secrets

from facewarp.core.errors import OutputExistsError


def temp_path_for(final: str | os.PathLike) -> str:
    """A temp name beside ``final`` that keeps its extension."""
    directory, name = os.path.split(os.fspath(final))
    stem, ext = os.path.splitext(name)
    return os.path.join(directory, f".{stem}.partial-{os.getpid()}-{secrets.token_hex(4)}{ext}")


def commit_file(tmp: str, final: str | os.PathLike, overwrite: bool) -> None:
    """Move a finished temp file into place; refuse to replace an existing file unless asked."""
    final = os.fspath(final)
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
        if os.path.exists(tmp):
            os.unlink(tmp)
