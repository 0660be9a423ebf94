"""Households, reviews, movements and one-off grants as pure rules (no store)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from eligibility.grants import Grant, check_repeats
from eligibility.households import Member, check_household_size, people_of
from eligibility.movements import Snapshot, movements, totals
from eligibility.reviews import ReviewState, add_months, overdue, reviews_due

D = date


def test_household_size_is_checked_against_the_members_in_effect() -> None:
    members = [
        Member("C1", "P1", "甲", "head", D(2020, 1, 1)),
        Member("C1", "P2", "乙", "spouse", D(2020, 1, 1)),
        Member("C1", "P3", "丙", "child", D(2020, 1, 1), D(2026, 5, 31)),  # moved out
        Member("C2", "P4", "丁", "head", D(2021, 1, 1)),
    ]
    found = check_household_size({"C1": 3, "C2": 1, "C3": 4}, members, D(2026, 6, 1))
    assert [(m.case_id, m.household_size, m.members) for m in found] == [("C1", 3, 2)]
    assert "2 member(s) in effect on 2026-06-01" in found[0].detail
    assert check_household_size({"C1": 3}, members, D(2026, 5, 1)) == []
    assert people_of("C1", "P1", members, D(2026, 6, 1)) == {"P1", "P2"}


def test_a_review_falls_due_after_its_months_and_is_overdue_after_the_grace() -> None:
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert add_months(D(2026, 3, 15), -12) == D(2025, 3, 15)
    cases = [
        ReviewState("C1", "dibao", "610102", D(2025, 1, 10), None, 12),
        ReviewState("C2", "dibao", "610102", D(2024, 1, 1), D(2026, 3, 1), 6),
        ReviewState("C3", "dibao", "610102", D(2026, 1, 1), D(2026, 5, 1), 12),
    ]
    due = reviews_due(cases, D(2026, 9, 15))
    assert [(d.case_id, d.due, d.days_overdue) for d in due] == [
        ("C1", D(2026, 1, 10), 248),
        ("C2", D(2026, 9, 1), 14),
    ]
    assert overdue(due[0], 30) and not overdue(due[1], 30)


def snap(
    case_id: str, in_effect: bool, amount: int = 100, group: str = "dibao", seen: bool = False
) -> Snapshot:
    return Snapshot(case_id, (group,), in_effect, amount, seen)


def test_movements_count_each_way_a_case_comes_and_goes() -> None:
    before = [
        snap("kept", True),
        snap("raised", True),
        snap("ended", True),
        snap("back", False, seen=True),
        snap("moved", True, group="dibao"),
    ]
    after = [
        snap("kept", True),
        snap("raised", True, 120),
        snap("ended", False),
        snap("back", True),
        snap("new", True),
        snap("moved", True, group="tekun"),
    ]
    rows = {m.group[0]: m.counts for m in movements(before, after)}
    assert rows["dibao"] == {
        "start": 4,  # kept, raised, ended, moved
        "opened": 1,  # new
        "reinstated": 1,  # back
        "terminated": 2,  # ended, moved (to tekun)
        "amount_changed": 1,  # raised
        "end": 4,
    }
    assert rows["tekun"]["opened"] == 1 and rows["tekun"]["end"] == 1


@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.booleans(),
            st.booleans(),
            st.sampled_from("ab"),
            st.sampled_from("ab"),
        ),
        max_size=40,
    )
)
def test_movements_always_balance(cases: list[tuple[bool, bool, bool, str, str]]) -> None:
    before = [
        Snapshot(f"C{i}", (g1,), was, 1, seen) for i, (was, _, seen, g1, _) in enumerate(cases)
    ]
    after = [Snapshot(f"C{i}", (g2,), now, 2, True) for i, (_, now, _, _, g2) in enumerate(cases)]
    rows = movements(before, after)
    assert all(m.balances for m in rows)
    assert totals(rows).balances


def test_a_person_granted_more_often_than_allowed_in_the_window_is_a_repeat() -> None:
    grants = [
        Grant("G1", "temporary", "P1", 100000, D(2026, 1, 5)),
        Grant("G2", "temporary", "P1", 100000, D(2026, 4, 5)),
        Grant("G3", "temporary", "P1", 100000, D(2026, 11, 5)),
        Grant("G4", "temporary", "P1", 100000, D(2027, 4, 6)),  # G1, G2 out of the window
        Grant("G5", "temporary", "P2", 100000, D(2026, 4, 5)),
    ]
    repeats = check_repeats(grants, max_grants=2, window_months=12)
    assert [(r.grant_id, r.grants) for r in repeats] == [("G3", 3)]
