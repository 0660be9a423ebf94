"""Validation of input rows: pure functions from rows to typed values and every problem.

They never stop at the first problem: the caller refuses the file if any are found. They
take rows one at a time (`case_rows`, ... are generators), so that a file is checked as it is
read and never held; what a check across rows needs is kept compactly (`LineKeys`).
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import TypeVar

from ledger.case import CaseRow
from ledger.comparison import ComparisonRecord
from ledger.comparison_terms import MONEY_SOURCES
from ledger.csvfile import CsvRow, shown
from ledger.duties import Actor, DutyRefused, StaffDirectory, format_roles, parse_roles, parse_scope
from ledger.errors import InvalidValue, Problem, ProblemSink
from ledger.grant import GrantRow
from ledger.household import RELATIONS, HouseholdRow
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

    def __init__(self, row: CsvRow, problems: ProblemSink) -> None:
        self.row = row
        self.problems = problems
        self.ok = True

    def value(self, column: str, parse: Callable[[str], T], default: T) -> T:
        raw = self.row.values[column]
        if self.row.formulas and column in self.row.formulas:
            self.fail(column, _formula_reason(self.row.formulas[column]), raw)
            return default
        try:
            return parse(raw)
        except InvalidValue as e:
            self.fail(column, str(e), raw)
            return default

    def fail(self, column: str, reason: str, raw: str | None = None) -> None:
        value = self.row.values.get(column, "") if raw is None else raw
        self.problems.append(Problem(self.row.line, column, reason, shown(column, value)))
        self.ok = False


def _formula_reason(lead: str) -> str:
    first = {"\t": "a tab", "\r": "a carriage return"}.get(lead, repr(lead))
    return (
        f"starts with {first}: a spreadsheet would take it for a formula (CSV injection); remove it"
    )


#: Control characters: no name holds one, and a bank's XML file cannot carry most.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _text(max_len: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw:
            raise InvalidValue("is empty")
        if len(raw) > max_len:
            raise InvalidValue(f"is longer than {max_len} characters")
        found = _CONTROL.search(raw)
        if found is not None:
            raise InvalidValue(
                f"holds a control character ({found.group()!r}, character {found.start() + 1}): "
                "retype the value without it"
            )
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
    # ASCII digits only: "³" is a digit to str.isdigit, and int() refuses it.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 30:
        raise InvalidValue("household_size must be a whole number from 1 to 30")
    return int(raw)


def _optional_date(raw: str) -> date | None:
    return parse_date(raw) if raw else None


_EPOCH = date(1900, 1, 1)


def validate_cases(
    rows: Iterable[CsvRow], config: ProgramsConfig
) -> tuple[list[tuple[int, CaseRow]], list[Problem]]:
    """Typed case rows with their line numbers, and every problem found."""
    problems: list[Problem] = []
    return list(case_rows(rows, config, problems)), problems


def case_rows(
    rows: Iterable[CsvRow], config: ProgramsConfig, problems: ProblemSink
) -> Iterator[tuple[int, CaseRow]]:
    """Each good row, typed, with its line number; each problem found goes to ``problems``."""
    for row in rows:
        c = _RowChecker(row, problems)
        program = c.value("program", lambda s: config.program(s).code, "")
        if program and config.programs[program].one_off:
            c.fail(
                "program",
                f"one-off relief: import grants ({program} is paid once per grant with "
                "aidledger import grants, never monthly as a case)",
            )
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
        decided, approved, region = _decision_makers(c, config)
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
            yield row.line, case


def _decision_makers(c: _RowChecker, config: ProgramsConfig) -> tuple[str, str, str]:
    """A decided row's ``decided_by``, ``approved_by`` (two people) and ``region_code`` (one
    of the bureau's), each refused on its column."""
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
    return decided, approved, region


def case_row(values: Sequence[str], config: ProgramsConfig) -> CaseRow:
    """The typed row of a line that `case_rows` accepted, converted again without its checks
    (``values`` in the order of `CASE_COLUMNS`).

    For an import's writing reading of a file, which writes what its checking reading
    accepted (the same bytes: `ledger.csvfile.InputFile`): exactly the row `case_rows` gave,
    in a fraction of the time (the checks, the id number's check digit first, are most of
    it). `tests/test_validation.py` holds the two to the same rows.
    """
    (
        case_id,
        program,
        region_code,
        name,
        id_number,
        household_size,
        monthly_amount,
        effective_from,
        effective_to,
        bank_account,
        account_name,
        decided_by,
        approved_by,
    ) = values
    return CaseRow(
        case_id,
        config.programs[program].code,
        region_code,
        name,
        id_number.upper(),
        int(household_size),
        parse_fen(monthly_amount),
        date.fromisoformat(effective_from),
        date.fromisoformat(effective_to) if effective_to else None,
        bank_account,
        account_name,
        decided_by,
        approved_by,
    )


