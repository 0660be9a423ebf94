"""Undoing a file's decisions on one case (`eligibility.revert.undo_case`), as pure rules: the
case reads again, on every day, as it read before the file; or the undo is refused, and only
when the file moved the case's first day earlier (which no later decision can move back)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.revert import REVERT_SOURCE, Undo, undo_case
from ledger.case import Case, CaseRow, CaseState, state_as_of
from ledger.events import LedgerEvent

FIRST = date(2026, 1, 1)
ROW = CaseRow(
    "C1",
    "dibao",
    "610102001001",
    "王秀兰",
    "610102195001010011",
    3,
    156000,
    FIRST,
    None,
    "6228480000000000011",
    "王秀兰",
    "S001",
    "S002",
)
TERMS = ("monthly_amount", "household_size", "bank_account", "name", "effective_to", "start")


def terms(state: CaseState | None) -> tuple[object, ...] | None:
    return None if state is None else tuple(getattr(state, n) for n in TERMS)


def days() -> list[date]:
    return [date(2025, 10, 1) + timedelta(days=n) for n in range(0, 520, 3)]


def decided(case: Case, rows: list[CaseRow], tag: str) -> None:
    for n, row in enumerate(rows, start=2):
        case.decide(row, by="S001", source=f"{tag}:{n}")


def history(before: list[CaseRow], file: list[CaseRow]) -> tuple[list[LedgerEvent], int]:
    """The case's events: opened and decided by earlier files, then ``file``; and how many
    came before the file."""
    case = Case.approve(before[0], by="S001", source="first.csv@aaaaaaaaaaaa:2")
    decided(case, before[1:], "later.csv@bbbbbbbbbbbb")
    kept = len(case.pending_events)
    decided(case, file, "bad.csv@cccccccccccc")
    return list(case.collect_events()), kept  # type: ignore[arg-type]


month = st.integers(min_value=0, max_value=14).map(lambda n: date(2026 + (n // 12), n % 12 + 1, 1))
row_change = st.builds(
    lambda eff, amount, account, end: replace(
        ROW,
        effective_from=eff,
        monthly_amount=amount,
        bank_account=account,
        effective_to=end,
    ),
    month,
    st.sampled_from([156000, 180000, 99950]),
    st.sampled_from(["6228480000000000011", "6228480000000000099"]),
    st.one_of(st.none(), month.map(lambda d: d - timedelta(days=1))),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(row_change, max_size=3), st.lists(row_change, min_size=1, max_size=3))
def test_an_undo_gives_the_case_back_as_it_read_before_the_file_on_every_day(
    earlier: list[CaseRow], file: list[CaseRow]
) -> None:
    events, kept = history([ROW, *earlier], file)
    before = events[:kept]
    undo = undo_case(events, "bad.csv@cccccccccccc", by="S002", reason="typed wrong")
    if len(events) == kept:  # the file changed nothing: nothing to undo
        assert undo is None
        return
    if isinstance(undo, str):
        # Refused only when the file moved the first day earlier.
        assert "first day earlier" in undo
        assert min(e.effective_from for e in events[kept:] if e.dated) < before_start(before)
        return
    assert isinstance(undo, Undo)
    after = [*events, *undo.case.pending_events]
    for day in days():
        assert terms(state_as_of(before, day)) == terms(state_as_of(after, day)), day
    assert all(
        e.source.startswith(f"{REVERT_SOURCE}bad.csv@cccccccccccc: typed wrong")
        for e in undo.case.pending_events
    )
    assert all(
        (e.decided_by, e.approved_by, e.by) == ("S002",) * 3 for e in undo.case.pending_events
    )


def before_start(before: list[LedgerEvent]) -> date:
    from ledger.case import current_state

    state = current_state(before)
    assert state is not None
    return state.start


def test_a_case_the_file_opened_is_ended_from_its_first_day() -> None:
    case = Case.approve(
        replace(ROW, effective_from=date(2026, 5, 1)), by="S001", source="b.csv@c:2"
    )
    events = list(case.collect_events())
    undo = undo_case(events, "b.csv@c", by="S002", reason="not ours")
    assert isinstance(undo, Undo) and undo.opened
    after = [*events, *undo.case.pending_events]
    assert all(state_as_of(after, d) is None for d in days())
    (ended,) = undo.case.pending_events
    assert isinstance(ended, Case.Terminated)
    assert (ended.effective_from, ended.effective_to) == (date(2026, 5, 1), date(2026, 4, 30))


def test_a_case_decided_again_after_the_file_is_refused_by_its_later_source() -> None:
    case = Case.approve(ROW, by="S001", source="first.csv@a:2")
    decided(
        case, [replace(ROW, monthly_amount=200000, effective_from=date(2026, 6, 1))], "bad.csv@c"
    )
    decided(
        case, [replace(ROW, monthly_amount=210000, effective_from=date(2026, 8, 1))], "next.csv@d"
    )
    undo = undo_case(list(case.collect_events()), "bad.csv@c", by="S002", reason="r")
    assert isinstance(undo, str) and "next.csv@d:2" in undo and "revert that one first" in undo


def test_a_revert_already_recorded_is_not_recorded_twice() -> None:
    case = Case.approve(ROW, by="S001", source="first.csv@a:2")
    decided(
        case, [replace(ROW, monthly_amount=200000, effective_from=date(2026, 6, 1))], "bad.csv@c"
    )
    events = list(case.collect_events())
    undo = undo_case(events, "bad.csv@c", by="S002", reason="r")
    assert isinstance(undo, Undo)
    again = undo_case([*events, *undo.case.collect_events()], "bad.csv@c", by="S002", reason="r")
    assert again is None
    assert undo_case(events, "other.csv@e", by="S002", reason="r") is None


def test_a_back_dated_increase_is_undone_from_its_own_date_keeping_the_months_between() -> None:
    """Before the file: 1560.00 from January, 1800.00 from June. The file: 2000.00 from March.
    After the undo: 1560.00 in March-May and 1800.00 from June again (one compensation at
    March, another at June), never 1800.00 from March."""
    case = Case.approve(ROW, by="S001", source="first.csv@a:2")
    decided(case, [replace(ROW, monthly_amount=180000, effective_from=date(2026, 6, 1))], "j.csv@b")
    decided(
        case, [replace(ROW, monthly_amount=200000, effective_from=date(2026, 3, 1))], "bad.csv@c"
    )
    events = list(case.collect_events())
    undo = undo_case(events, "bad.csv@c", by="S002", reason="r")
    assert isinstance(undo, Undo)
    after = [*events, *undo.case.pending_events]
    amounts = {
        m: state_as_of(after, date(2026, m, 1)).monthly_amount  # type: ignore[union-attr]
        for m in (2, 3, 5, 6, 9)
    }
    assert amounts == {2: 156000, 3: 156000, 5: 156000, 6: 180000, 9: 180000}
    assert [(type(e).__name__, e.effective_from) for e in undo.case.pending_events] == [
        ("MonthlyAmountChanged", date(2026, 3, 1)),
        ("MonthlyAmountChanged", date(2026, 6, 1)),
    ]
