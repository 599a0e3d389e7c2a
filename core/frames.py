"""File sequences: patterns with frame tokens (``####``, ``%04d``, ``@@@@``) and what is on disk."""

from __future__ import annotations

import glob
import os
import re

_TOKEN = re.compile(r"%0?(\d*)d|#+|@+")


def has_token(pattern: str) -> bool:
    return bool(_TOKEN.search(pattern))


def frame_path(pattern: str, frame: int) -> str:
    """The file name of ``frame`` in ``pattern``."""

    def sub(m):
        token = m.group(0)
        width = (int(m.group(1)) if m.group(1) else 0) if token.startswith("%") else len(token)
        return ("-" if frame < 0 else "") + str(abs(frame)).zfill(width)

    return _TOKEN.sub(sub, pattern)


def _regex(pattern: str) -> re.Pattern:
    parts, last = [], 0
    for m in _TOKEN.finditer(pattern):
        parts.append(re.escape(pattern[last:m.start()]))
        parts.append(r"(-?\d+)")
        last = m.end()
    parts.append(re.escape(pattern[last:]))
    return re.compile("^" + "".join(parts) + "$")


def frames_on_disk(pattern: str) -> list[int]:
    """Frames of ``pattern`` that exist, sorted. A pattern without a token gives []."""
    if not has_token(pattern):
        return []
    wildcard = glob.escape(_TOKEN.sub("\0", pattern)).replace("\0", "*")
    rx = _regex(os.path.normpath(pattern))
    frames = set()
    for path in glob.glob(wildcard):
        m = rx.match(os.path.normpath(path))
        if m and len({int(g) for g in m.groups()}) == 1:
            frame = int(m.group(1))
            if frame_path(pattern, frame) == path or os.path.normpath(frame_path(pattern, frame)) == os.path.normpath(path):
                frames.add(frame)
    return sorted(frames)
