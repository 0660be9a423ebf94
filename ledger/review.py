"""Periodic reviews of cases (定期核查) as events, and the lines of a reviews file.

A review is its own small aggregate, `CaseReview`, its id derived from the case and the day
of the review: the same line imported again finds it and records nothing. Its one event,
`CaseReview.Recorded`, says who reviewed the case on which day, the outcome (``continue``,
``adjust`` or ``terminate``), the new monthly amount and from when (``adjust``), the first day
without assistance (``terminate``), and after how many months the next review falls due
(empty: the program's ``review_months``).

A review that adjusts or terminates also changes the case itself: the import records a
`Case.MonthlyAmountChanged` or `Case.Terminated` on the case, decided by the reviewer and
approved by whoever recorded the file, like any decision, so the next payout run pays the
arrears or raises the recoveries it makes. When a case falls due is the pure rule of
`eligibility.reviews`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import TYPE_CHECKING, ClassVar, Self, cast
from uuid import UUID

from ledger.csvfile import CsvRow
from ledger.errors import InvalidValue, ProblemSink
from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id, parse_staff_id
from ledger.money import parse_fen
from ledger.period import parse_date
from ledger.programs import ProgramsConfig
from ledger.validation import _case_id, _RowChecker

#: What a review may decide.
OUTCOMES = ("continue", "adjust", "terminate")
#: The finding a review overdue raises (and a recorded review closes).
OVERDUE_FINDING = "review_overdue"
#: The longest interval a review may set before the next one.
MAX_REVIEW_MONTHS = 60


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


def next_review_due(start: date, last_review: date | None, months: int, since: date | None) -> date:
    """When a case falls due: ``months`` after its last review; never reviewed, on the first
    anniversary of its start (every ``months``) on or after the day reviews began here
    (``since``). Cases taken over from an earlier system thus fall due across the first cycle,
    each on its own anniversary, not all on one day."""
    if last_review is not None:
        return add_months(last_review, months)
    first = add_months(start, months)
    if since is None or first >= since:
        return first
    k = max(1, ((since.year - start.year) * 12 + since.month - start.month) // months)
    due = add_months(start, k * months)
    while due < since:
        k += 1
        due = add_months(start, k * months)
    return due


def overdue_on(due: date, grace_days: int) -> date:
    """The first day a review due on ``due`` is overdue."""
    return due + timedelta(days=grace_days + 1)


@dataclass(frozen=True)
class ReviewTerms:
    """The config's review rules as the due rule takes them: each program's months, the grace,
    the day reviews began here, and whether overdue cases' payments are held."""

    months: Mapping[str, int]
    grace_days: int
    since: date | None
    suspend: bool = False

    @classmethod
    def of(cls, config: ProgramsConfig, store_began: date | None) -> ReviewTerms:
        """From a programs config; ``store_began``: the day the store was created (its first
        config recorded), when ``[reviews] from`` does not say."""
        r = config.reviews
        return cls(
            {code: p.review_months for code, p in config.programs.items() if not p.one_off},
            r.review_grace_days,
            r.adopted_from or store_began,
            r.suspend_when_overdue,
        )

    def months_for(self, program: str, set_months: int | None) -> int | None:
        """The months to a case's next review: as its last review set, else its program's
        (None: the program is not reviewed, e.g. one-off relief)."""
        if program not in self.months:
            return None
        return set_months or self.months[program]

    def due_of(
        self, program: str, start: date, last_review: date | None, set_months: int | None
    ) -> date | None:
        """When a case of ``program`` falls due (None: not reviewed)."""
        months = self.months_for(program, set_months)
        if months is None:
            return None
        return next_review_due(start, last_review, months, self.since)


#: A day (the row's own ``date`` field would hide the type inside its class).
Day = date


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One validated line of a reviews file."""

    case_id: str
    date: Day
    reviewer: str
    outcome: str
    monthly_amount: int | None  # fen; adjust only
    effective_from: Day | None  # adjust: the new amount's first day; terminate: first day without
    next_review_months: int | None  # None: the program's review_months


#: The columns of a reviews file, in their documented order.
REVIEW_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ReviewRow))


def review_aggregate_id(case_id: str, day: date) -> UUID:
    """The aggregate id of a case's review on ``day`` (one review of a case a day)."""
    return derived_id("review", case_id, day.isoformat())


