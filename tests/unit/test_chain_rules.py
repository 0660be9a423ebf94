"""The 阳光 decision chain's rules, without a store: order, people, notice days, objections."""

from __future__ import annotations

from datetime import date, timedelta

from eligibility.chain import Progress, Step, check_step, replay
from ledger.duties import Person, StaffDirectory, Terms

D = date(2026, 3, 1)
STAFF = StaffDirectory(
    terms={
        "CW": [Terms(date(1900, 1, 1), frozenset({"caseworker"}), "610102001")],
        "CW2": [Terms(date(1900, 1, 1), frozenset({"caseworker", "approver"}), "610102")],
        "AP": [Terms(date(1900, 1, 1), frozenset({"approver"}), "610102")],
    },
    people={s: Person(s, f"id-{s}", f"acct-{s}") for s in ("CW", "CW2", "AP")},
)


def step(kind: str, day: int, staff: str = "CW", outcome: str = "pass") -> Step:
    return Step("A1", "C1", "dibao", kind, D + timedelta(days=day), staff, outcome, "")


def full_line(notice_day: int = 20) -> list[Step]:
    return [
        step("apply", 0),
        step("verify", 2),
        step("visit", 5),
        step("review", 9),
        step("township", 12),
        step("notice", notice_day),
    ]


def problems(
    done: list[Step],
    s: Step,
    *,
    region: str | None = "610102001001",
    interested: frozenset[str] = frozenset(),
) -> list[str]:
    return check_step(
        replay(done), s, staff=STAFF, region=region, interested=set(interested), notice_days=7
    )


def test_a_full_line_in_order_is_approved_after_the_notice_days() -> None:
    done = full_line()
    for n, s in enumerate(done):
        assert problems(done[:n], s) == [], s.step
    assert problems(done, step("approve", 27, "AP")) == []
    assert replay([*done, step("approve", 27, "AP")]).ended == "approved"


def test_steps_out_of_order_are_refused() -> None:
    assert problems([step("apply", 0)], step("visit", 1)) == [
        "out of order: visit where verify comes next"
    ]
    assert "apply comes once" in problems([step("apply", 0)], step("apply", 1))[0]
    dated = problems([step("apply", 5)], step("verify", 1))
    assert dated == ["dated before the step before it (2026-03-06)"]


def test_approval_waits_for_the_notice_days() -> None:
    early = problems(full_line(), step("approve", 25, "AP"))
    assert early == [
        "approved 5 days after the notice of 2026-03-21: the notice runs 7 days "
        "(approve from 2026-03-28)"
    ]


def test_township_by_a_caseworker_approval_by_an_approver_and_two_people() -> None:
    line = full_line()
    assert "township is by a caseworker" in problems(line[:4], step("township", 12, "AP"))[0]
    assert "approve is by a approver" in problems(line, step("approve", 27, "CW"))[0]
    both = [*line[:4], step("township", 12, "CW2"), line[5]]
    assert problems(both, step("approve", 27, "CW2")) == [
        "CW2 took the township review: another person must approve (two people)"
    ]


def test_the_region_and_interest_of_whoever_takes_a_step() -> None:
    assert (
        "outside CW's region 610102001" in problems([], step("apply", 0), region="610102002001")[0]
    )
    assert "interest" in problems([], step("apply", 0), interested=frozenset({"CW"}))[0]


def test_an_upheld_objection_sends_the_application_back_to_review() -> None:
    line = full_line()
    upheld = step("objection", 22, "CW", "upheld")
    assert problems(line, upheld) == []
    after = [*line, upheld]
    assert problems(after, step("approve", 30, "AP")) == [
        "out of order: approve where review comes next"
    ]
    again = [*after, step("review", 31), step("township", 33), step("notice", 34)]
    assert problems(again, step("approve", 40, "AP")) == [
        "approved 6 days after the notice of 2026-04-04: the notice runs 7 days "
        "(approve from 2026-04-11)"
    ]
    assert problems(again, step("approve", 41, "AP")) == []
    dismissed = step("objection", 22, "CW", "dismissed")
    assert problems([*line, dismissed], step("approve", 27, "AP")) == []


def test_an_objection_comes_only_during_a_notice_and_nothing_after_the_end() -> None:
    assert (
        "no notice yet" in problems([step("apply", 0)], step("objection", 1, outcome="upheld"))[0]
    )
    ended = [step("apply", 0), step("reject", 1, "CW")]
    assert replay(ended).ended == "rejected"
    assert problems(ended, step("verify", 2)) == ["the application was already rejected"]
    assert Progress().ended is None
