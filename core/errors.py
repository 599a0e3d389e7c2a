"""Error types and exit codes.

Every user-facing problem is a ``FacewarpError`` whose ``str()`` is one line naming where it
happened (node, port, parameter, file, frame, preset line) and what was expected/got. The CLI
prints that line and exits with the class's ``exit_code``; it never prints a traceback for them.

Exit codes (also in the README):
    0  success
    1  failure while rendering (a node's computation failed)
    2  invalid preset, arguments or inputs (validation, missing/unreadable/corrupt input files,
       non-finite input pixels, refusing to overwrite an existing output, an output folder
       that cannot be created)
  130  cancelled (the host's cancel callback, or Ctrl-C in the CLI)
  143  terminated by SIGTERM (the CLI turns it into SystemExit so temp files are removed)
"""

from __future__ import annotations

import reprlib

EXIT_OK = 0
EXIT_RENDER_FAILED = 1
EXIT_INVALID = 2
EXIT_CANCELLED = 130  # the shell's code for SIGINT: a stop asked for, not a failure


# Values shown in messages come from users (presets, --set, file names) and may be huge or, through
# YAML aliases, shared many times over: they are always shown through ``brief`` (bounded work, at
# most ``SHOWN_CHARS`` characters), and a message as a whole is cut at ``MESSAGE_CHARS``.
SHOWN_CHARS = 80
_BREAKS = frozenset("\n\r\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # what str.splitlines() breaks on
MESSAGE_CHARS = 1000
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 2, 4, 4, 4, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = SHOWN_CHARS, SHOWN_CHARS, SHOWN_CHARS // 2


def brief(value, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters. Never walks a whole large or
    deeply shared structure (reprlib stops after a few items and levels)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - e.g. an int too long to print: name the type instead
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:max(limit - 3, 1)] + "..."


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """A user-supplied string for a message (quoted by the caller), at most ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else text[:max(limit - 3, 1)] + "..."


class FacewarpError(Exception):
    """Base of all errors facewarp reports to users. One line, with location fields."""

    exit_code = EXIT_RENDER_FAILED

    def __init__(self, message: str, *, node: str | None = None, node_type: str | None = None,
                 port: str | None = None, param: str | None = None, file: str | None = None,
                 frame: int | None = None, line: int | None = None, source: str | None = None):
        super().__init__(message)
        self.message = message
        self.node = node
        self.node_type = node_type
        self.port = port
        self.param = param
        self.file = file
        self.frame = frame
        self.line = line
        self.source = source  # preset file name, when the error comes from a preset

    def located(self, **fields) -> FacewarpError:
        """Fill in location fields that are still unknown (callers higher up know more)."""
        for key, value in fields.items():
            if value is not None and getattr(self, key, None) is None:
                setattr(self, key, value)
        return self

    def __str__(self) -> str:
        def one_line(value, limit: int = 4 * SHOWN_CHARS) -> str:  # names come from user files: one line
            text = cut(str(value), limit)
            return text.encode("unicode_escape").decode("ascii") if any(c in _BREAKS for c in text) else text

        where = []
        if self.source is not None:
            source = one_line(self.source, MESSAGE_CHARS)
            where.append(f"{source}:{self.line}" if self.line is not None else source)
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.node is not None:
            where.append(f"node '{one_line(self.node)}'" + (f" ({self.node_type})" if self.node_type else ""))
        elif self.node_type is not None:
            where.append(f"node type {self.node_type}")
        if self.port is not None:
            where.append(f"port '{one_line(self.port)}'")
        if self.param is not None:
            where.append(f"param '{one_line(self.param)}'")
        if self.file is not None:
            where.append(f"file '{one_line(self.file, MESSAGE_CHARS)}'")
        if self.frame is not None:
            where.append(f"frame {self.frame}")
        text = one_line(" ".join(str(self.message)[:2 * MESSAGE_CHARS].splitlines()), MESSAGE_CHARS) \
            or self.__class__.__name__
        return f"{', '.join(where)}: {text}" if where else text


class ValidationError(FacewarpError):
    """The graph, a parameter value or a connection is wrong; found before computing."""

    exit_code = EXIT_INVALID


class PresetError(ValidationError):
    """The YAML preset is malformed (syntax, structure, unknown keys)."""


class UsageError(ValidationError):
    """Command-line arguments are wrong (frame range syntax, --set, flags)."""


class InputError(FacewarpError):
    """An input file is missing or unreadable, or an input value is unusable."""

    exit_code = EXIT_INVALID


class OutputExistsError(FacewarpError):
    """An output file exists and neither --overwrite nor --skip-existing was given."""

    exit_code = EXIT_INVALID


class OutputError(FacewarpError):
    """An output cannot be written where asked: a folder on its path is a file, or cannot be
    created (permissions). Nothing was rendered into it; the fix is the path."""

    exit_code = EXIT_INVALID


class RenderError(FacewarpError):
    """A node failed while computing a frame."""

    exit_code = EXIT_RENDER_FAILED


class RenderCancelled(FacewarpError):
    """A render was stopped on request between frames; ``render_result`` holds what was done."""

    exit_code = EXIT_CANCELLED