def validate_staff(rows: Iterable[CsvRow]) -> tuple[list[tuple[int, StaffRow]], list[Problem]]:
    """Typed staff rows with their line numbers, and every problem found."""
    problems: list[Problem] = []
    return list(staff_rows(rows, problems)), problems


def staff_rows(rows: Iterable[CsvRow], problems: ProblemSink) -> Iterator[tuple[int, StaffRow]]:
    """Each good row of a staff file, typed, with its line number (problems to ``problems``)."""
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
            yield row.line, staff


def validate_relatives(
    rows: Iterable[CsvRow], directory: StaffDirectory
) -> tuple[list[tuple[int, RelativeRow]], list[Problem]]:
    """Typed relative rows with their line numbers, and every problem found (a staff id not in
    the registry is one)."""
    problems: list[Problem] = []
    return list(relative_rows(rows, directory, problems)), problems


def relative_rows(
    rows: Iterable[CsvRow], directory: StaffDirectory, problems: ProblemSink
) -> Iterator[tuple[int, RelativeRow]]:
    """Each good row of a relatives file, typed, with its line number."""
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
            yield row.line, relative


def validate_deaths(
    rows: Iterable[CsvRow], today: date
) -> tuple[list[tuple[int, DeathRow]], list[Problem]]:
    """Typed death rows with their line numbers, and every problem found."""
    problems: list[Problem] = []
    return list(death_rows(rows, today, problems)), problems


def death_rows(
    rows: Iterable[CsvRow], today: date, problems: ProblemSink
) -> Iterator[tuple[int, DeathRow]]:
    """Each good row of a deaths file, typed, with its line number."""
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
            yield row.line, death


def _relation(raw: str) -> str:
    if raw not in RELATIONS:
        raise InvalidValue(f"relation must be one of {', '.join(RELATIONS)}")
    return raw


def household_rows(
    rows: Iterable[CsvRow], problems: ProblemSink
) -> Iterator[tuple[int, HouseholdRow]]:
    """Each good row of a households file, typed, with its line number (whether its case is
    known is checked against the store by the importer)."""
    for row in rows:
        c = _RowChecker(row, problems)
        start = c.value("from", parse_date, _EPOCH)
        end = c.value("to", _optional_date, None)
        if end is not None and end < start:
            c.fail("to", f"is before from ({start.isoformat()})")
        member = HouseholdRow(
            case_id=c.value("case_id", _case_id, ""),
            member_id_number=c.value("member_id_number", parse_id_number, ""),
            member_name=c.value("member_name", _text(64), ""),
            relation=c.value("relation", _relation, ""),
            start=start,
            end=end,
        )
        if c.ok:
            yield row.line, member


def household_row(values: Sequence[str]) -> HouseholdRow:
    """The typed row of a line that `household_rows` accepted, converted again without its
    checks (``values`` in the order of the households file's columns): an import's writing
    reading, as `case_row` is for cases (`tests/test_validation.py` holds the two to the same
    rows)."""
    case_id, member_id_number, member_name, relation, start, end = values
    return HouseholdRow(
        case_id=case_id,
        member_id_number=member_id_number.upper(),
        member_name=member_name,
        relation=relation,
        start=parse_date(start) if start else _EPOCH,
        end=parse_date(end) if end else None,
    )


def _money_value(raw: str) -> int:
    fen = parse_fen(raw)
    if fen < 0:
        raise InvalidValue("value must not be negative")
    return fen


def _code(raw: str) -> str:
    if not raw or not raw.isascii() or not raw.replace("_", "").isalnum():
        raise InvalidValue("must be a code of letters, digits and _ (e.g. hrss, unemployment)")
    return raw


def _optional_text(max_len: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) > max_len:
            raise InvalidValue(f"is longer than {max_len} characters")
        return raw

    return parse


def _memo(parse: Callable[[str], T], limit: int = 1 << 20) -> Callable[[str], T]:
    """``parse`` remembering the values it accepted (up to ``limit`` distinct texts): a
    comparison file names each person and day many times. A refused text is parsed (and
    refused) again each time, with the same message."""
    seen: dict[str, T] = {}

    def parse_once(raw: str) -> T:
        value = seen.get(raw)
        if value is None:
            value = parse(raw)
            if len(seen) < limit:
                seen[raw] = value
        return value

    return parse_once


