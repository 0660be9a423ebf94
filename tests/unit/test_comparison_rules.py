"""The pure rules of data comparison (`eligibility.comparison`) and of households
(`eligibility.households`), without a database."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.comparison import CaseFacts, Record, Rules, compare, compare_case, latest
from eligibility.households import Member, check_dead_members, check_household_size

HOLDER, SPOUSE, CHILD = "610102195001010011", "610102198001010015", "610102198202020025"
DIBAO = Rules(
    limits={"vehicle": 10_000_000, "deposit": 6_000_000, "income_monthly": 100_000},
    forbidden_sources=frozenset({"business"}),
    duplicates_with=frozenset({"hrss:unemployment"}),
)
CASE = CaseFacts("C1", "dibao", "610102001001", frozenset({HOLDER, SPOUSE}))
DEC1, DEC31, AS_OF = date(2026, 12, 1), date(2026, 12, 31), date(2026, 12, 15)


def rec(source: str, who: str, ref: str, day: date, fen: int | None = None, **kw: object) -> Record:
    value = kw.pop("value", f"{fen // 100}.{fen % 100:02d}" if fen is not None else "")
    return Record(source, who, ref, day, str(value), fen, **kw)  # type: ignore[arg-type]


def run(*records: Record, case: CaseFacts = CASE, as_of: date = AS_OF) -> dict[str, object]:
    hits = compare_case(case, records, DIBAO, first=DEC1, last=DEC31, as_of=as_of)
    return {h.type: h for h in hits}


def test_assets_are_summed_over_the_household_against_the_limit() -> None:
    under = run(rec("deposit", HOLDER, "A", date(2026, 11, 1), 3_000_000))
    assert under == {}
    hits = run(
        rec("deposit", HOLDER, "A", date(2026, 11, 1), 3_000_000),
        rec("deposit", SPOUSE, "B", date(2026, 11, 1), 3_000_001),
    )
    hit = hits["assets_over_limit"]
    assert (hit.source, hit.value, hit.limit) == ("deposit", "60000.01", "60000.00")  # type: ignore[attr-defined]
    assert SPOUSE not in hit.detail and HOLDER not in hit.detail  # type: ignore[attr-defined]


def test_a_person_outside_the_household_does_not_count() -> None:
    assert run(rec("deposit", CHILD, "C", date(2026, 11, 1), 9_000_000)) == {}


def test_the_latest_record_of_a_reference_supersedes_the_older_one() -> None:
    old = rec("vehicle", HOLDER, "P1", date(2026, 1, 1), 20_000_000)
    new = rec("vehicle", HOLDER, "P1", date(2026, 11, 1), 5_000_000)
    assert latest([old, new]) == [new]
    assert run(old, new) == {}


def test_income_is_judged_per_person() -> None:
    assert run(rec("income", HOLDER, "W", date(2026, 11, 1), 200_000)) == {}  # 1000.00 each
    hit = run(rec("income", HOLDER, "W", date(2026, 11, 1), 200_002))["income_over_limit"]
    assert hit.value == "1000.01"  # type: ignore[attr-defined]


def test_a_business_only_where_the_program_forbids_it() -> None:
    b = rec("business", SPOUSE, "91610102", date(2026, 11, 1), value="个体户")
    assert set(run(b)) == {"business_registered"}
    allowed = compare_case(CASE, [b], Rules(), first=DEC1, last=DEC31, as_of=AS_OF)
    assert allowed == []


def test_another_departments_benefit_duplicates_only_if_named_and_paid_in_the_month() -> None:
    named = rec("other_benefit", HOLDER, "hrss:unemployment", date(2026, 10, 1), 150_000)
    assert set(run(named)) == {"cross_department_duplicate"}
    ended = rec(
        "other_benefit",
        HOLDER,
        "hrss:unemployment",
        date(2026, 1, 1),
        150_000,
        until=date(2026, 11, 30),
    )
    assert run(ended) == {}
    other = rec("other_benefit", HOLDER, "education:grant", date(2026, 10, 1), 150_000)
    assert run(other) == {}


def test_moved_out_by_the_latest_registration_outside_the_county() -> None:
    away = rec("household_registration", SPOUSE, "H", date(2026, 6, 1), value="320102")
    back = rec("household_registration", SPOUSE, "H2", date(2026, 9, 1), value="610102001001")
    assert set(run(away)) == {"moved_out"}
    assert run(away, back) == {}


def test_a_record_after_as_of_is_not_known() -> None:
    later = rec("deposit", HOLDER, "A", date(2026, 12, 16), 9_000_000)
    assert run(later) == {}
    assert set(run(later, as_of=date(2026, 12, 16))) == {"assets_over_limit"}


def test_household_size_and_dead_members() -> None:
    members = [
        Member("C1", HOLDER, "王", "head", date(2026, 1, 1)),
        Member("C1", SPOUSE, "刘", "spouse", date(2026, 1, 1)),
        Member("C1", CHILD, "刘", "child", date(2026, 1, 1), date(2026, 6, 30)),
    ]
    (mismatch,) = check_household_size({"C1": 3, "C2": 1}, members, DEC1)
    assert (mismatch.case_id, mismatch.members) == ("C1", 2)
    assert check_household_size({"C1": 2}, members, DEC1) == []
    (dead,) = check_dead_members(
        members, {SPOUSE: date(2026, 10, 3), CHILD: date(2026, 8, 1)}, DEC1
    )
    assert (dead.case_id, dead.id_number) == ("C1", SPOUSE)  # the child had left


SOURCES = ("vehicle", "deposit", "income", "business", "other_benefit", "household_registration")
PEOPLE = (HOLDER, SPOUSE, CHILD)
records = st.lists(
    st.builds(
        lambda s, who, ref, day, fen: Record(
            s,
            who,
            "hrss:unemployment" if s == "other_benefit" else ref,
            day,
            "320102" if s == "household_registration" else f"{fen}",
            fen,
        ),
        st.sampled_from(SOURCES),
        st.sampled_from(PEOPLE),
        st.sampled_from(("R1", "R2")),
        st.dates(date(2026, 1, 1), date(2026, 12, 31)),
        st.integers(0, 20_000_000),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(records, st.dates(date(2026, 1, 1), date(2026, 12, 31)))
def test_compare_raises_nothing_twice_and_nothing_from_records_after_as_of(
    found: list[Record], as_of: date
) -> None:
    cases = [CASE, CaseFacts("C2", "dibao", "610102002001", frozenset({CHILD}))]
    hits = compare(cases, found, {"dibao": DIBAO}, first=DEC1, last=DEC31, as_of=as_of)
    keys = [(h.case_id, h.type) for h in hits]
    assert len(keys) == len(set(keys))  # at most one of each type per case
    known = [r for r in found if r.as_of <= as_of]
    assert hits == compare(cases, known, {"dibao": DIBAO}, first=DEC1, last=DEC31, as_of=as_of)
    for h in hits:  # every piece of evidence was known on as_of
        for piece in h.evidence.split(";"):
            assert date.fromisoformat(piece.rsplit(":", 1)[1]) <= as_of


def test_a_comparison_row_read_the_short_way_is_read_as_the_long_way_reads_it() -> None:
    """`comparison_rows` reads a good row without naming problems, a bad one the long way:
    the records and the problems are the long way's alone."""
    from ledger.csvfile import CsvRow
    from ledger.errors import Problems
    from ledger.ids import parse_id_number
    from ledger.money import format_fen
    from ledger.period import parse_date
    from ledger.validation import _comparison_row, _money_as_written, _money_value, comparison_rows

    for raw in ("0.5", "00.50", "12.30", "0012.00", "1234567890123.45", "12", " 1.00"):
        fen = _money_value(raw)
        assert _money_as_written(raw) == (fen, format_fen(fen))
    holder = "610102195001010011"
    cells = [
        (holder, "A-1", "2026-11-01", "12.3", ""),
        (holder, "A-2", "2026-11-01", "0012.00", "x"),
        (holder.lower(), "A-3", "2026-11-01", "5.00", ""),
        ("610102195001010012", "A-4", "2026-11-01", "5.00", ""),
        (holder, "", "2026-11-01", "5.00", ""),
        (holder, "A-6", "2026-12-31", "5.00", ""),
        (holder, "A-7", "2026-02-30", "1.234", ""),
    ]
    columns = ("id_number", "source_ref", "as_of", "value", "detail")
    rows = [CsvRow(n + 2, dict(zip(columns, c, strict=True))) for n, c in enumerate(cells)]
    today = date(2026, 12, 15)
    for source in ("deposit", "business"):
        short, long = Problems(), Problems()
        got = list(comparison_rows(rows, source, today, short))
        want = [
            r
            for row in rows
            for r in _comparison_row(row, source, today, long, parse_id_number, parse_date)
        ]
        assert got == want and len(got) == 3
        assert [str(p) for p in short.kept] == [str(p) for p in long.kept]
        assert {p.line for p in short.kept} == {5, 6, 7, 8}


