"""Input validation as pure functions, without a store: formula cells, the compact keys of a
file's lines, and the writing reading's conversion of a checked line."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aidledger.synthetic import generate_county
from ledger.case import CASE_COLUMNS
from ledger.csvfile import formula_lead, read_rows
from ledger.errors import Problem, Problems
from ledger.household import RELATIONS
from ledger.programs import load_programs
from ledger.validation import (
    LineKeys,
    case_row,
    validate_cases,
    validate_deaths,
    validate_staff,
)

CONFIG = load_programs()
#: The payloads of CSV injection the spec names, each as the start of a cell.
FORMULAS = [
    '=HYPERLINK("http://x"&A1,"a")',
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "\t王秀兰",
    "\r王秀兰",
]
ROW = {
    "case_id": "C001",
    "program": "dibao",
    "region_code": "610102001001",
    "name": "王秀兰",
    "id_number": "610102195001010011",
    "household_size": "3",
    "monthly_amount": "1560.00",
    "effective_from": "2026-01-01",
    "effective_to": "",
    "bank_account": "6228480000000000011",
    "account_name": "王秀兰",
    "decided_by": "S001",
    "approved_by": "S002",
}


def csv_bytes(columns: tuple[str, ...], *rows: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)  # CRLF: a CR in a cell is quoted
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize("payload", FORMULAS)
def test_a_cell_starting_as_a_formula_is_found(payload: str) -> None:
    assert formula_lead(payload) == payload[0]
    assert formula_lead(f"  {payload}") == payload[0]  # spaces before it do not hide it


@pytest.mark.parametrize("value", ["王秀兰", "C-001", "a=b", "1+1", "", "  ", "O'Brien"])
def test_ordinary_values_are_no_formulas(value: str) -> None:
    assert formula_lead(value) is None


@pytest.mark.parametrize("payload", FORMULAS)
@pytest.mark.parametrize("column", ["case_id", "name", "account_name", "decided_by"])
def test_case_columns_shown_to_people_refuse_formulas(column: str, payload: str) -> None:
    rows, problems = read_rows(csv_bytes(CASE_COLUMNS, {**ROW, column: payload}), CASE_COLUMNS)
    good, invalid = validate_cases(rows, CONFIG)
    assert (problems, good) == ([], [])
    assert [(p.line, p.column) for p in invalid] == [(2, column)]
    assert invalid[0].reason.startswith("starts with ")
    assert "formula" in invalid[0].reason


def test_a_case_id_that_is_a_formula_is_refused_and_shown() -> None:
    rows, _ = read_rows(csv_bytes(CASE_COLUMNS, {**ROW, "case_id": "=1+2"}), CASE_COLUMNS)
    _, invalid = validate_cases(rows, CONFIG)
    assert [str(p) for p in invalid] == [
        "line 2, column case_id: starts with '=': a spreadsheet would take it for a formula "
        "(CSV injection); remove it (value '=1+2')"
    ]


def test_a_formula_in_a_name_is_shown_masked() -> None:
    rows, _ = read_rows(csv_bytes(CASE_COLUMNS, {**ROW, "name": FORMULAS[0]}), CASE_COLUMNS)
    _, invalid = validate_cases(rows, CONFIG)
    assert "HYPERLINK" not in str(invalid[0])


def test_a_negative_amount_is_refused_as_an_amount_not_as_a_formula() -> None:
    rows, _ = read_rows(csv_bytes(CASE_COLUMNS, {**ROW, "monthly_amount": "-2.00"}), CASE_COLUMNS)
    _, invalid = validate_cases(rows, CONFIG)
    assert [(p.column, p.reason) for p in invalid] == [
        ("monthly_amount", "must be above 0.00 (a case ends by effective_to)")
    ]


def test_deaths_source_and_staff_name_refuse_formulas() -> None:
    deaths = csv_bytes(
        ("id_number", "date_of_death", "source"),
        {"id_number": "610102193505050050", "date_of_death": "2026-04-12", "source": "@SUM(1)"},
    )
    rows, _ = read_rows(deaths, ("id_number", "date_of_death", "source"))
    _, invalid = validate_deaths(rows, date(2026, 12, 15))
    assert [(p.line, p.column) for p in invalid] == [(2, "source")]
    staff_columns = ("staff_id", "name", "id_number", "bank_account", "role", "region_code")
    staff = csv_bytes(
        staff_columns,
        {
            "staff_id": "S001",
            "name": "-2+3",
            "id_number": "61010219750707007X",
            "bank_account": "6217000000000000101",
            "role": "caseworker",
            "region_code": "610102",
        },
    )
    rows, _ = read_rows(staff, staff_columns)
    _, invalid = validate_staff(rows)
    assert [(p.line, p.column) for p in invalid] == [(2, "name")]


@pytest.mark.parametrize(
    ("column", "value"),
    [("name", "王\x01秀兰"), ("account_name", "王秀兰\x7f"), ("name", "王秀\n兰")],
)
def test_a_name_holding_a_control_character_is_refused(column: str, value: str) -> None:
    """A bank's XML file cannot carry most control characters: a name holding one would stop
    the month's pain.001 at export; it is refused when it comes in."""
    rows, _ = read_rows(csv_bytes(CASE_COLUMNS, {**ROW, column: value}), CASE_COLUMNS)
    good, invalid = validate_cases(rows, CONFIG)
    assert good == []
    assert [(p.column, p.reason.split(" (")[0]) for p in invalid] == [
        (column, "holds a control character")
    ]


