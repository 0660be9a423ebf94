"""One hierarchy of domain errors. The command line maps them to exit codes."""

from __future__ import annotations

from dataclasses import dataclass


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


class InvalidValue(AidLedgerError, ValueError):
    """A single value (amount, date, id number...) does not parse."""


class InputRefused(AidLedgerError):
    """An input file was refused; nothing from it was recorded."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {source}: {p}" for p in problems)
        super().__init__(
            f"{source}: refused, {len(problems)} problem(s); nothing was recorded\n{lines}"
        )


class ConfigError(AidLedgerError):
    """The programs config file is missing or invalid."""


class NotAuthorised(AidLedgerError):
    """The acting staff member may not do this (unknown, or same as the maker)."""


class NotFound(AidLedgerError):
    """A case, run or finding that was asked for does not exist."""


class StoreError(AidLedgerError):
    """The store cannot be opened or is not at the expected schema."""
