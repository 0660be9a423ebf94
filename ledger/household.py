"""Households (家庭成员): the members of each case's household, from when to when.

A households file (``case_id, member_id_number, member_name, relation, from, to``) is recorded
as one small aggregate per member of a case (`HouseholdMember`, id derived from the case and
the member's id number), as staff members' relatives are: an import writes new members without
loading anything, a changed row (a member who left: ``to`` set; a corrected name or relation)
is one event on that member, and an identical row records nothing. One aggregate per household
would have to be loaded and saved whole for each changed member, and would grow with every
change of a large household; members are what the checks look up one by one (by id number).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, ClassVar, Self
from uuid import UUID

from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id

#: The relations a households file may name.
RELATIONS = ("head", "spouse", "child", "parent", "other")

#: The columns of a households file (``from``/``to``: the member's first and last day).
HOUSEHOLD_COLUMNS: tuple[str, ...] = (
    "case_id",
    "member_id_number",
    "member_name",
    "relation",
    "from",
    "to",
)


@dataclass(frozen=True)
class HouseholdRow:
    """One validated row of a households file."""

    case_id: str
    member_id_number: str
    member_name: str
    relation: str
    start: date
    end: date | None = None


def household_member_aggregate_id(case_id: str, member_id_number: str) -> UUID:
    return derived_id("household_member", case_id, member_id_number)


class HouseholdMember(LedgerAggregate):
    """One person as a member of one case's household, in effect from ``start`` to ``end``."""

    class Joined(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.HouseholdMemberJoined"
        case_id: str
        member_id_number: str
        member_name: str
        relation: str
        start: date
        end: date | None = None
        source: str = ""

        def apply(self, aggregate: HouseholdMember) -> None:
            aggregate.row = _row_of(self)

    class Changed(LedgerAggregate.Event):
        """New details or dates of the member (``end`` set: the member left the household)."""

        TOPIC: ClassVar[str] = "aidledger.HouseholdMemberChanged"
        case_id: str
        member_id_number: str
        member_name: str
        relation: str
        start: date
        end: date | None = None
        source: str = ""

        def apply(self, aggregate: HouseholdMember) -> None:
            aggregate.row = _row_of(self)

    if TYPE_CHECKING:
        row: HouseholdRow

    @classmethod
    def join(cls, row: HouseholdRow, *, by: str, source: str) -> Self:
        return cls._create(
            cls.Joined,
            id=household_member_aggregate_id(row.case_id, row.member_id_number),
            by=by,
            source=source,
            **_fields(row),
        )

    @classmethod
    def joining(cls, row: HouseholdRow, *, by: str, source: str) -> HouseholdMember.Joined:
        """The event that records a new member, without building the aggregate (for bulk
        imports): exactly the event :meth:`join` records."""
        return cls.first_event(
            cls.Joined,
            household_member_aggregate_id(row.case_id, row.member_id_number),
            by=by,
            source=source,
            **_fields(row),
        )

    def change(self, row: HouseholdRow, *, by: str, source: str) -> bool:
        """Record the row's values; False (nothing recorded) when they are the member's now."""
        if row == self.row:
            return False
        self.trigger_event(self.Changed, by=by, source=source, **_fields(row))
        return True


def _fields(row: HouseholdRow) -> dict[str, object]:
    return {
        "case_id": row.case_id,
        "member_id_number": row.member_id_number,
        "member_name": row.member_name,
        "relation": row.relation,
        "start": row.start,
        "end": row.end,
    }


def _row_of(e: HouseholdMember.Joined | HouseholdMember.Changed) -> HouseholdRow:
    return HouseholdRow(e.case_id, e.member_id_number, e.member_name, e.relation, e.start, e.end)


register_event_topics(HouseholdMember, "aidledger.HouseholdMember")