class CaseReview(LedgerAggregate):
    """One periodic review of one case."""

    class Recorded(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.CaseReviewRecorded"
        case_id: str
        program: str
        region_code: str
        reviewed_on: date
        reviewer: str
        outcome: str
        monthly_amount: int | None = None
        effective_from: date | None = None
        next_review_months: int | None = None
        source: str = ""

        def apply(self, aggregate: CaseReview) -> None:
            aggregate.recorded = self

        def as_row(self) -> ReviewRow:
            return ReviewRow(
                self.case_id,
                self.reviewed_on,
                self.reviewer,
                self.outcome,
                self.monthly_amount,
                self.effective_from,
                self.next_review_months,
            )

    if TYPE_CHECKING:
        recorded: CaseReview.Recorded

    @classmethod
    def record(
        cls, row: ReviewRow, *, program: str, region_code: str, by: str, source: str
    ) -> Self:
        """Record a review from its checked line (``source``: the file and line)."""
        event = cls.first_event(
            cls.Recorded,
            review_aggregate_id(row.case_id, row.date),
            by=by,
            source=source,
            case_id=row.case_id,
            program=program,
            region_code=region_code,
            reviewed_on=row.date,
            reviewer=row.reviewer,
            outcome=row.outcome,
            monthly_amount=row.monthly_amount,
            effective_from=row.effective_from,
            next_review_months=row.next_review_months,
        )
        review = cast(Self, event.mutate(None))
        review.pending_events.append(event)
        return review


register_event_topics(CaseReview, "aidledger.CaseReview")


def _outcome(raw: str) -> str:
    if raw not in OUTCOMES:
        raise InvalidValue(f"outcome must be one of {', '.join(OUTCOMES)}")
    return raw


def _optional_amount(raw: str) -> int | None:
    if not raw:
        return None
    fen = parse_fen(raw)
    if fen <= 0:
        raise InvalidValue("monthly_amount must be above 0.00")
    return fen


def _optional_day(raw: str) -> date | None:
    return parse_date(raw) if raw else None


def _months(raw: str) -> int | None:
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_REVIEW_MONTHS:
        raise InvalidValue(
            f"next_review_months must be a whole number from 1 to {MAX_REVIEW_MONTHS} "
            "(empty: the program's review_months)"
        )
    return int(raw)


def review_rows(
    rows: Iterable[CsvRow], today: date, problems: ProblemSink
) -> Iterator[tuple[int, ReviewRow]]:
    """Each good line of a reviews file, typed, with its line number; every problem of a value
    (or of values that go together) goes to ``problems``. Whether the case, the reviewer and
    the importer allow it is `eligibility.reviews`' to say."""
    for row in rows:
        c = _RowChecker(row, problems)
        day = c.value("date", parse_date, today)
        if day > today:
            c.fail("date", f"is after today ({today.isoformat()}): a review is recorded once made")
        outcome = c.value("outcome", _outcome, "")
        amount = c.value("monthly_amount", _optional_amount, None)
        effective = c.value("effective_from", _optional_day, None)
        review = ReviewRow(
            case_id=c.value("case_id", _case_id, ""),
            date=day,
            reviewer=c.value("reviewer", parse_staff_id, ""),
            outcome=outcome,
            monthly_amount=amount,
            effective_from=effective,
            next_review_months=c.value("next_review_months", _months, None),
        )
        if c.ok:
            for column, reason in terms_problems(review):
                c.fail(column, reason)
        if c.ok:
            yield row.line, review


def terms_problems(row: ReviewRow) -> list[tuple[str, str]]:
    """What an outcome needs of the other columns: an adjustment its new amount and first day,
    a termination its first day without, a continuation neither."""
    out = []
    amount, eff = row.monthly_amount is not None, row.effective_from is not None
    if row.outcome == "adjust":
        if not amount:
            out.append(("monthly_amount", "is empty: an adjust review gives the new amount"))
        if not eff:
            out.append(("effective_from", "is empty: an adjust review gives its first day"))
    elif row.outcome == "terminate":
        if amount:
            out.append(("monthly_amount", "is given: a terminate review ends the case (empty)"))
        if not eff:
            out.append(
                ("effective_from", "is empty: a terminate review gives the first day without")
            )
    elif row.outcome == "continue":
        for column, given in (("monthly_amount", amount), ("effective_from", eff)):
            if given:
                out.append((column, "is given: a continue review changes nothing (or adjust)"))
    return out
