"""The cases a month's movements (增减变动) look at, read a page at a time.

A case can move in month P only if it may be in effect on P's first day or on the next
month's: started by the later, not ended before the earlier, as the register stands.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from ledger.case import CaseState
from ledger.store import Database
from projections.registers import CASE_SELECT, case_state_from_row


def cases_around(
    db: Database, first: date, following: date, page: int = 5000
) -> Iterator[list[tuple[CaseState, int]]]:
    """Pages of (case as it stands, aggregate version) for the cases that may be in effect on
    ``first`` or ``following``, in case order (keyset pagination: bounded memory)."""
    after = ""
    while True:
        rows = db.query(
            f"{CASE_SELECT} WHERE start_date <= ? AND (effective_to IS NULL OR effective_to >= ?) "
            f"AND case_id > ? ORDER BY case_id LIMIT {int(page)}",
            (following, first, after),
        )
        if not rows:
            return
        yield [(case_state_from_row(r), int(r[2])) for r in rows]
        if len(rows) < page:
            return
        after = rows[-1][0]
