"""Errors a user can act on. Library code raises them; only main() turns them into exit codes
(as kas does: user error 2, internal error 1, Ctrl-C 130)."""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """A problem with the user's input or environment, reported as one line, exit code 2."""


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in an input file: where it is and what is wrong."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ValidationError(UserError):
    """Every problem found in the input files, reported all at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))
