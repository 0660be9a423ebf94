"""Households as recorded, and the one home of their SQL.

``household_members``: one row per member of a case's household (as its file's latest row
said it, with its aggregate version and source). `persons_of_cases` is what every check asks
for "the persons of a case on a day": its holder (the case's ``id_number``) and the members in
effect then (`eligibility.households.people_of`). Interest (回避), duplicates, deaths, the size
of a household and data comparison all read them through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, ClassVar

from eligibility.households import Member, people_of
from ledger.events import LedgerEvent
from ledger.household import HouseholdMember, HouseholdRow
from ledger.store import Database, Tx, as_date, param_chunks
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
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])
        tx.executemany(
            f"INSERT INTO household_members ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_COLUMNS))}) "
            f"ON CONFLICT (case_id, member_id_number) DO UPDATE SET {updates}",
            list(latest.values()),
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
    return [_row(v) for v in db.query(_SELECT)]


def members_of(db: Database, case_ids: Sequence[str]) -> list[Member]:
    """The recorded members of the given cases, whatever their dates (a query per 500)."""
    out: list[Member] = []
    for chunk in param_chunks(list(case_ids)):
        marks = ", ".join("?" * len(chunk))
        out += [_member(_row(v)) for v in db.query(f"{_SELECT} WHERE case_id IN ({marks})", chunk)]
    return out


def all_members(db: Database) -> list[Member]:
    """Every recorded member of every case."""
    return [_member(row) for row in stored_members(db)]


def case_regions(db: Database, case_ids: Sequence[str]) -> dict[str, str]:
    """The region of each of the given cases that is recorded."""
    out: dict[str, str] = {}
    for chunk in param_chunks(list(case_ids)):
        marks = ", ".join("?" * len(chunk))
        out.update(
            db.query(f"SELECT case_id, region_code FROM cases WHERE case_id IN ({marks})", chunk)
        )
    return out


def persons_of_cases(db: Database, case_ids: Sequence[str], day: date) -> dict[str, frozenset[str]]:
    """The persons of each case on ``day``: its holder and the members in effect then.

    The one answer to "whom does this case concern" that interest, duplicate, death and
    comparison checks share (cases not recorded are left out)."""
    holders: dict[str, str] = {}
    for chunk in param_chunks(list(case_ids)):
        marks = ", ".join("?" * len(chunk))
        holders.update(
            db.query(f"SELECT case_id, id_number FROM cases WHERE case_id IN ({marks})", chunk)
        )
    members = members_of(db, list(holders))
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
    return rows
