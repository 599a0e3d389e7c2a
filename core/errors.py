"""Error types and exit codes.

Every user-facing problem is a ``FacewarpError`` whose ``str()`` is one line naming where it
happened (node, port, parameter, file, frame, preset line) and what was expected/got. The CLI
prints that line and exits with the class's ``exit_code``; it never prints a traceback for them.

Exit codes (also in the README):
    0  success
    1  failure while rendering (a node's computation failed)
    2  invalid preset, arguments or inputs (validation, missing/unreadable input files,
       refusing to overwrite an existing output)
  130  cancelled (the host's cancel callback, or Ctrl-C in the CLI)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RENDER_FAILED = 1
EXIT_INVALID = 2
EXIT_CANCELLED = 130  # the shell's code for SIGINT: a stop asked for, not a failure


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
        def one_line(value) -> str:  # names come from user files: keep the message on one line
            text = str(value)
            return text.encode("unicode_escape").decode("ascii") if any(c in text for c in "\n\r\t\x0b\x0c") else text

        where = []
        if self.source is not None:
            where.append(f"{self.source}:{self.line}" if self.line is not None else self.source)
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
            where.append(f"file '{one_line(self.file)}'")
        if self.frame is not None:
            where.append(f"frame {self.frame}")
        text = one_line(" ".join(self.message.splitlines())) or self.__class__.__name__
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


class RenderError(FacewarpError):
    """A node failed while computing a frame."""

    exit_code = EXIT_RENDER_FAILED


class RenderCancelled(FacewarpError):
    """A render was stopped on request between frames; ``render_result`` holds what was done."""

    exit_code = EXIT_CANCELLED
