"""Large imports checked in two processes (`ledger.csvparts.keys_in_two`): a first import's
cases (`ledger.imports.check_new_cases`) and a households file
(`ledger.imports.check_household_rows`). The helper's keys come back numbered as lines of
the whole file, in file order, so the checks across rows (a case on lines of two programs,
the decision chain's first line of a new case, a member on two lines) find what one reading
finds; any problem, in either half, is reported exactly as one reading reports it; nothing
is recorded then."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import ledger.csvparts as parts
import ledger.imports as imports
from aidledger.synthetic import CASE_COLUMNS, generate_county
from aidledger.wiring import Services
from ledger.csvfile import InputFile
from ledger.errors import InputRefused, Problems
from ledger.household import HOUSEHOLD_COLUMNS
from ledger.ids import id_check_char
from ledger.imports import NewCases, _Checked
from tests.builders import CASEWORKER, head, load, with_county_staff, with_staff
from tests.conftest import TEST_TODAY

CASES = 400


def county_lines(svc: Services, tmp_path: Path) -> list[str]:
    """A generated county's case rows as lines (its staff registered)."""
    with_staff(svc)
    with_county_staff(svc, tmp_path, cases=CASES, seed=11)
    rows = generate_county(cases=CASES, seed=11, frauds=False).cases
    return [",".join(r[c] for c in CASE_COLUMNS) for r in rows]


