"""Validity and periodic review (有效期, 定期核查): when a case falls due. Pure rules.

Each program reviews its cases every ``review_months`` (12 by default; a review may set 6 or 3
for a household with unstable income). A case is due on its last review plus those months;
after ``review_grace_days`` more it is overdue: a ``review_overdue`` finding, closed when a
review is recorded, and, with ``suspend_when_overdue``, its payments are held.

A case never reviewed is first due ``review_months`` after its start; if that is before the day
the bureau began reviewing in this ledger (``[reviews] from`` in the config; by default the day
the store was created, its first config recorded), on the first anniversary of its start, every
``review_months``, on or after that day. A store that takes over years of cases from an earlier
system (whose reviews it does not hold) therefore finds none of them overdue on its first day,
and not all of them due on one day a year later either: each falls due on its own anniversary
within the first cycle, as a bureau plans its first round of reviews.

Who may record a review, and what its line must say, are the rules of `REVIEW_RULES`, each a
function of one line and what is known of its case (`ReviewContext`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ledger.case import CaseState
from ledger.duties import Actor, DutyRefused, StaffDirectory, format_roles
from ledger.errors import Problem
from ledger.money import format_fen
from ledger.review import (
    OUTCOMES,
    ReviewRow,
    ReviewTerms,
    add_months,
    next_review_due,
    overdue_on,
)

__all__ = ["OUTCOMES", "ReviewTerms", "add_months", "next_review_due", "overdue_on"]

#: Who may list the cases due for review where a person is known (the console, the API): the
#: staff who review and decide cases, and those who oversee them.
REVIEW_LIST_READERS = ("caseworker", "approver", "supervisor", "auditor")


def check_may_list_reviews_due(actor: Actor) -> None:
    """Caseworkers, approvers, supervisors and auditors list the cases due for review."""
    actor.require(*REVIEW_LIST_READERS, to="list the cases due for review")


@dataclass(frozen=True)
class ReviewState:
    """What a case's reviews say: the last one, and after how many months the next is due."""

    case_id: str
    program: str
    region_code: str
    start: date
    last_review: date | None
    months: int
    #: The day reviews began in this ledger (None: counted from the start).
    since: date | None = None

    @property
    def due(self) -> date:
        return next_review_due(self.start, self.last_review, self.months, self.since)


def review_state(
    terms: ReviewTerms,
    case_id: str,
    program: str,
    region_code: str,
    start: date,
    last_review: date | None,
    set_months: int | None,
) -> ReviewState | None:
    """A case's review state under ``terms`` (None: its program is not reviewed)."""
    months = terms.months_for(program, set_months)
    if months is None:
        return None
    return ReviewState(case_id, program, region_code, start, last_review, months, terms.since)


def earliest_basis(as_of: date) -> date:
    """No case whose last review (or, never reviewed, whose start) is after this
    day can be due on ``as_of``: a review is due a month or more later, and a month is at least
    28 days. A scan reads only the cases up to it."""
    return as_of - timedelta(days=28)


@dataclass(frozen=True)
class DueReview:
    """A row of ``reviews due``."""

    case_id: str
    program: str
    region_code: str
    last_review: date | None
    due: date
    days_overdue: int


def reviews_due(cases: Iterable[ReviewState], as_of: date) -> list[DueReview]:
    """The cases due for review on or before ``as_of``, most overdue first."""
    out = [
        DueReview(c.case_id, c.program, c.region_code, c.last_review, c.due, (as_of - c.due).days)
        for c in cases
        if c.due <= as_of
    ]
    return sorted(out, key=lambda d: (-d.days_overdue, d.case_id))


def overdue(due: DueReview, grace_days: int) -> bool:
    """Past its due day by more than the grace: a ``review_overdue`` finding."""
    return due.days_overdue > grace_days


# -- the rules of a line of a reviews file (pure) ---------------------------------------------


@dataclass(frozen=True)
class ReviewContext:
    """One line of a reviews file, and what its rules are judged on."""

    row: ReviewRow
    #: The case as it stands now (None: no such case).
    case: CaseState | None
    #: The day of the case's last recorded review (None: never reviewed).
    last_review: date | None
    staff: StaffDirectory
    importer: Actor
    #: The program's largest monthly amount (fen).
    max_monthly: int
    #: The line of this file where the case came first (None: this line).
    earlier_line: int | None = None


def case_recorded(c: ReviewContext) -> list[str]:
    if c.case is None:
        return [f"no case {c.row.case_id!r} is recorded: import the case first"]
    return []


def once_per_file(c: ReviewContext) -> list[str]:
    if c.earlier_line is not None:
        return [
            f"case {c.row.case_id} is reviewed on line {c.earlier_line} already: one review of "
            "a case per file"
        ]
    return []


def in_effect_on_the_day(c: ReviewContext) -> list[str]:
    s, day = c.case, c.row.date
    if s is None or s.in_effect_on(day):
        return []
    ended = (
        f"ended {s.effective_to.isoformat()}" if s.effective_to else f"starts {s.start.isoformat()}"
    )
    return [f"case {s.case_id} is not in effect on {day.isoformat()} ({ended}): nothing to review"]


