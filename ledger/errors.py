"""One hierarchy of domain errors. The command line maps them to exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class AidLedgerError(Exception):
    """Base of every error aidledger raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one line of an input file."""

    line: int
    column: str
    reason: str
    value: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        shown = f" (value {self.value!r})" if self.value else ""
        return f"{where}: {self.reason}{shown}"


class ProblemSink(Protocol):
    """Where problems go while a file is read: a list, or :class:`Problems`."""

    def append(self, problem: Problem, /) -> None: ...


#: Problems listed in a refusal at most: a file of a million bad rows is refused with the
#: first ones and a count of the rest, not a message of a million lines.
LISTED = 1000


class Problems:
    """The problems of one file: every one counted, the first ``listed`` kept."""

    def __init__(self, listed: int = LISTED) -> None:
        self.listed = listed
        self.kept: list[Problem] = []
        self.count = 0

    def append(self, problem: Problem, /) -> None:
        self.count += 1
        if len(self.kept) < self.listed:
            self.kept.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.append(problem)

    def also(self, count: int) -> None:
        """Count problems found beyond those that can be listed."""
        self.count += count

    def __bool__(self) -> bool:
        return self.count > 0

    def refuse_if_any(self, source: str) -> None:
        """Raise InputRefused listing the problems kept (by line) and counting the rest."""
        if self.count:
            kept = sorted(self.kept, key=lambda p: p.line)
            raise InputRefused(source, kept, more=self.count - len(kept))


class InvalidValue(AidLedgerError, ValueError):
    """A single value (amount, date, id number...) does not parse."""


class InputRefused(AidLedgerError):
    """An input file was refused; nothing from it was recorded."""

    def __init__(self, source: str, problems: list[Problem], *, more: int = 0) -> None:
        self.source = source
        self.problems = problems
        #: Problems found beyond those listed (see `Problems`).
        self.more = more
        lines = "\n".join(f"  {source}: {p}" for p in problems)
        count = f"{len(problems) + more:,} problem(s)"
        if more:
            count += f", the first {len(problems):,} by line listed"
        super().__init__(f"{source}: refused, {count}; nothing was recorded\n{lines}")


class InputTooLarge(InputRefused):
    """An input file larger than the configured maximum: refused before it is read."""

    def __init__(self, source: str, size: int, limit: int) -> None:
        AidLedgerError.__init__(
            self,
            f"{source}: refused: {size:,} bytes ({_gib(size)}), more than the largest input "
            f"file allowed ({limit:,} bytes, {_gib(limit)}); nothing was read or recorded. "
            "To import it, raise AIDLEDGER_MAX_INPUT_BYTES (in bytes) above its size",
        )
        self.source = source
        self.problems = []
        self.more = 0
        self.size = size
        self.limit = limit


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB"


class InputChanged(AidLedgerError):
    """An input file's bytes changed between two readings of one import."""


class ImportIncomplete(AidLedgerError):
    """An import was interrupted (or is still running): its rows are not all recorded, so
    nothing that reads them may run until the same import, run again, completes it."""


class ConfigError(AidLedgerError):
    """The programs config file is missing or invalid."""


class NotAuthorised(AidLedgerError):
    """The acting staff member may not do this (unknown, or same as the maker)."""


class NotFound(AidLedgerError):
    """A case, run or finding that was asked for does not exist."""


class StoreError(AidLedgerError):
    """The store cannot be opened or is not at the expected schema."""
