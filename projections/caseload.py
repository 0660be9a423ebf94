"""The cases a month's movements (增减变动) look at, read a page at a time.

A case can be in effect on the month's first day or the next month's, as known at any time,
only if it starts by the next month's first day as the register stands now: a case's start only
ever moves earlier. Of those, a case ended before the month's first day as the register stands
now can count only if a decision recorded since the month began ended it (a termination
back-dated into or before the month): as known when the month began or ended, it may still have
been in effect. So the cases read are those that start by the next month's first day and either
are in effect on some day from the month's first on (no end, or an end on or after it), or had
a decision recorded after the month began (``cases.recorded_at``; a row written before it was
kept, NULL, is read too). Cases ended long before and untouched since are not read: the report
of a month is the same without them, and a province's years of ended cases cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from ledger.case import CaseState
from ledger.store import Database
from projections.registers import CASE_SELECT, case_state_from_row, recorded_text


def cases_that_can_count(
    db: Database,
    first: date,
    following: date,
    began: datetime | None,
    page: int = 5000,
) -> Iterator[list[tuple[CaseState, int]]]:
    """Pages of (case as it stands, aggregate version) for the cases a month's movements can
    count (see the module): those that start by ``following`` (the next month's first day)
    and are in effect on some day from ``first`` on, or were decided after ``began`` (the
    month's beginning as known then; None: as known now, no later decision to allow for). In
    case order (keyset pagination: bounded memory)."""
    since = "" if began is None else " OR recorded_at IS NULL OR recorded_at > ?"
    after = ""
    while True:
        params: list[object] = [following, first]
        if began is not None:
            params.append(recorded_text(began))
        rows = db.query(
            f"{CASE_SELECT} WHERE start_date <= ? "
            f"AND (effective_to IS NULL OR effective_to >= ?{since}) AND case_id > ? "
            f"ORDER BY case_id LIMIT {int(page)}",
            (*params, after),
        )
        if not rows:
            return
        yield [(case_state_from_row(r, db.sealer), int(r[2])) for r in rows]
        if len(rows) < page:
            return
        after = rows[-1][0]