def test_the_writing_reading_converts_a_checked_file_as_the_checks_read_it(
    tmp_path: Path,
) -> None:
    """`checked_comparison_records` (the import's second reading, no checks) gives the very
    records `comparison_rows` (the checking reading) gives, for every source."""
    from ledger.comparison import columns_of
    from ledger.comparison_terms import SOURCES
    from ledger.csvfile import InputFile, iter_rows, reread_values
    from ledger.errors import Problems
    from ledger.validation import checked_comparison_records, comparison_rows

    holder = "610102195001010011"
    lower = "11010519491231002x"
    today = date(2026, 12, 15)
    for source in SOURCES:
        if source == "other_benefit":
            lines = [
                f"{holder},hrss,unemployment,1200.5,2026-01-01,",
                f"{lower},civil,pension, 0012.00 ,2026-02-01,2026-06-30",
            ]
        else:
            value = {"household_registration": "610103", "business": "个体"}.get(source, "0012.30")
            lines = [
                f"{holder},R-1,2026-11-01,{value},轿车",
                f"{lower}, R-2 ,2026-10-31,{value if source != 'deposit' else '12.3'},",
                f'{holder},R-3,2026-01-01,{value},"a, b"',
            ]
        path = tmp_path / f"{source}.csv"
        path.write_text(",".join(columns_of(source)) + "\n" + "\n".join(lines) + "\n", "utf-8")
        with InputFile(path, max_bytes=1 << 20) as file:
            problems = Problems()
            checked = list(
                comparison_rows(
                    iter_rows(file, columns_of(source), problems), source, today, problems
                )
            )
            assert not problems.kept and len(checked) == len(lines)
            written = list(
                checked_comparison_records(reread_values(file, columns_of(source)), source)
            )
        assert written == checked, source
