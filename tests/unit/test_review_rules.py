"""Periodic reviews and movements as pure rules (no store): when a case falls due, what a line
of a reviews file must meet, the hold and the finding of an overdue review, and a month's
movements across an end and a reinstatement."""

from __future__ import annotations

from datetime import date

import pytest

from eligibility.movements import Snapshot, movements, state_on
from eligibility.reviews import (
    REVIEW_RULES,
    DueReview,
    ReviewContext,
    ReviewState,
    line_problems,
    reviews_due,
)
from ledger.case import Case, CaseRow, CaseState
from ledger.conflicts import Beneficiary, PrePaymentHolds, check_review_overdue
from ledger.csvfile import CsvRow
from ledger.duties import Person, StaffDirectory, Terms
from ledger.review import REVIEW_COLUMNS, ReviewRow, ReviewTerms, next_review_due, review_rows
from reconciliation.checks import check_review_overdue as drafts_of

D = date


def test_a_case_never_reviewed_is_first_due_on_its_anniversary_after_reviews_began_here() -> None:
    # Started years before the ledger took it on: due on its first anniversary after, not at once.
    assert next_review_due(D(2019, 3, 1), None, 12, D(2026, 12, 15)) == D(2027, 3, 1)
    assert next_review_due(D(2019, 12, 20), None, 12, D(2026, 12, 15)) == D(2026, 12, 20)
    assert next_review_due(D(2019, 1, 31), None, 6, D(2026, 8, 1)) == D(2027, 1, 31)
    assert next_review_due(D(2019, 8, 31), None, 6, D(2026, 2, 28)) == D(2026, 2, 28)
    # Started after: a year after its start.
    assert next_review_due(D(2027, 2, 1), None, 12, D(2026, 12, 15)) == D(2028, 2, 1)
    # A review recorded counts from its day, with the months it set.
    assert next_review_due(D(2019, 3, 1), D(2027, 1, 10), 6, D(2026, 12, 15)) == D(2027, 7, 10)
    old = [
        ReviewState(f"C{i}", "dibao", "610102", D(2015, i + 1, 10), None, 12, D(2026, 12, 15))
        for i in range(3)
    ]  # their anniversaries: January, February, March
    assert reviews_due(old, D(2027, 1, 9)) == []
    assert [d.case_id for d in reviews_due(old, D(2027, 2, 10))] == ["C0", "C1"]


def test_review_terms_take_the_programs_months_and_a_review_may_shorten_them() -> None:
    terms = ReviewTerms({"dibao": 12, "tekun": 6}, 30, None)
    assert terms.due_of("dibao", D(2026, 1, 31), None, None) == D(2027, 1, 31)
    assert terms.due_of("tekun", D(2026, 1, 31), None, None) == D(2026, 7, 31)
    assert terms.due_of("dibao", D(2026, 1, 31), D(2026, 8, 31), 3) == D(2026, 11, 30)
    assert terms.due_of("temporary", D(2026, 1, 31), None, None) is None  # never reviewed


CASEWORKER, APPROVER, OTHER = "S001", "S002", "S009"


def directory() -> StaffDirectory:
    since = D(1900, 1, 1)
    return StaffDirectory(
        terms={
            CASEWORKER: [Terms(since, frozenset({"caseworker"}), "610102")],
            APPROVER: [Terms(since, frozenset({"approver", "caseworker"}), "610102")],
            OTHER: [Terms(since, frozenset({"caseworker"}), "610103")],
        },
        people={
            CASEWORKER: Person("甲", "610102197501010011", "6217000000000000101"),
            APPROVER: Person("乙", "610102197601010022", "6217000000000000102"),
            OTHER: Person("丙", "610102197701010033", "6217000000000000103"),
        },
        relatives={CASEWORKER: frozenset({"610102195001010099"})},
    )


def case(id_number: str = "610102195001010011", approved_by: str = APPROVER) -> CaseState:
    return CaseState(
        "C001", "dibao", "610102001001", "王秀兰", id_number, 3, 156000, D(2026, 1, 1), None,
        "6228480000000000011", "王秀兰", "S001", approved_by, D(2026, 1, 1),
    )  # fmt: skip


def problems(
    row: ReviewRow,
    state: CaseState | str | None = "a case",
    by: str = APPROVER,
    last: date | None = None,
    earlier: int | None = None,
) -> list[tuple[str, str]]:
    staff = directory()
    c = ReviewContext(
        row,
        case() if isinstance(state, str) else state,
        last,
        staff,
        staff.actor(by, D(2026, 12, 15)),
        500000,
        earlier,
    )
    return [(p.column, p.reason) for p in line_problems(7, c, REVIEW_RULES)]


