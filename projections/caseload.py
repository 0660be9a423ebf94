"""The cases a month's movements (增减变动) look at, read a page at a time.

A case can be in effect on the next month's first day, as known at any time, only if it starts
by then as the register stands now: a case's start only ever moves earlier. Its end may have
been later as known then than it is now (a termination recorded since), so ended cases are read
too: the report of a month must not change when it is run again later.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from ledger.case import CaseState
from ledger.store import Database
from projections.registers import CASE_SELECT, case_state_from_row


def cases_starting_by(
    db: Database, following: date, page: int = 5000
) -> Iterator[list[tuple[CaseState, int]]]:
    """Pages of (case as it stands, aggregate version) for the cases that start by
    ``following``, in case order (keyset pagination: bounded memory)."""
    after = ""
    while True:
        rows = db.query(
            f"{CASE_SELECT} WHERE start_date <= ? AND case_id > ? "
            f"ORDER BY case_id LIMIT {int(page)}",
            (following, after),
        )
        if not rows:
            return
        yield [(case_state_from_row(r, db.sealer), int(r[2])) for r in rows]
        if len(rows) < page:
            return
        after = rows[-1][0]
