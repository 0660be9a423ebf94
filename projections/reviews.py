"""Periodic reviews as recorded, and the one home of their SQL.

- ``reviews``: one row per review (``aidledger import reviews``), with who recorded it and the
  line it came from. Imports read it to tell a line recorded before from a new one; ``case
  history`` finds a case's reviews through it.
- ``last_reviews``: each reviewed case's latest review day and the months it set before the
  next (empty: the program's). What falls due when (`eligibility.reviews`) is computed from it
  and the cases, with the config in force, never stored: a new config changes it at once.

`review_scan` reads the cases that can be due on a day, a page at a time in case order, so a
province is scanned in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, ClassVar

from ledger.events import LedgerEvent
from ledger.review import CaseReview, ReviewRow
from ledger.store import Database, Tx, as_date, rows_where_in
from projections.runner import ReadModel

_REVIEW_COLUMNS = (
    "review_id",
    "case_id",
    "reviewed_on",
    "program",
    "region_code",
    "reviewer",
    "outcome",
    "monthly_amount",
    "effective_from",
    "next_review_months",
    "recorded_by",
    "recorded_at",
    "source",
)


class ReviewsModel(ReadModel):
    """``reviews`` and ``last_reviews``."""

    name: ClassVar[str] = "reviews"
    tables: ClassVar[tuple[str, ...]] = ("reviews", "last_reviews")
    topics: ClassVar[frozenset[str]] = frozenset({CaseReview.Recorded.TOPIC})

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        recorded = [e for e in events if isinstance(e, CaseReview.Recorded)]
        if not recorded:
            return
        # A review has one event: each row is written once (the runner applies an event once).
        tx.copy_rows(
            "reviews",
            _REVIEW_COLUMNS,
            [
                (
                    str(e.originator_id),
                    e.case_id,
                    e.reviewed_on,
                    e.program,
                    e.region_code,
                    e.reviewer,
                    e.outcome,
                    e.monthly_amount,
                    e.effective_from,
                    e.next_review_months,
                    e.by,
                    e.timestamp.isoformat(),
                    e.source,
                )
                for e in recorded
            ],
        )
        latest: dict[str, CaseReview.Recorded] = {}
        for e in recorded:
            was = latest.get(e.case_id)
            if was is None or e.reviewed_on >= was.reviewed_on:
                latest[e.case_id] = e
        # The latest of a case wins, whatever order the reviews were recorded in.
        tx.executemany(
            "INSERT INTO last_reviews (case_id, reviewed_on, next_review_months) "
            "VALUES (?, ?, ?) ON CONFLICT (case_id) DO UPDATE SET "
            "reviewed_on = excluded.reviewed_on, next_review_months = excluded.next_review_months "
            "WHERE excluded.reviewed_on >= last_reviews.reviewed_on",
            [(e.case_id, e.reviewed_on, e.next_review_months) for e in latest.values()],
        )


def recorded_reviews(db: Database, case_ids: Sequence[str]) -> dict[str, list[ReviewRow]]:
    """The reviews recorded of each of ``case_ids``, in day order (a query per 500 ids)."""
    out: dict[str, list[ReviewRow]] = {}
    for case_id, day, reviewer, outcome, amount, eff, months in rows_where_in(
        db,
        "SELECT case_id, reviewed_on, reviewer, outcome, monthly_amount, effective_from, "
        "next_review_months FROM reviews",
        "case_id",
        case_ids,
        "ORDER BY case_id, reviewed_on",
    ):
        out.setdefault(case_id, []).append(
            ReviewRow(
                case_id,
                _day(day),
                reviewer,
                outcome,
                None if amount is None else int(amount),
                as_date(eff),
                None if months is None else int(months),
            )
        )
    return out


def review_ids_of_case(db: Database, case_id: str) -> list[str]:
    """The aggregate ids of a case's reviews, in day order."""
    return [
        str(r[0])
        for r in db.query(
            "SELECT review_id FROM reviews WHERE case_id = ? ORDER BY reviewed_on", (case_id,)
        )
    ]


def has_reviews(db: Database) -> bool:
    return bool(db.query("SELECT 1 FROM reviews LIMIT 1"))


#: A case as the review scan reads it: id, program, region, start, last day (or None), last
#: review (or None), months that review set (or None).
ScanRow = tuple[str, str, str, date, date | None, date | None, int | None]


def review_scan(
    db: Database,
    *,
    in_effect_on: date,
    basis_until: date,
    page: int = 5000,
) -> Iterator[list[ScanRow]]:
    """Pages of the cases in effect on ``in_effect_on`` that may be due by then: those last
    reviewed on or before ``basis_until``, and those never reviewed that started on or before
    it. In case order (keyset pagination): bounded memory whatever the register's size."""
    after = ""
    while True:
        rows = db.query(
            "SELECT c.case_id, c.program, c.region_code, c.start_date, c.effective_to, "
            "lr.reviewed_on, lr.next_review_months FROM cases c "
            "LEFT JOIN last_reviews lr ON lr.case_id = c.case_id "
            "WHERE c.start_date <= ? AND (c.effective_to IS NULL OR c.effective_to >= ?) "
            "AND c.case_id > ? AND (lr.reviewed_on <= ? OR "
            "(lr.case_id IS NULL AND c.start_date <= ?)) "
            f"ORDER BY c.case_id LIMIT {int(page)}",
            (in_effect_on, in_effect_on, after, basis_until, basis_until),
        )
        if not rows:
            return
        yield [
            (
                case_id,
                program,
                region,
                _day(start),
                as_date(end),
                as_date(last),
                None if months is None else int(months),
            )
            for case_id, program, region, start, end, last, months in rows
        ]
        if len(rows) < page:
            return
        after = rows[-1][0]


def last_review_of(db: Database, case_id: str) -> tuple[date | None, int | None]:
    """A case's last review day and the months it set (None, None: never reviewed)."""
    rows = db.query(
        "SELECT reviewed_on, next_review_months FROM last_reviews WHERE case_id = ?", (case_id,)
    )
    if not rows:
        return None, None
    day, months = rows[0]
    return as_date(day), None if months is None else int(months)


def first_config_day(db: Database) -> date | None:
    """The day the store began: when its first programs config was recorded (``init``)."""
    rows = db.query("SELECT MIN(recorded_at) FROM config_versions")
    if not rows or rows[0][0] is None:
        return None
    return date.fromisoformat(str(rows[0][0])[:10])


def _day(value: Any) -> date:
    day = as_date(value)
    if day is None:
        raise ValueError("a review's day is never empty")
    return day