def written(tmp_path: Path, lines: list[str], name: str = "cases.csv") -> Path:
    """The rows as a file with CR LF line ends and two blank lines (one a lone CR) after the
    first third: line numbers that only a reader of the whole file gets right (the row at
    index ``i`` is on line ``i + 2`` before them, ``i + 4`` after)."""
    third = len(lines) // 3
    text = (
        "\r\n".join([",".join(CASE_COLUMNS), *lines[:third]])
        + "\r\n\r\n\r"
        + "\r\n".join(lines[third:])
        + "\r\n"
    )
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def in_two(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """Check every file in two processes from now on; what each split check returned."""
    monkeypatch.setattr(parts, "PARTS_FROM", 0)
    returned: list[int | None] = []
    original = imports.keys_in_two

    def spied(*args: Any) -> int | None:
        returned.append(original(*args))
        return returned[-1]

    monkeypatch.setattr(imports, "keys_in_two", spied)
    return returned


def refused_alone_then_in_two(
    svc: Services, kind: str, path: Path, spy: Callable[[], list[int | None]]
) -> tuple[list[tuple[int, str, str]], list[int | None]]:
    """Import ``path`` in one process, then (``spy()`` switching the split on and recording
    what it said) in two: both refused, with the same problems, nothing recorded. The
    problems (line, column, reason), and what the spy recorded."""
    before = head(svc)
    with pytest.raises(InputRefused) as alone:
        load(svc, kind, path)
    said = spy()
    with pytest.raises(InputRefused) as two:
        load(svc, kind, path)
    found = [(p.line, p.column, p.reason) for p in two.value.problems]
    assert found == [(p.line, p.column, p.reason) for p in alone.value.problems]
    assert head(svc) == before
    return found, said


def keys_and_firsts(
    svc: Services, path: Path, required_from: date
) -> tuple[list[Any], dict[str, int], int]:
    """What the check hands the checks across rows: each shared key's lines and programs,
    the first line of each new case in effect from ``required_from``, and the rows read."""
    config = svc.config.model_copy(
        update={"chain": svc.config.chain.model_copy(update={"required_from": required_from})}
    )
    check = NewCases(config, {}, svc.importer.directory(), CASEWORKER, TEST_TODAY)
    checked, problems = _Checked(), Problems()
    with InputFile(path, max_bytes=1 << 30) as file:
        keys, firsts = svc.importer._new_case_keys(file, check, problems, checked)
    assert not problems
    return sorted(lines for _, lines in keys.groups()), firsts, checked.rows


def test_the_two_halves_hand_back_what_one_reading_finds(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = county_lines(svc, tmp_path)
    # A case of the first half on a line of the second: one key on two lines, across the cut.
    lines.append(lines[5].replace(",2026-", ",2027-", 1))
    path = written(tmp_path, lines)
    one = keys_and_firsts(svc, path, date(2026, 6, 1))
    returned = in_two(monkeypatch)
    two = keys_and_firsts(svc, path, date(2026, 6, 1))
    assert returned == [len(lines)], "checked in two processes"
    assert two == one
    shared, firsts, rows = two
    assert rows == len(lines)
    groups = [{line for line, _ in group} for group in shared]
    assert any({5 + 2, len(lines) + 3} <= group for group in groups)
    assert firsts, "some cases are in effect from June on"


def test_a_case_on_lines_of_two_programs_across_the_cut_is_refused_at_its_lines(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = county_lines(svc, tmp_path)
    program = lines[0].split(",")[1]
    other = "tekun" if program != "tekun" else "dibao"
    lines.append(lines[0].replace(f",{program},", f",{other},", 1))
    path = written(tmp_path, lines)
    found, returned = refused_alone_then_in_two(svc, "cases", path, lambda: in_two(monkeypatch))
    assert returned == [len(lines)], "both halves good by themselves"
    assert found and found[-1][0] == len(lines) + 3


@pytest.mark.parametrize(
    ("column", "bad"),
    [("monthly_amount", "12.345"), ("decided_by", "S9999")],  # a value; a duty
)
def test_a_problem_in_the_second_half_is_reported_as_one_reading_reports_it(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: str, bad: str
) -> None:
    lines = county_lines(svc, tmp_path)
    at = len(lines) - 7
    changed(lines, at, column, bad)
    path = written(tmp_path, lines)
    found, returned = refused_alone_then_in_two(svc, "cases", path, lambda: in_two(monkeypatch))
    assert returned == [None], "the helper's half found it: read again whole here"
    assert [(line, col) for line, col, _ in found] == [(at + 4, column)]
    assert svc.db.query("SELECT count(*) FROM cases") == [(0,)]


def test_a_good_file_checked_in_two_is_imported_whole(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = county_lines(svc, tmp_path)
    returned = in_two(monkeypatch)
    summary = load(svc, "cases", written(tmp_path, lines))
    assert returned == [len(lines)]
    assert (summary.rows, summary.new) == (len(lines), len({x.split(",")[0] for x in lines}))
    assert svc.db.query("SELECT count(*) FROM cases") == [(summary.new,)]


def members(lines: list[str]) -> list[str]:
    """Two members (a spouse and a child) of each case of these case lines."""
    out = []
    for n, case_id in enumerate(dict.fromkeys(x.split(",")[0] for x in lines)):
        for k, (relation, born) in enumerate((("spouse", "19700101"), ("child", "20100101"))):
            first17 = f"610102{born}{(2 * n + k) % 1000:03d}"
            id_number = first17 + id_check_char(first17)
            out.append(f"{case_id},{id_number},成员{n}-{k},{relation},2026-01-01,")
    return out


def household_file(svc: Services, tmp_path: Path, member_lines: list[str]) -> Path:
    path = tmp_path / "households.csv"
    path.write_bytes(
        ("\r\n".join([",".join(HOUSEHOLD_COLUMNS), *member_lines]) + "\r\n").encode("utf-8")
    )
    return path


def test_a_households_file_checked_in_two_records_each_member_once(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = county_lines(svc, tmp_path)
    load(svc, "cases", written(tmp_path, lines))
    people = members(lines)
    # A line of the first half again at the end: the same member, the same values (the
    # first wins, nothing more recorded).
    path = household_file(svc, tmp_path, [*people, people[3]])
    returned = in_two(monkeypatch)
    summary = load(svc, "households", path)
    assert returned == [len(people) + 1], "checked in two processes"
    assert (summary.rows, summary.new) == (len(people) + 1, len(people))
    assert svc.db.query("SELECT count(*) FROM household_members") == [(len(people),)]


@pytest.mark.parametrize("problem", ["conflict", "no_case", "bad_value"])
def test_a_households_problem_found_in_two_is_reported_as_one_reading_reports_it(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    lines = county_lines(svc, tmp_path)
    load(svc, "cases", written(tmp_path, lines))
    people = members(lines)
    if problem == "conflict":  # a first-half member again, another relation
        people.append(people[3].replace(",child,", ",other,"))
    elif problem == "no_case":  # found against the store, by this process, for the helper
        people[-5] = "NO-SUCH-CASE" + people[-5][people[-5].index(",") :]
    else:
        people[-5] = people[-5].replace("2026-01-01", "2026-02-30")
    path = household_file(svc, tmp_path, people)
    found, returned = refused_alone_then_in_two(
        svc, "households", path, lambda: in_two(monkeypatch)
    )
    # A value the helper refuses itself; a conflict or an unknown case is found here.
    assert returned == [None if problem == "bad_value" else len(people)]
    expected = len(people) + 1 if problem == "conflict" else len(people) - 3
    assert [line for line, _, _ in found] == [expected]


# -- an import over stored cases: the helper checks the second half's values ---------------------


def helper_said(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """Check every file in two processes from now on; what each helper said (rows or None)."""
    monkeypatch.setattr(parts, "PARTS_FROM", 0)
    said: list[int | None] = []
    original = parts.SecondHalf.result

    def spied(self: parts.SecondHalf, emit: Any = None) -> int | None:
        said.append(original(self, emit))
        return said[-1]

    monkeypatch.setattr(parts.SecondHalf, "result", spied)
    return said


def changed(lines: list[str], at: int, column: str, value: str) -> None:
    fields = lines[at].split(",")
    fields[CASE_COLUMNS.index(column)] = value
    lines[at] = ",".join(fields)


def test_an_import_over_stored_cases_in_two_records_the_changes_of_both_halves(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = county_lines(svc, tmp_path)
    load(svc, "cases", written(tmp_path, lines))
    again = list(lines)
    for at in (3, len(lines) - 4):  # one in each half
        changed(again, at, "monthly_amount", "1.50")
    said = helper_said(monkeypatch)
    summary = load(svc, "cases", written(tmp_path, again, "again.csv"))
    assert len(said) == 1 and said[0] is not None and 0 < said[0] < len(lines)
    assert (summary.rows, summary.changed) == (len(lines), 2)
    amounts = dict(svc.db.query("SELECT case_id, monthly_amount FROM cases"))
    assert [amounts[again[at].split(",")[0]] for at in (3, len(lines) - 4)] == [150, 150]


@pytest.mark.parametrize(
    ("column", "bad", "helper_finds"),
    [
        ("monthly_amount", "12.345", True),  # a value: the helper's own check
        ("decided_by", "S9999", False),  # a duty: checked here, on the rows read again
        ("program", "OTHER", False),  # a stored case moved to another program: the store
    ],
)
def test_an_import_over_stored_cases_in_two_is_refused_as_one_reading_refuses_it(
    svc: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    column: str,
    bad: str,
    helper_finds: bool,
) -> None:
    lines = county_lines(svc, tmp_path)
    load(svc, "cases", written(tmp_path, lines))
    again = list(lines)
    at = len(lines) - 7
    if bad == "OTHER":
        program = again[at].split(",")[1]
        bad = "tekun" if program != "tekun" else "dibao"
    changed(again, at, column, bad)
    changed(again, 2, "monthly_amount", "1.50")  # a good change in the first half
    path = written(tmp_path, again, "again.csv")
    found, said = refused_alone_then_in_two(svc, "cases", path, lambda: helper_said(monkeypatch))
    if helper_finds:
        assert said == [None], "read again whole here"
    else:
        assert len(said) == 1 and said[0] is not None, "found here on the rows read again"
    assert [(line, col) for line, col, _ in found] == [(at + 4, column)]
