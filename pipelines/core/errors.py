"""Errors a user can act on: they name the file, the line and the fix."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One problem in a project file, printed as ``file:line: message``."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class KontorError(Exception):
    """An error with a one-line, actionable message; the CLI prints it without a traceback."""


class ProjectError(KontorError):
    """One or more problems in the project's files."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SourceFileError(KontorError):
    """An extract that cannot be read at all: names the file, the problem and the fix."""

    def __init__(self, path: Path | str, problem: str, fix: str):
        self.path, self.problem, self.fix = str(path), problem, fix
        super().__init__(f"{path}: {problem}; fix: {fix}")


def did_you_mean(word: str, candidates: list[str] | set[str]) -> str:
    """The closest candidate as a message suffix, or nothing.

    >>> did_you_mean("formt", {"format", "encoding"})
    "; did you mean 'format'?"
    >>> did_you_mean("zzz", {"format"})
    ''
    """
    match = difflib.get_close_matches(word, sorted(candidates), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""