def _money_as_written(raw: str) -> tuple[int, str]:
    """A money value's fen and its text as `format_fen` writes it: the text itself when it
    is already so written (``"1234.50"``), no parsing twice."""
    yuan, dot, cents = raw.partition(".")
    if (
        dot
        and len(cents) == 2
        and 0 < len(yuan) <= 13
        and yuan.isascii()
        and yuan.isdigit()
        and cents.isdigit()
        and (yuan == "0" or yuan[0] != "0")
    ):
        return int(yuan) * 100 + int(cents), raw
    fen = _money_value(raw)
    return fen, format_fen(fen)


_TEXT_64 = _text(64)
_OPTIONAL_64 = _optional_text(64)
_OPTIONAL_200 = _optional_text(200)


def comparison_rows(
    rows: Iterable[CsvRow], source: str, today: date, problems: ProblemSink
) -> Iterator[ComparisonRecord]:
    """Each good row of a comparison file of ``source``, typed (`ledger.comparison`); every
    problem to ``problems``: a wrong check digit, a malformed date or amount, a date after
    today, a cell that starts as a formula would.

    A row is first read the short way (remembered id numbers and days, no problem kept); a
    row that fails it is read again the long way, which names each of its problems."""
    id_number_of, day_of = _memo(parse_id_number), _memo(parse_date)
    region_of = _memo(parse_region_code, 1 << 16)
    money = source in MONEY_SOURCES
    for row in rows:
        if not row.formulas and source != "other_benefit":
            v = row.values
            try:
                as_of = day_of(v["as_of"])
                detail = _OPTIONAL_200(v["detail"])
                fen: int | None
                if money:
                    fen, value = _money_as_written(v["value"])
                elif source == "household_registration":
                    fen, value = None, region_of(v["value"])
                else:
                    fen, value = None, _OPTIONAL_64(v["value"])
                if as_of <= today:
                    yield ComparisonRecord(
                        row.line,
                        id_number_of(v["id_number"]),
                        _TEXT_64(v["source_ref"]),
                        as_of,
                        value,
                        fen,
                        detail,
                    )
                    continue
            except InvalidValue:
                pass
        yield from _comparison_row(row, source, today, problems, id_number_of, day_of)


def count_comparison_rows(
    rows: Iterable[CsvRow], problems: ProblemSink, source: str, today: str
) -> int:
    """How many good rows a comparison file of ``source`` has (`comparison_rows`), as
    `ledger.csvparts.count_checked` asks of a check (``today`` in ISO form)."""
    n = 0
    for _ in comparison_rows(rows, source, date.fromisoformat(today), problems):
        n += 1
    return n


def checked_comparison_records(
    lines: Iterable[tuple[int, list[str]]], source: str
) -> Iterator[ComparisonRecord]:
    """The records of a comparison file's lines that `comparison_rows` accepted, converted
    without checking them again: the writing reading of an import (``lines`` from
    `ledger.csvfile.reread_values`, in the order of the source's columns), which reads the
    bytes that were checked. A test holds it to `comparison_rows`."""
    day = date.fromisoformat
    if source == "other_benefit":
        for line, (id_number, department, benefit, monthly, start, end) in lines:
            monthly_fen = _money_value(monthly)
            yield ComparisonRecord(
                line,
                id_number.upper(),
                f"{department}:{benefit}",
                day(start),
                format_fen(monthly_fen),
                monthly_fen,
                "",
                day(end) if end else None,
            )
        return
    money = source in MONEY_SOURCES
    for line, (id_number, ref, as_of, value, detail) in lines:
        fen: int | None = None
        if money:
            fen, value = _money_as_written(value)
        yield ComparisonRecord(line, id_number.upper(), ref, day(as_of), value, fen, detail)


