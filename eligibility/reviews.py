"""Validity and periodic review (有效期, 定期核查): when a case falls due. Pure rules.

Each program reviews its cases every ``review_months`` (12 by default; a review may set 6 or 3
for a household with unstable income). A case is due on its last review (or, never reviewed,
its start) plus those months; after ``review_grace_days`` more it is overdue: a
``review_overdue`` finding, closed when a review is recorded, and, with
``suspend_when_overdue``, its payments are held.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

OUTCOMES = ("continue", "adjust", "terminate")


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(f"no day {day.day} in {year}-{month}")  # unreachable: day 28 exists


@dataclass(frozen=True)
class ReviewState:
    """What a case's reviews say: the last one, and after how many months the next is due."""

    case_id: str
    program: str
    region_code: str
    start: date
    last_review: date | None
    months: int

    @property
    def due(self) -> date:
        return add_months(self.last_review or self.start, self.months)


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


def overdue_on(due: date, grace_days: int) -> date:
    """The first day a review due on ``due`` is overdue."""
    return due + timedelta(days=grace_days + 1)
