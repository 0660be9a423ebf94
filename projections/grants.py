"""The grants of one-off relief (临时救助) as recorded, and the one home of their SQL.

``grants``: one row per grant (as its file's row said it, with its aggregate version and
source). Imports read it to tell a new grant from one recorded before; `payout prepare` reads
which grants no standing payment pays yet, and each grantee's earlier grants (repeats).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ledger.events import LedgerEvent
from ledger.grant import GRANT_COLUMNS, GrantRow, ReliefGrant
from ledger.ids import county_of
from ledger.period import Period
from ledger.sealing import CLEAR, Sealer
from ledger.store import Database, Tx, as_date, rows_where_in
from projections.payouts import standing
from projections.runner import ReadModel

_TABLE_COLUMNS = ("grant_id", "aggregate_id", "version", *GRANT_COLUMNS[1:], "county", "source")
_SELECT = f"SELECT {', '.join(f'g.{c}' for c in GRANT_COLUMNS)} FROM grants g"


#: The personal values of a grant (sealed with a key: `ledger.sealing`).
_PERSONAL = ("name", "id_number", "bank_account", "account_name")


def _row(values: Sequence[Any], sealer: Sealer = CLEAR) -> GrantRow:
    v = dict(zip(GRANT_COLUMNS, values, strict=True))
    if sealer.on:
        for c in _PERSONAL:
            v[c] = sealer.open(v[c])
    v["household_size"] = int(v["household_size"])
    v["amount"] = int(v["amount"])
    v["decided_on"] = as_date(v["decided_on"])
    return GrantRow(**v)


class GrantsModel(ReadModel):
    """``grants``: every grant of one-off relief as recorded."""

    name: ClassVar[str] = "grants"
    tables: ClassVar[tuple[str, ...]] = ("grants",)
    topics: ClassVar[frozenset[str]] = frozenset({ReliefGrant.Approved.TOPIC})

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        # A grant has one event: each row is written once (the runner applies an event once).
        rows = [
            (
                e.grant_id,
                str(e.originator_id),
                e.originator_version,
                *(getattr(e, c) for c in GRANT_COLUMNS[1:]),
                county_of(e.region_code),
                e.source,
            )
            for e in events
            if isinstance(e, ReliefGrant.Approved)
        ]
        personal = tuple(_TABLE_COLUMNS.index(c) for c in _PERSONAL)
        tx.copy_rows("grants", _TABLE_COLUMNS, tx.sealer.seal_rows(rows, personal))


def load_grants(db: Database, grant_ids: Sequence[str]) -> dict[str, GrantRow]:
    """The recorded grants among ``grant_ids`` (a query per 500 ids)."""
    out: dict[str, GrantRow] = {}
    for values in rows_where_in(db, _SELECT, "g.grant_id", grant_ids):
        row = _row(values, db.sealer)
        out[row.grant_id] = row
    return out


def grants_unpaid(
    db: Database, programs: Sequence[str], run_id: str, period: Period
) -> list[GrantRow]:
    """Grants of ``programs`` decided by the end of ``period`` that no standing ``one_off``
    payment of another run than ``run_id`` pays (cancelled payments and runs do not stand),
    by grant_id."""
    if not programs:
        return []
    marks = ", ".join("?" * len(programs))
    rows = db.query(
        f"{_SELECT} WHERE g.program IN ({marks}) AND g.decided_on <= ? AND NOT EXISTS ("
        "SELECT 1 FROM payments p WHERE p.case_id = g.grant_id AND p.kind = 'one_off' "
        f"AND p.run_id <> ? AND {standing('p.')}) ORDER BY g.grant_id",
        (*programs, period.last_day, run_id),
    )
    return [_row(r, db.sealer) for r in rows]


def grants_of_people(db: Database, id_numbers: Sequence[str]) -> list[GrantRow]:
    """Every grant recorded for these people (their repeats are judged on all of them)."""
    sealed = db.sealer.seal_all(id_numbers)
    return [_row(r, db.sealer) for r in rows_where_in(db, _SELECT, "g.id_number", sealed)]


def grants_outside(db: Database, programs: Sequence[str], region: str) -> int:
    """How many grants of ``programs`` are outside the region prefix ``region``."""
    if not programs:
        return 0
    marks = ", ".join("?" * len(programs))
    return int(
        db.query(
            f"SELECT COUNT(*) FROM grants WHERE program IN ({marks}) "
            "AND substr(region_code, 1, ?) <> ?",
            (*programs, len(region), region),
        )[0][0]
    )