def _comparison_row(
    row: CsvRow,
    source: str,
    today: date,
    problems: ProblemSink,
    id_number_of: Callable[[str], str],
    day_of: Callable[[str], date],
) -> Iterator[ComparisonRecord]:
    """One row of a comparison file the long way: every problem to ``problems``."""
    c = _RowChecker(row, problems)
    id_number = c.value("id_number", id_number_of, "")
    if source == "other_benefit":
        department = c.value("department", _code, "")
        benefit = c.value("benefit", _code, "")
        amount = c.value("monthly_amount", _money_value, 0)
        start = c.value("from", day_of, _EPOCH)
        end = c.value("to", _optional_date, None)
        if end is not None and end < start:
            c.fail("to", f"is before from ({start.isoformat()})")
        if start > today:
            c.fail("from", f"is after today ({today.isoformat()})")
        if c.ok:
            yield ComparisonRecord(
                row.line,
                id_number,
                f"{department}:{benefit}",
                start,
                format_fen(amount),
                amount,
                "",
                end,
            )
        return
    ref = c.value("source_ref", _TEXT_64, "")
    as_of = c.value("as_of", day_of, _EPOCH)
    if as_of > today:
        c.fail("as_of", f"is after today ({today.isoformat()})")
    detail = c.value("detail", _OPTIONAL_200, "")
    fen: int | None = None
    if source in MONEY_SOURCES:
        fen = c.value("value", _money_value, 0)
        value = format_fen(fen)
    elif source == "household_registration":
        value = c.value("value", parse_region_code, "")
    else:
        value = c.value("value", _OPTIONAL_64, "")
    if c.ok:
        yield ComparisonRecord(row.line, id_number, ref, as_of, value, fen, detail)


class LineKeys:
    """The key of each line of a file, in 13 to 20 bytes a line: to find, once the file is
    read, the lines that share a key (a case on several lines, a duplicate in a register)
    without holding the keys or the rows.

    A key is kept as its 64-bit `hash`, with the line and a tag (what a check compares across
    the lines of one key: a case's program). Lines whose keys share a hash most likely share
    the key, but two keys can share a hash: a check reads those few lines again to be sure.
    Text hashes differ from one process to the next: a LineKeys is used in the process that
    filled it.
    """

    #: Lines are kept in buckets by hash, sorted one bucket at a time: finding the groups
    #: holds a bucket's worth of Python ints, not the file's.
    BUCKETS = 256

    def __init__(self, *, small_tags: bool = False, hash_of: Callable[[str], int] = hash) -> None:
        """``small_tags``: tags from -128 to 127 (a program's number), kept in a byte."""
        #: The 64-bit hash of a key (a test gives one that makes keys collide).
        self.hash_of = hash_of
        self._hashes = [array("q") for _ in range(self.BUCKETS)]
        self._lines = [array("I") for _ in range(self.BUCKETS)]
        self._tags = [array("b" if small_tags else "q") for _ in range(self.BUCKETS)]

    def add(self, key: str, line: int, tag: int = 0) -> None:
        """Record the key of a line, and its tag."""
        h = self.hash_of(key)
        bucket = h % self.BUCKETS
        self._hashes[bucket].append(h)
        self._lines[bucket].append(line)
        self._tags[bucket].append(tag)

    def groups(self) -> Iterator[tuple[int, list[tuple[int, int]]]]:
        """Each hash found on more than one line, with those lines and their tags in file
        order."""
        for hashes, lines, tags in zip(self._hashes, self._lines, self._tags, strict=True):
            ordered = sorted(hashes)
            shared = {a for a, b in itertools.pairwise(ordered) if a == b}
            del ordered
            if not shared:
                continue
            found: dict[int, list[tuple[int, int]]] = {}
            for i, h in enumerate(hashes):
                if h in shared:
                    found.setdefault(h, []).append((lines[i], tags[i]))
            yield from found.items()


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
    rows: Iterable[tuple[int, CaseRow]],
    directory: StaffDirectory,
    importer: Actor,
    household: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[Problem]:
    """Every row's duties, as `ledger.duties` says: the importer's region covers the case; the
    decider holds ``caseworker`` and the approver ``approver``, both registered and covering the
    case's region on the decision's ``effective_from``; neither has an interest in the case:
    in its holder, in a member of its household (``household``: the id numbers recorded as
    members of each case, whatever their dates), or in its account.

    ``household`` is read when a row is checked: a caller streaming the rows may fill it a
    chunk of rows at a time, before yielding them."""
    household = {} if household is None else household
    for line, row in rows:
        if not importer.covers(row.region_code):
            yield (
                Problem(
                    line,
                    "region_code",
                    f"is outside the importer {importer.staff_id}'s region {importer.region}",
                    row.region_code,
                )
            )
        interested = directory.interested(
            [row.id_number, *household.get(row.case_id, ())], [row.bank_account]
        )
        for column, staff_id, role in (
            ("decided_by", row.decided_by, "caseworker"),
            ("approved_by", row.approved_by, "approver"),
        ):
            try:
                actor = directory.actor(staff_id, row.effective_from)
            except DutyRefused as e:
                yield Problem(line, column, str(e), staff_id)
                continue
            if not actor.holds(role):
                yield (
                    Problem(
                        line,
                        column,
                        f"{staff_id} did not hold the role {role} on "
                        f"{row.effective_from.isoformat()} (held: {format_roles(actor.roles)})",
                        staff_id,
                    )
                )
                continue  # no word on interest: a refusal must not tell whose card it is
            if not actor.covers(row.region_code):
                yield (
                    Problem(
                        line,
                        column,
                        f"the case's region {row.region_code} is outside {staff_id}'s region "
                        f"{actor.region}",
                        staff_id,
                    )
                )
                continue
            if staff_id in interested:
                yield (
                    Problem(
                        line,
                        column,
                        f"{staff_id} has an interest in this case (the beneficiary or a member "
                        "of the household is the staff member or a registered relative, or the "
                        "account is the staff member's own): another staff member must decide "
                        "and approve it (回避)",
                        staff_id,
                    )
                )