def review(outcome: str = "continue", reviewer: str = CASEWORKER, **kw: object) -> ReviewRow:
    values: dict[str, object] = {
        "case_id": "C001",
        "date": D(2026, 12, 10),
        "reviewer": reviewer,
        "outcome": outcome,
        "monthly_amount": None,
        "effective_from": None,
        "next_review_months": None,
    }
    values.update(kw)
    return ReviewRow(**values)  # type: ignore[arg-type]


def test_a_good_review_meets_every_rule() -> None:
    assert problems(review()) == []
    assert problems(review("adjust", monthly_amount=170000, effective_from=D(2027, 1, 1))) == []
    assert problems(review("terminate", effective_from=D(2027, 1, 1))) == []


def test_the_reviewer_is_a_caseworker_in_scope_not_the_approver_without_interest() -> None:
    (found,) = problems(review(reviewer=APPROVER), by=CASEWORKER)
    assert found[0] == "reviewer" and "approved case C001" in found[1]
    (found,) = problems(review(reviewer=OTHER))
    assert "outside S009's region 610103" in found[1]
    (found,) = problems(review(reviewer="S404"))
    assert "not in the staff registry" in found[1]
    # The beneficiary is the reviewer's registered relative: 回避.
    (found,) = problems(review(), case(id_number="610102195001010099"))
    assert found[0] == "reviewer" and "回避" in found[1]


def test_a_change_is_approved_by_an_approver_who_did_not_review_it() -> None:
    adjust = review("adjust", monthly_amount=170000, effective_from=D(2027, 1, 1))
    (found,) = problems(adjust, by=CASEWORKER)
    assert "recorded by an approver" in found[1]
    (found,) = problems(review("terminate", reviewer=APPROVER, effective_from=D(2027, 1, 1)),
                        case(approved_by="S003"))  # fmt: skip
    assert "two people" in found[1]
    assert problems(review(), by=CASEWORKER) == []  # a continue is a caseworker's to record


def test_a_review_fits_the_case_and_comes_after_its_last() -> None:
    same = review("adjust", monthly_amount=156000, effective_from=D(2027, 1, 1))
    assert any("is the case's already" in r for _, r in problems(same))
    high = review("adjust", monthly_amount=600000, effective_from=D(2027, 1, 1))
    assert any("above the program's maximum 5000.00" in r for _, r in problems(high))
    early = review("terminate", effective_from=D(2026, 1, 1))
    assert any("not after the case's start" in r for _, r in problems(early))
    assert any(
        "review recorded on 2026-12-12" in r for _, r in problems(review(), last=D(2026, 12, 12))
    )
    assert any("line 3 already" in r for _, r in problems(review(), earlier=3))
    ended = case()
    ended.effective_to = D(2026, 11, 30)
    assert any("not in effect on 2026-12-10" in r for _, r in problems(review(), ended))
    assert problems(review(), None)[0][1] == "no case 'C001' is recorded: import the case first"


def rows(*lines: str) -> list[CsvRow]:
    out = []
    for n, line in enumerate(lines, start=2):
        values = dict(zip(REVIEW_COLUMNS, line.split(","), strict=True))
        out.append(CsvRow(n, values))
    return out


def test_a_line_says_what_its_outcome_needs() -> None:
    found: list = []  # type: ignore[type-arg]
    good = list(
        review_rows(
            rows(
                "C1,2026-12-01,S001,continue,,,6",
                "C2,2026-12-01,S001,adjust,,2027-01-01,",
                "C3,2026-12-01,S001,terminate,100.00,,",
                "C4,2026-12-01,S001,continue,100.00,,",
                "C5,2026-12-20,S001,renew,,,0",
            ),
            D(2026, 12, 15),
            found,
        )
    )
    assert [(n, r.next_review_months) for n, r in good] == [(2, 6)]
    assert sorted((p.line, p.column) for p in found) == [
        (3, "monthly_amount"),
        (4, "effective_from"),
        (4, "monthly_amount"),
        (5, "monthly_amount"),
        (6, "date"),
        (6, "next_review_months"),
        (6, "outcome"),
    ]