def test_a_name_with_a_space_or_a_middle_dot_is_accepted() -> None:
    rows, _ = read_rows(
        csv_bytes(CASE_COLUMNS, {**ROW, "name": "阿依古丽·买买提", "account_name": "Li Wei"}),
        CASE_COLUMNS,
    )
    good, invalid = validate_cases(rows, CONFIG)
    assert invalid == [] and good[0][1].name == "阿依古丽·买买提"


@pytest.mark.parametrize("size", ["³", "٣", "0", "31", "2.0", "-1"])
def test_a_household_size_not_in_ascii_digits_from_1_to_30_is_refused(size: str) -> None:
    rows, _ = read_rows(csv_bytes(CASE_COLUMNS, {**ROW, "household_size": size}), CASE_COLUMNS)
    _, invalid = validate_cases(rows, CONFIG)
    assert [p.column for p in invalid] == ["household_size"]


def _checked_and_converted(rows: list[dict[str, str]]) -> tuple[list[object], list[object]]:
    parsed, problems = read_rows(csv_bytes(CASE_COLUMNS, *rows), CASE_COLUMNS)
    assert problems == []
    good, invalid = validate_cases(parsed, CONFIG)
    assert invalid == []
    again = [(r.line, case_row([r.values[c] for c in CASE_COLUMNS], CONFIG)) for r in parsed]
    return list(good), list(again)


def test_the_writing_reading_converts_a_county_as_validation_does() -> None:
    county = generate_county(cases=400, seed=4, frauds=True).cases
    good, again = _checked_and_converted(county)
    assert len(good) == len(county) and again == good


@settings(max_examples=60, deadline=None)
@given(
    yuan=st.integers(min_value=0, max_value=4_999),  # under every maximum
    fen=st.sampled_from(["", ".5", ".05", ".50", ".0"]),
    household=st.sampled_from(["1", "03", " 7 "]),
    x=st.sampled_from(["X", "x"]),
    end=st.sampled_from(["", "2027-06-30", " 2027-06-30 "]),
)
def test_the_writing_reading_converts_any_accepted_spelling_as_validation_does(
    yuan: int, fen: str, household: str, x: str, end: str
) -> None:
    amount = f"{yuan}{fen}"
    row = {
        **ROW,
        "monthly_amount": amount if yuan or fen.strip(".0") else "1.00",
        "household_size": household,
        "id_number": f"61010219750707007{x}",
        "effective_to": end,
        "name": " 王秀兰 ",
    }
    good, again = _checked_and_converted([row])
    assert again == good


def test_line_keys_find_the_lines_sharing_a_key_in_file_order() -> None:
    keys = LineKeys()
    for line, key, tag in [(2, "a", 1), (3, "b", 1), (4, "a", 2), (5, "c", 1), (9, "a", 1)]:
        keys.add(key, line, tag)
    groups = [lines for _, lines in keys.groups()]
    assert groups == [[(2, 1), (4, 2), (9, 1)]]


def test_line_keys_give_every_line_of_colliding_keys_for_a_check_to_tell_apart() -> None:
    keys = LineKeys(hash_of=lambda _: 42)
    for line, key in enumerate(["a", "b", "c"], start=2):
        keys.add(key, line)
    assert [(h, [line for line, _ in lines]) for h, lines in keys.groups()] == [(42, [2, 3, 4])]


def test_problems_keep_the_first_and_count_the_rest() -> None:
    problems = Problems(listed=3)
    problems.extend(Problem(line, "x", "bad") for line in range(10, 0, -1))
    problems.also(5)
    with pytest.raises(Exception) as refused:
        problems.refuse_if_any("f.csv")
    assert [p.line for p in refused.value.problems] == [8, 9, 10]  # type: ignore[attr-defined]
    assert refused.value.more == 12  # type: ignore[attr-defined]
    assert "15 problem(s), the first 3 by line listed" in str(refused.value)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["610102195001010011", "61010219700101007x", "610102196002020021"]),
            st.sampled_from(RELATIONS),
            st.dates(date(2000, 1, 1), date(2030, 12, 31)),
            st.one_of(st.none(), st.dates(date(2030, 12, 31), date(2040, 1, 1))),
            st.text(alphabet="王李张秀兰德明 ", min_size=1, max_size=8).map(str.strip).filter(bool),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_writing_reading_converts_a_households_file_as_validation_does(
    rows: list[tuple[str, str, date, date | None, str]],
) -> None:
    # An import's writing reading converts members without their checks (a province's
    # register is millions of them): it must give exactly the rows the checks accepted.
    from ledger.household import HOUSEHOLD_COLUMNS
    from ledger.validation import household_row, household_rows

    data = [
        {
            "case_id": f"C{n:03d}",
            "member_id_number": idn,
            "member_name": name,
            "relation": relation,
            "from": start.isoformat(),
            "to": "" if end is None else end.isoformat(),
        }
        for n, (idn, relation, start, end, name) in enumerate(rows)
    ]
    parsed, problems = read_rows(csv_bytes(HOUSEHOLD_COLUMNS, *data), HOUSEHOLD_COLUMNS)
    assert problems == []
    sink = Problems()
    good = list(household_rows(parsed, sink))
    assert len(good) == len(rows)
    again = [(r.line, household_row([r.values[c] for c in HOUSEHOLD_COLUMNS])) for r in parsed]
    assert again == good
