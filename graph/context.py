"""Evaluation context: the frame being pulled, the range, fps, device and variables.

``Context.substitute`` is the one place where strings get expanded:
    ``${name}``   a variable (preset ``vars:``, ``--set``, or built-ins ``frame``, ``fps``,
                  ``first``, ``last``, ``device``); ``$$`` is a literal ``$``
    ``####``      the frame, zero-padded to the number of ``#`` (Nuke)
    ``%04d``      printf-style frame (any width, ``%d`` unpadded)
    ``@@@``       the frame, zero-padded to the number of ``@`` (RV/OpenImageIO)
Frame tokens need a frame; expanding them without one is an error.

Limits: a range holds at most ``MAX_FRAMES`` frames (render longer shots in chunks) and frame
numbers have at most ``MAX_FRAME_DIGITS`` digits; ``parse_frames`` refuses more before building
anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from facewarp.core.errors import UsageError, ValidationError, brief, cut
from facewarp.core.frames import frame_path, has_token

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEVICES = ("auto", "cpu", "cuda")
MAX_FRAMES = 100_000  # frames in one range (--frames, a preset's frames:, PlateRead's frames)
MAX_FRAME_DIGITS = 9  # frame numbers up to 999,999,999


@dataclass(frozen=True)
class Context:
    frame: int | None = None
    frames: tuple[int, ...] = ()
    fps: float = 24.0
    device: str = "auto"
    # What writers do with an existing file: "error" (default: never overwrite unasked),
    # "overwrite" (--overwrite) or "skip" (--skip-existing).
    write_mode: str = "error"
    variables: dict[str, Any] = field(default_factory=dict)

    def at(self, frame: int) -> Context:
        return replace(self, frame=int(frame))

    def builtins(self) -> dict[str, Any]:
        out = {"fps": self.fps, "device": self.device}
        if self.frame is not None:
            out["frame"] = self.frame
        if self.frames:
            out["first"] = min(self.frames)
            out["last"] = max(self.frames)
        return out

    def lookup(self, name: str) -> Any:
        if name in self.variables:
            return self.variables[name]
        builtins = self.builtins()
        if name in builtins:
            return builtins[name]
        known = sorted(set(self.variables) | set(builtins))
        raise ValidationError(f"unknown variable ${{{cut(name)}}} (known: {cut(', '.join(known), 400)})")

    def substitute(self, text: str, *, frames: bool = True) -> Any:
        """Expand variables and (if ``frames``) frame tokens in ``text``.

        A string that is exactly one ``${var}`` returns the variable's value with its own
        type, so a float parameter can be set to ``"${gain}"``.
        """
        if not isinstance(text, str):
            return text
        whole = _VAR.fullmatch(text)
        if whole and whole.group(1):
            value = self.lookup(whole.group(1))
            if not isinstance(value, str):
                return value
            text = self._expand_vars(value, 1)
        else:
            text = self._expand_vars(text, 0)
        if frames:
            text = self.expand_frame(text)
        return text.replace("\0", "$")

    def _expand_vars(self, text: str, depth: int) -> str:
        if depth > 8:
            raise ValidationError(f"variables refer to each other in a loop while expanding '{cut(text)}'")

        def var(m):
            if m.group(0) == "$$":
                return "\0"  # placeholder so a literal $ is not expanded again
            value = self.lookup(m.group(1))
            return self._expand_vars(value, depth + 1) if isinstance(value, str) else str(value)

        return _VAR.sub(var, text)

    def expand_frame(self, text: str, frame: int | None = None) -> str:
        frame = self.frame if frame is None else frame
        if not has_token(text):
            return text
        if frame is None:
            raise ValidationError(f"'{cut(text)}' has a frame token but no frame is being evaluated")
        return frame_path(text, frame)


_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:x\s*(\d+)\s*)?)?$")


def parse_frames(spec: str) -> tuple[int, ...]:
    """``1001-1100``, ``1001-1100x2``, ``1,5,9`` or combinations ``1-3,10`` -> sorted frames.

    At most ``MAX_FRAMES`` frames: the count is worked out from the bounds before any list is built."""
    if not isinstance(spec, (str, int)) or isinstance(spec, bool):
        raise UsageError(f"frame range must be a string like 1001-1100, got {brief(spec)}")
    text = str(spec)
    shown = cut(text)
    parts, total = [], 0
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise UsageError(f"bad frame range '{cut(part.strip())}' in '{shown}' (use 1001-1100, 1001-1100x2 or 1,5,9)")
        if any(g is not None and len(g.lstrip("-")) > MAX_FRAME_DIGITS for g in m.groups()):
            raise UsageError(f"frame numbers in '{cut(part.strip())}' have more than {MAX_FRAME_DIGITS} digits")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3)) if m.group(3) else 1
        if last < first:
            raise UsageError(f"frame range '{cut(part.strip())}' ends before it starts")
        if step < 1:
            raise UsageError(f"frame step in '{cut(part.strip())}' must be >= 1")
        total += (last - first) // step + 1
        if total > MAX_FRAMES:
            raise UsageError(f"frame range '{shown}' has more than {MAX_FRAMES} frames (the limit of one run; "
                             "render long shots in chunks)")
        parts.append((first, last, step))
    out = tuple(sorted({f for first, last, step in parts for f in range(first, last + 1, step)}))
    if not out:
        raise UsageError(f"frame range '{shown}' is empty")
    return out