def test_an_overdue_review_holds_from_the_month_it_was_overdue_on_its_first_day() -> None:
    payee = Beneficiary("C001", "dibao", "610102001001", "1", "2", "x")
    due = D(2026, 11, 15)  # overdue from 2026-12-16 with 30 days' grace
    assert check_review_overdue(payee, due, 30, D(2026, 12, 1)) == []
    (held,) = check_review_overdue(payee, due, 30, D(2027, 1, 1))
    assert (held.type, held.key) == ("review_overdue", ("C001", "2026-11-15"))
    holds = PrePaymentHolds({}, {}, {}, ReviewTerms({"dibao": 12}, 30, None, suspend=False))
    assert holds.of(payee, None, D(2027, 1, 1), due) == []  # not suspending: paid
    holds = PrePaymentHolds({}, {}, {}, ReviewTerms({"dibao": 12}, 30, None, suspend=True))
    assert [c.type for c in holds.of(payee, None, D(2027, 1, 1), due)] == ["review_overdue"]
    # What a payment (a reissue as any other) is held by: the due day only when suspending.
    assert holds.review_due("dibao", D(2025, 11, 15), None, None) == D(2026, 11, 15)
    assert holds.review_due("dibao", D(2025, 11, 15), D(2026, 5, 1), 3) == D(2026, 8, 1)
    unheld = PrePaymentHolds({}, {}, {}, ReviewTerms({"dibao": 12}, 30, None, suspend=False))
    assert unheld.review_due("dibao", D(2025, 11, 15), None, None) is None
    assert PrePaymentHolds({}, {}, {}).review_due("dibao", D(2025, 11, 15), None, None) is None


def test_a_finding_is_drafted_once_per_case_and_due_day_past_the_grace() -> None:
    due = [
        DueReview("C1", "dibao", "610102001001", None, D(2026, 11, 1), 44),
        DueReview("C2", "tekun", "610102001002", D(2025, 12, 1), D(2026, 12, 1), 14),
    ]
    (d,) = drafts_of(due, D(2026, 12, 15), 30, {"dibao": "civil_affairs"})
    assert (d.type, d.key, d.period, d.department) == (
        "review_overdue",
        ("C1", "2026-11-01"),
        "2026-12",
        "civil_affairs",
    )
    assert "never reviewed" in d.detail and d.severity == "medium"


def row(effective_to: date | None = None) -> CaseRow:
    return CaseRow(
        "C1", "dibao", "610102001001", "甲", "610102195001010011", 1, 10000, D(2026, 1, 1),
        effective_to, "6228480000000000011", "甲", "S001", "S002",
    )  # fmt: skip


def test_a_case_ended_then_reinstated_in_the_month_counts_as_reinstated() -> None:
    c = Case.approve(row(), by="S001", source="t")
    c.decide(row(D(2026, 10, 31)), by="S001", source="t")  # ends; first day without 11-01
    c.decide(row(), by="S001", source="t")  # reinstated (recorded in the month reported)
    events = c.collect_events()
    known_when_it_began, known_when_it_ended = events[:2], events
    assert state_on(known_when_it_began, D(2026, 10, 1)) is not None
    assert state_on(known_when_it_began, D(2026, 12, 1)) is None
    back = state_on(known_when_it_ended, D(2027, 1, 1))
    assert back is not None and back.monthly_amount == 10000

    def snap(s: CaseState | None) -> Snapshot:
        return Snapshot("C1", ("dibao",), s is not None, s.monthly_amount if s else 0, True)

    (m,) = movements(
        [snap(state_on(known_when_it_began, D(2026, 12, 1)))],
        [snap(state_on(known_when_it_ended, D(2027, 1, 1)))],
    )
    assert (m.counts["start"], m.counts["reinstated"], m.counts["end"]) == (0, 1, 1)
    assert m.balances


def test_who_lists_the_reviews_due_and_reads_the_movements() -> None:
    from eligibility.movements import check_may_read_movements
    from eligibility.reviews import check_may_list_reviews_due
    from ledger.duties import Actor, DutyRefused

    def actor(role: str) -> Actor:
        return Actor("S1", frozenset({role}), "610102")

    for role in ("caseworker", "approver", "supervisor", "auditor"):
        check_may_list_reviews_due(actor(role))
    for role in ("finance", "finance_approver", "admin"):
        with pytest.raises(DutyRefused, match="S1 may not list the cases due for review"):
            check_may_list_reviews_due(actor(role))
    for role in ("caseworker", "approver", "finance", "finance_approver", "supervisor", "auditor"):
        check_may_read_movements(actor(role))
    with pytest.raises(DutyRefused, match=r"may not read the caseload movements.*holds admin"):
        check_may_read_movements(actor("admin"))