def after_the_last_review(c: ReviewContext) -> list[str]:
    last = c.last_review
    if last is not None and c.row.date <= last:
        same = "on that day, with other terms" if c.row.date == last else f"on {last.isoformat()}"
        return [
            f"case {c.row.case_id} has a review recorded {same}: a review is recorded once, "
            "after the case's last one"
        ]
    return []


def reviewer_duties(c: ReviewContext) -> list[str]:
    """The reviewer is a registered caseworker covering the case's region on the day, is not
    the person who approved the case, and has no interest in it (回避)."""
    s, who, day = c.case, c.row.reviewer, c.row.date
    if s is None:
        return []
    try:
        actor = c.staff.actor(who, day)
    except DutyRefused as e:
        return [str(e)]
    if not actor.holds("caseworker"):
        return [
            f"{who} did not hold the role caseworker on {day.isoformat()} "
            f"(held: {format_roles(actor.roles) or 'none'})"
        ]
    if not actor.covers(s.region_code):
        return [f"the case's region {s.region_code} is outside {who}'s region {actor.region}"]
    if who == s.approved_by:
        return [f"{who} approved case {s.case_id}: another staff member reviews it"]
    if who in c.staff.interested([s.id_number], [s.bank_account]):
        return [
            f"{who} has an interest in this case (the beneficiary is the staff member or a "
            "registered relative, or the account is the staff member's own): another staff "
            "member must review it (回避)"
        ]
    return []


def importer_duties(c: ReviewContext) -> list[str]:
    """Whoever records a review covers the case and has no interest in it; a review that
    changes the case (adjust, terminate) is a decision: recorded by an approver, who is its
    ``approved_by``, not by its reviewer (two people)."""
    s, imp = c.case, c.importer
    if s is None:
        return []
    who = imp.staff_id
    if not imp.covers(s.region_code):
        return [
            f"the case's region {s.region_code} is outside the importer {who}'s region {imp.region}"
        ]
    if who in c.staff.interested([s.id_number], [s.bank_account]):
        return [
            f"the importer {who} has an interest in this case: another staff member must "
            "record its review (回避)"
        ]
    if c.row.outcome in ("adjust", "terminate"):
        if not imp.holds("approver"):
            return [
                f"a review that ends in {c.row.outcome} changes the case: it is recorded by an "
                f"approver (its approved_by); {who} holds {format_roles(imp.roles) or 'none'}"
            ]
        if who == c.row.reviewer:
            return [
                f"{who} reviewed the case: its {c.row.outcome} is recorded (approved) by "
                "another person (two people)"
            ]
    return []


def terms_fit_the_case(c: ReviewContext) -> list[str]:
    """An adjustment's amount is new and within the program's maximum, from a day in the case;
    a termination ends the case within its current term."""
    s, r = c.case, c.row
    if s is None or r.effective_from is None:
        return []
    eff = r.effective_from
    if r.outcome == "adjust" and r.monthly_amount is not None:
        out = []
        if r.monthly_amount == s.monthly_amount:
            out.append(
                f"the amount {format_fen(r.monthly_amount)} is the case's already: that review "
                "is a continue"
            )
        if r.monthly_amount > c.max_monthly:
            out.append(
                f"{format_fen(r.monthly_amount)} is above the program's maximum "
                f"{format_fen(c.max_monthly)}"
            )
        if eff < s.start:
            out.append(
                f"effective_from {eff.isoformat()} is before the case's start {s.start.isoformat()}"
            )
        return out
    if r.outcome == "terminate":
        if eff <= s.start:
            return [
                f"effective_from {eff.isoformat()} is not after the case's start "
                f"{s.start.isoformat()}: a case never in effect is corrected in a cases file"
            ]
        if s.effective_to is not None and eff > s.effective_to:
            return [f"case {s.case_id} ends {s.effective_to.isoformat()} already"]
    return []


Rule = Callable[[ReviewContext], list[str]]

#: Every rule of a line of a reviews file, with the column its problems are reported on.
REVIEW_RULES: tuple[tuple[str, Rule], ...] = (
    ("case_id", case_recorded),
    ("case_id", once_per_file),
    ("date", in_effect_on_the_day),
    ("date", after_the_last_review),
    ("reviewer", reviewer_duties),
    ("case_id", importer_duties),
    ("effective_from", terms_fit_the_case),
)
#: What a line repeating a review already recorded (same case, day and terms) must still meet.
REPEAT_RULES: tuple[tuple[str, Rule], ...] = (("case_id", once_per_file),)


def line_problems(line: int, c: ReviewContext, rules: Sequence[tuple[str, Rule]]) -> list[Problem]:
    """The problems of one line under ``rules``."""
    return [Problem(line, column, reason) for column, rule in rules for reason in rule(c)]
