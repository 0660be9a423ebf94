"""Households as recorded, and the one home of their SQL.

``household_members``: one row per member of a case's household (as its file's latest row
said it, with its aggregate version and source). `persons_of_cases` is what every check asks
for "the persons of a case on a day": its holder (the case's ``id_number``) and the members in
effect then (`eligibility.households.people_of`). Interest (回避), duplicates, deaths, the size
of a household and data comparison all read them through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eligibility.households import Member, people_of
from ledger.events import LedgerEvent
from ledger.household import HouseholdMember, HouseholdRow
from ledger.store import Database, Tx, as_date, rows_where_in
from projections.runner import ReadModel

_COLUMNS = (
    "case_id",
    "member_id_number",
    "aggregate_id",
    "version",
    "member_name",
    "relation",
    "date_from",
    "date_to",
    "source",
)
_SELECT = (
    "SELECT case_id, member_id_number, member_name, relation, date_from, date_to "
    "FROM household_members"
)


class HouseholdsModel(ReadModel):
    """``household_members``: each member of each case's household, as last recorded."""

    name: ClassVar[str] = "households"
    tables: ClassVar[tuple[str, ...]] = ("household_members",)
    topics: ClassVar[frozenset[str]] = frozenset(
        {HouseholdMember.Joined.TOPIC, HouseholdMember.Changed.TOPIC}
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        latest: dict[tuple[str, str], tuple[Any, ...]] = {}
        for e in events:
            if isinstance(e, HouseholdMember.Joined | HouseholdMember.Changed):
                latest[(e.case_id, e.member_id_number)] = (
                    e.case_id,
                    e.member_id_number,
                    str(e.originator_id),
                    e.originator_version,
                    e.member_name,
                    e.relation,
                    e.start,
                    e.end,
                    e.source,
                )
        # A member's first event creates its row exactly once (the runner applies each event
        # once): those rows are bulk-copied; rows of members changed since are upserted.
        rows = tx.sealer.seal_rows(list(latest.values()), (1, 4))
        tx.copy_rows("household_members", _COLUMNS, [r for r in rows if r[3] == 1])
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])
        tx.executemany(
            f"INSERT INTO household_members ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_COLUMNS))}) "
            f"ON CONFLICT (case_id, member_id_number) DO UPDATE SET {updates}",
            [r for r in rows if r[3] != 1],
        )


def _row(values: Sequence[Any]) -> HouseholdRow:
    case_id, id_number, name, relation, start, end = values
    return HouseholdRow(case_id, id_number, name, relation, as_date(start), as_date(end))  # type: ignore[arg-type]


def _member(row: HouseholdRow) -> Member:
    return Member(
        row.case_id, row.member_id_number, row.member_name, row.relation, row.start, row.end
    )


def stored_members(db: Database) -> list[HouseholdRow]:
    """Every member recorded (an import decides new, changed or unchanged against them)."""
    return [_row(v) for v in db.sealer.open_rows(db.query(_SELECT), (1, 2))]


def members_of(db: Database, case_ids: Sequence[str]) -> list[Member]:
    """The recorded members of the given cases, whatever their dates (a query per 500)."""
    rows = list(rows_where_in(db, _SELECT, "case_id", case_ids))
    return [_member(_row(v)) for v in db.sealer.open_rows(rows, (1, 2))]


def all_members(db: Database) -> list[Member]:
    """Every recorded member of every case."""
    return [_member(row) for row in stored_members(db)]


def case_regions(db: Database, case_ids: Sequence[str]) -> dict[str, str]:
    """The region of each of the given cases that is recorded."""
    return dict(rows_where_in(db, "SELECT case_id, region_code FROM cases", "case_id", case_ids))


def persons_of_cases(db: Database, case_ids: Sequence[str], day: date) -> dict[str, frozenset[str]]:
    """The persons of each case on ``day``: its holder and the members in effect then.

    The one answer to "whom does this case concern" that interest, duplicate, death and
    comparison checks share (cases not recorded are left out)."""
    rows = list(rows_where_in(db, "SELECT case_id, id_number FROM cases", "case_id", case_ids))
    holders = dict(db.sealer.open_rows(rows, (1,)))
    return _persons(holders, members_of(db, list(holders)), day)


def persons_between(db: Database, low: str, high: str, day: date) -> dict[str, frozenset[str]]:
    """`persons_of_cases` of every case whose id is from ``low`` to ``high``: two queries of
    a range, where a list of ids takes a query per 500 (a comparison's chunk of 50,000 cases,
    two hundred)."""
    rows = db.query(
        "SELECT case_id, id_number FROM cases WHERE case_id BETWEEN ? AND ?", (low, high)
    )
    holders = dict(db.sealer.open_rows(rows, (1,)))
    rows = db.query(f"{_SELECT} WHERE case_id BETWEEN ? AND ?", (low, high))
    return _persons(holders, [_member(_row(v)) for v in db.sealer.open_rows(rows, (1, 2))], day)


def _persons(
    holders: dict[str, str], members: Sequence[Member], day: date
) -> dict[str, frozenset[str]]:
    by_case: dict[str, list[Member]] = {}
    for m in members:
        by_case.setdefault(m.case_id, []).append(m)
    return {
        case_id: people_of(case_id, holder, by_case.get(case_id, []), day)
        for case_id, holder in holders.items()
    }


