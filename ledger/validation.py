"""Validation of input rows: pure functions from rows to typed values and every problem.

They never stop at the first problem: the caller refuses the file if any are returned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import TypeVar

from ledger.case import CaseRow
from ledger.csvfile import CsvRow, shown
from ledger.errors import InvalidValue, Problem
from ledger.ids import parse_id_number, parse_region_code, parse_staff_id
from ledger.money import format_fen, parse_fen
from ledger.period import parse_date
from ledger.programs import ProgramsConfig
from ledger.registry import DeathRow, StaffRow

T = TypeVar("T")

_ACCOUNT = re.compile(r"^[0-9A-Za-z]{4,34}$")
_CASE_ID = re.compile(r"^[^\s,\x00-\x1f]{1,64}$")


class _RowChecker:
    """Collects the problems of one row while converting its values."""

    def __init__(self, row: CsvRow, problems: list[Problem]) -> None:
        self.row = row
        self.problems = problems
        self.ok = True

    def value(self, column: str, parse: Callable[[str], T], default: T) -> T:
        raw = self.row.values[column]
        try:
            return parse(raw)
        except InvalidValue as e:
            self.fail(column, str(e), raw)
            return default

    def fail(self, column: str, reason: str, raw: str | None = None) -> None:
        value = self.row.values.get(column, "") if raw is None else raw
        self.problems.append(Problem(self.row.line, column, reason, shown(column, value)))
        self.ok = False


def _text(max_len: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw:
            raise InvalidValue("is empty")
        if len(raw) > max_len:
            raise InvalidValue(f"is longer than {max_len} characters")
        return raw

    return parse


def _account(raw: str) -> str:
    if not _ACCOUNT.match(raw):
        raise InvalidValue("bank account must be 4-34 letters or digits")
    return raw


def _case_id(raw: str) -> str:
    if not _CASE_ID.match(raw):
        raise InvalidValue("case_id must be 1-64 characters without spaces or commas")
    return raw


def _household(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 30:
        raise InvalidValue("household_size must be a whole number from 1 to 30")
    return int(raw)


def _optional_date(raw: str) -> date | None:
    return parse_date(raw) if raw else None


_EPOCH = date(1900, 1, 1)


def validate_cases(
    rows: Iterable[CsvRow], config: ProgramsConfig
) -> tuple[list[tuple[int, CaseRow]], list[Problem]]:
    """Typed case rows with their line numbers, and every problem found."""
    good: list[tuple[int, CaseRow]] = []
    problems: list[Problem] = []
    for row in rows:
        c = _RowChecker(row, problems)
        program = c.value("program", lambda s: config.program(s).code, "")
        amount = c.value("monthly_amount", parse_fen, 0)
        if amount < 0:
            c.fail("monthly_amount", "must not be negative")
        elif program and amount > config.programs[program].max_monthly_fen:
            limit = format_fen(config.programs[program].max_monthly_fen)
            c.fail("monthly_amount", f"exceeds the {program} maximum of {limit} a month")
        start = c.value("effective_from", parse_date, _EPOCH)
        end = c.value("effective_to", _optional_date, None)
        if end is not None and end < start:
            c.fail("effective_to", "is before effective_from")
        decided = c.value("decided_by", parse_staff_id, "")
        approved = c.value("approved_by", parse_staff_id, "")
        if decided and decided == approved:
            c.fail("approved_by", "the approver must not be the person who decided")
        case = CaseRow(
            case_id=c.value("case_id", _case_id, ""),
            program=program,
            region_code=c.value("region_code", parse_region_code, ""),
            name=c.value("name", _text(64), ""),
            id_number=c.value("id_number", parse_id_number, ""),
            household_size=c.value("household_size", _household, 1),
            monthly_amount=amount,
            effective_from=start,
            effective_to=end,
            bank_account=c.value("bank_account", _account, ""),
            account_name=c.value("account_name", _text(64), ""),
            decided_by=decided,
            approved_by=approved,
        )
        if c.ok:
            good.append((row.line, case))
    return good, problems


def validate_staff(rows: Iterable[CsvRow]) -> tuple[list[tuple[int, StaffRow]], list[Problem]]:
    """Typed staff rows with their line numbers, and every problem found."""
    good: list[tuple[int, StaffRow]] = []
    problems: list[Problem] = []
    for row in rows:
        c = _RowChecker(row, problems)
        staff = StaffRow(
            staff_id=c.value("staff_id", parse_staff_id, ""),
            name=c.value("name", _text(64), ""),
            id_number=c.value("id_number", parse_id_number, ""),
            bank_account=c.value("bank_account", _account, ""),
            role=c.value("role", _text(32), ""),
            region_code=c.value("region_code", parse_region_code, ""),
        )
        if c.ok:
            good.append((row.line, staff))
    return good, problems


def validate_deaths(
    rows: Iterable[CsvRow], today: date
) -> tuple[list[tuple[int, DeathRow]], list[Problem]]:
    """Typed death rows with their line numbers, and every problem found."""
    good: list[tuple[int, DeathRow]] = []
    problems: list[Problem] = []
    for row in rows:
        c = _RowChecker(row, problems)
        died = c.value("date_of_death", parse_date, _EPOCH)
        if died > today:
            c.fail("date_of_death", f"is after today ({today.isoformat()})")
        death = DeathRow(
            id_number=c.value("id_number", parse_id_number, ""),
            date_of_death=died,
            source=c.value("source", _text(64), ""),
        )
        if c.ok:
            good.append((row.line, death))
    return good, problems


def duplicate_keys(
    rows: Sequence[tuple[int, T]], key: Callable[[T], str], column: str
) -> list[Problem]:
    """Problems for rows repeating an earlier row's key with different values."""
    seen: dict[str, tuple[int, T]] = {}
    problems: list[Problem] = []
    for line, row in rows:
        k = key(row)
        if k in seen and seen[k][1] != row:
            problems.append(
                Problem(line, column, f"conflicts with line {seen[k][0]} for the same {column}")
            )
        seen.setdefault(k, (line, row))
    return problems