def check_staff_duties(
    rows: Iterable[tuple[int, StaffRow]],
    directory: StaffDirectory,
    by: str,
    today: date,
) -> Iterator[Problem]:
    """A staff file's duties: the first one (an empty registry) by an admin named in it; later
    ones by a registered admin whose region covers each row, who does not change their own row.

    Raises DutyRefused (once the rows are read, for a first file) when the importer may not
    import the file at all."""
    if directory.is_empty():
        mine = [row for _, row in rows if row.staff_id == by]
        if not mine or "admin" not in parse_roles(mine[0].role):
            raise DutyRefused(
                f"{by} may not import the first staff file: the first staff import must be by "
                "an admin (role admin) named in that same file"
            )
        return
    actor = directory.actor(by, today)
    actor.require("admin", to="import a staff file")
    for line, row in rows:
        if not row.region_code.startswith(actor.region):
            yield (
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
                yield (
                    Problem(
                        line,
                        "staff_id",
                        f"{by} may not change their own row (roles, region or details): "
                        "another admin must",
                        row.staff_id,
                    )
                )


def _grant_id(raw: str) -> str:
    if not _CASE_ID.match(raw):
        raise InvalidValue("grant_id must be 1-64 characters without spaces or commas")
    return raw


def grant_rows(
    rows: Iterable[CsvRow], config: ProgramsConfig, today: date, problems: ProblemSink
) -> Iterator[tuple[int, GrantRow]]:
    """Each good row of a grants file (one-off relief), typed, with its line number.

    Refused by line besides bad values: a program paid monthly (its rows are cases), an amount
    of 0.00 or less or above the program's ``max_per_grant``, a decision after today, the
    decider approving their own grant, a region outside the bureau's."""
    for row in rows:
        c = _RowChecker(row, problems)
        program = c.value("program", lambda s: config.program(s).code, "")
        if program and not config.programs[program].one_off:
            one_off = ", ".join(sorted(p for p, v in config.programs.items() if v.one_off))
            c.fail(
                "program",
                f"{program} is paid monthly: import it as a case (aidledger import cases); a "
                f"grants file holds one-off relief ({one_off or 'no program of the config'})",
            )
        amount = c.value("amount", parse_fen, 1)
        cap = config.programs[program].max_per_grant_fen if program else None
        if amount <= 0:
            c.fail("amount", "must be above 0.00")
        elif cap is not None and amount > cap:
            c.fail("amount", f"exceeds the {program} maximum of {format_fen(cap)} a grant")
        decided_on = c.value("decided_on", parse_date, _EPOCH)
        if decided_on > today:
            c.fail(
                "decided_on",
                f"is after today ({today.isoformat()}): a grant is recorded once decided",
            )
        decided, approved, region = _decision_makers(c, config)
        grant = GrantRow(
            grant_id=c.value("grant_id", _grant_id, ""),
            program=program,
            region_code=region,
            name=c.value("name", _text(64), ""),
            id_number=c.value("id_number", parse_id_number, ""),
            household_size=c.value("household_size", _household, 1),
            amount=amount,
            decided_on=decided_on,
            reason=c.value("reason", _text(200), ""),
            bank_account=c.value("bank_account", _account, ""),
            account_name=c.value("account_name", _text(64), ""),
            decided_by=decided,
            approved_by=approved,
        )
        if c.ok:
            yield row.line, grant


def check_grant_duties(
    rows: Iterable[tuple[int, GrantRow]], directory: StaffDirectory, importer: Actor
) -> Iterator[Problem]:
    """A grant's duties are a case decision's (`check_case_duties`) on its ``decided_on``: the
    importer's region covers it; a caseworker decided and an approver approved it, two people
    covering its region that day, neither with an interest in the grantee or the account."""
    return check_case_duties(((line, row.as_decision()) for line, row in rows), directory, importer)