def members_in_effect(db: Database, first: date, last: date) -> list[tuple[Any, ...]]:
    """Members in effect on some day from ``first`` to ``last`` of cases in effect then, with
    their case's facts: ``(case_id, program, region_code, member_id_number, bank_account,
    account_name, holder's id_number)``."""
    rows = db.query(
        "SELECT m.case_id, c.program, c.region_code, m.member_id_number, c.bank_account, "
        "c.account_name, c.id_number FROM household_members m JOIN cases c "
        "ON c.case_id = m.case_id WHERE m.date_from <= ? AND (m.date_to IS NULL OR "
        "m.date_to >= ?) AND c.start_date <= ? AND (c.effective_to IS NULL OR "
        "c.effective_to >= ?)",
        (last, first, last, first),
    )
    return db.sealer.open_rows(rows, (3, 4, 5, 6))


def people_sharing_a_member(db: Database, first: date, last: date) -> list[tuple[Any, ...]]:
    """The persons (holders and members in effect) of cases in effect from ``first`` to
    ``last`` whose id number is in two or more of those cases and is some household's member:
    ``(case_id, program, region_code, id_number, bank_account, account_name)``. What the
    duplicate check adds to the holders it already compares."""
    return db.sealer.open_rows(_people_sharing_a_member(db, first, last), (3, 4, 5))


def _people_sharing_a_member(db: Database, first: date, last: date) -> list[tuple[Any, ...]]:
    return db.query(
        "WITH live AS (SELECT case_id, program, region_code, id_number, bank_account, "
        "account_name FROM cases WHERE start_date <= ? AND (effective_to IS NULL OR "
        "effective_to >= ?)), people AS (SELECT * FROM live UNION SELECT l.case_id, "
        "l.program, l.region_code, m.member_id_number, l.bank_account, l.account_name "
        "FROM household_members m JOIN live l ON l.case_id = m.case_id WHERE "
        "m.date_from <= ? AND (m.date_to IS NULL OR m.date_to >= ?)) "
        "SELECT * FROM people WHERE id_number IN (SELECT id_number FROM people "
        "GROUP BY id_number HAVING MIN(case_id) <> MAX(case_id)) AND id_number IN "
        "(SELECT member_id_number FROM household_members)",
        (last, first, last, first),
    )


def households_in_effect(
    db: Database, first: date, last: date, page: int = 20_000
) -> Iterator[tuple[dict[str, tuple[int, str, str]], list[Member]]]:
    """Pages of the cases in effect from ``first`` to ``last`` that have members recorded:
    each case's household size, program and region, and those cases' members (every one,
    whatever their dates). In case order, a page at a time: a province's millions of members
    are never held at once."""
    after = ""
    while True:
        rows = db.query(
            "SELECT case_id, household_size, program, region_code FROM cases c "
            "WHERE start_date <= ? AND (effective_to IS NULL OR effective_to >= ?) "
            "AND case_id > ? AND EXISTS "
            "(SELECT 1 FROM household_members m WHERE m.case_id = c.case_id) "
            f"ORDER BY case_id LIMIT {int(page)}",
            (last, first, after),
        )
        if not rows:
            return
        cases = {str(c): (int(n), str(p), str(r)) for c, n, p, r in rows}
        yield cases, members_of(db, sorted(cases))
        after = rows[-1][0]


def held_by_findings(db: Database, types: Sequence[str]) -> list[tuple[str, str, str, str, str]]:
    """Findings about a case itself (no payment) of ``types`` that hold its payments, with the
    case's program: ``(case_id, program, type, finding_id, detail)``. An open one holds; so
    does one resolved as substantiated (``recovered``, ``referred``): its cause stands, and only
    a release pays the case. ``false_positive`` (the evidence was wrong) and ``corrected`` (the
    case was decided anew) let the next prepare pay."""
    if not types:
        return []
    marks = ", ".join("?" * len(types))
    return db.query(
        "SELECT f.case_id, c.program, f.type, f.finding_id, f.detail FROM findings f "
        "JOIN cases c ON c.case_id = f.case_id WHERE (f.status = 'open' OR "
        "f.resolution IN ('recovered', 'referred')) AND "
        f"f.payment_id IS NULL AND f.type IN ({marks}) ORDER BY f.case_id, f.type",
        list(types),
    )


def finding_holding_case(db: Database, case_id: str, type_: str) -> str | None:
    """The finding about the case itself (no payment) of ``type_`` that holds its payments:
    the open one, else the latest raised (resolved since the payment was held)."""
    rows = db.query(
        "SELECT finding_id FROM findings WHERE case_id = ? AND type = ? AND payment_id IS NULL "
        "ORDER BY CASE WHEN status = 'open' THEN 0 ELSE 1 END, raised_at DESC LIMIT 1",
        (case_id, type_),
    )
    return str(rows[0][0]) if rows else None


def has_members(db: Database) -> bool:
    """Whether any household member is recorded (an import asks no more when none is)."""
    return bool(db.query("SELECT 1 FROM household_members LIMIT 1"))


def members_of_cases(db: Database, aggregate_ids: Iterable[UUID]) -> dict[str, list[str]]:
    """The id numbers recorded as members of each of these cases (by their aggregates' ids),
    whatever their dates: who counts for interest (回避) in an act on the case."""
    out: dict[str, list[str]] = {}
    if not has_members(db):
        return out
    for case_id, id_number in rows_where_in(
        db,
        "SELECT m.case_id, m.member_id_number FROM household_members m "
        "JOIN cases c ON c.case_id = m.case_id",
        "c.aggregate_id",
        (str(a) for a in aggregate_ids),
    ):
        out.setdefault(case_id, []).append(db.sealer.open(id_number))
    return out
