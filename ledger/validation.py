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
from ledger.duties import Actor, DutyRefused, StaffDirectory, format_roles, parse_roles, parse_scope
from ledger.errors import InvalidValue, Problem
from ledger.ids import parse_id_number, parse_region_code, parse_staff_id
from ledger.money import format_fen, parse_fen
from ledger.period import parse_date
from ledger.programs import ProgramsConfig
from ledger.registry import DeathRow, RelativeRow, StaffRow

T = TypeVar("T")

_ACCOUNT = re.compile(r"^[0-9]{12,30}$")
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
        raise InvalidValue("bank account must be 12 to 30 digits")
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
        amount = c.value("monthly_amount", parse_fen, 1)
        if amount <= 0:
            c.fail("monthly_amount", "must be above 0.00 (a case ends by effective_to)")
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
        region = c.value("region_code", parse_region_code, "")
        if region and not config.bureau.covers(region):
            c.fail(
                "region_code",
                f"is outside the bureau's regions ({', '.join(config.bureau.regions)})",
            )
        case = CaseRow(
            case_id=c.value("case_id", _case_id, ""),
            program=program,
            region_code=region,
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
            role=c.value("role", lambda raw: format_roles(parse_roles(raw)), ""),
            region_code=c.value("region_code", parse_scope, ""),
        )
        if c.ok:
            good.append((row.line, staff))
    return good, problems


def validate_relatives(
    rows: Iterable[CsvRow], directory: StaffDirectory
) -> tuple[list[tuple[int, RelativeRow]], list[Problem]]:
    """Typed relative rows with their line numbers, and every problem found (a staff id not in
    the registry is one)."""
    good: list[tuple[int, RelativeRow]] = []
    problems: list[Problem] = []
    for row in rows:
        c = _RowChecker(row, problems)
        staff_id = c.value("staff_id", parse_staff_id, "")
        if staff_id and staff_id not in directory:
            c.fail("staff_id", "is not in the staff registry (import the staff file first)")
        relative = RelativeRow(
            staff_id=staff_id,
            id_number=c.value("id_number", parse_id_number, ""),
            relation=c.value("relation", _text(32), ""),
        )
        if c.ok:
            good.append((row.line, relative))
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


def check_case_duties(
    rows: Iterable[tuple[int, CaseRow]], directory: StaffDirectory, importer: Actor
) -> list[Problem]:
    """Every row's duties, as `ledger.duties` says: the importer's region covers the case; the
    decider holds ``caseworker`` and the approver ``approver``, both registered and covering the
    case's region on the decision's ``effective_from``; neither has an interest in the case."""
    problems: list[Problem] = []
    for line, row in rows:
        if not importer.covers(row.region_code):
            problems.append(
                Problem(
                    line,
                    "region_code",
                    f"is outside the importer {importer.staff_id}'s region {importer.region}",
                    row.region_code,
                )
            )
        interested = directory.interested([row.id_number], [row.bank_account])
        for column, staff_id, role in (
            ("decided_by", row.decided_by, "caseworker"),
            ("approved_by", row.approved_by, "approver"),
        ):
            try:
                actor = directory.actor(staff_id, row.effective_from)
            except DutyRefused as e:
                problems.append(Problem(line, column, str(e), staff_id))
                continue
            if not actor.holds(role):
                problems.append(
                    Problem(
                        line,
                        column,
                        f"{staff_id} did not hold the role {role} on "
                        f"{row.effective_from.isoformat()} (held: {format_roles(actor.roles)})",
                        staff_id,
                    )
                )
            elif not actor.covers(row.region_code):
                problems.append(
                    Problem(
                        line,
                        column,
                        f"the case's region {row.region_code} is outside {staff_id}'s region "
                        f"{actor.region}",
                        staff_id,
                    )
                )
            if staff_id in interested:
                problems.append(
                    Problem(
                        line,
                        column,
                        f"{staff_id} has an interest in this case (the beneficiary is the staff "
                        "member or a registered relative, or the account is the staff member's "
                        "own): another staff member must decide and approve it (回避)",
                        staff_id,
                    )
                )
    return problems


def check_staff_duties(
    rows: Sequence[tuple[int, StaffRow]],
    directory: StaffDirectory,
    by: str,
    today: date,
) -> list[Problem]:
    """A staff file's duties: the first one (an empty registry) by an admin named in it; later
    ones by a registered admin whose region covers each row, who does not change their own row."""
    if directory.is_empty():
        mine = [row for _, row in rows if row.staff_id == by]
        if not mine or "admin" not in parse_roles(mine[0].role):
            raise DutyRefused(
                f"{by} may not import the first staff file: the first staff import must be by "
                "an admin (role admin) named in that same file"
            )
        return []
    actor = directory.actor(by, today)
    actor.require("admin", to="import a staff file")
    problems = []
    for line, row in rows:
        if not row.region_code.startswith(actor.region):
            problems.append(
                Problem(
                    line,
                    "region_code",
                    f"is outside the importer {by}'s region {actor.region}",
                    row.region_code,
                )
            )
        if row.staff_id == by:
            theirs = directory.people.get(by)
            same = (
                theirs is not None
                and (theirs.name, theirs.id_number, theirs.bank_account)
                == (row.name, row.id_number, row.bank_account)
                and parse_roles(row.role) == actor.roles
                and row.region_code == actor.region
            )
            if not same:
                problems.append(
                    Problem(
                        line,
                        "staff_id",
                        f"{by} may not change their own row (roles, region or details): "
                        "another admin must",
                        row.staff_id,
                    )
                )
    return problems
