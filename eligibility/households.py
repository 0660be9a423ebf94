"""Households (家庭成员): who belongs to a case's household, from when to when. Pure rules.

低保 is a household's entitlement, but a cases file names only the holder. A households file
(`case_id, member_id_number, member_name, relation, from, to`) names every member; the members
in effect count for interest (a staff member's relative in the household), for duplicates (a
member also relieved in another case) and for comparison with other departments, and the
case's ``household_size`` is checked against them (``household_size_mismatch``: a finding, not
a refusal — the size may be right and the members file late).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

RELATIONS = ("head", "spouse", "child", "parent", "other")


@dataclass(frozen=True)
class Member:
    """One member of one case's household, in effect from ``start`` to ``end`` (inclusive)."""

    case_id: str
    id_number: str
    name: str
    relation: str
    start: date
    end: date | None = None

    def in_effect_on(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class SizeMismatch:
    """A case whose ``household_size`` differs from its members in effect on a day."""

    case_id: str
    household_size: int
    members: int
    day: date

    @property
    def detail(self) -> str:
        return (
            f"household_size {self.household_size}, but {self.members} member(s) in effect "
            f"on {self.day.isoformat()} in the households register"
        )


def members_on(members: Iterable[Member], day: date) -> dict[str, list[Member]]:
    """The members in effect on ``day``, by case."""
    out: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        if m.in_effect_on(day):
            out[m.case_id].append(m)
    return out


def check_household_size(
    sizes: Mapping[str, int], members: Iterable[Member], day: date
) -> list[SizeMismatch]:
    """Cases with a households register whose size is not its members in effect on ``day``
    (a case with no members registered is not checked: nothing is known of it)."""
    members = list(members)
    registered = {m.case_id for m in members}
    present = members_on(members, day)
    return [
        SizeMismatch(case_id, sizes[case_id], len(present.get(case_id, [])), day)
        for case_id in sorted(registered)
        if case_id in sizes and sizes[case_id] != len(present.get(case_id, []))
    ]


def people_of(case_id: str, holder: str, members: Sequence[Member], day: date) -> frozenset[str]:
    """The id numbers an act on a case concerns on ``day``: its holder and the members then."""
    return frozenset(
        {holder, *(m.id_number for m in members if m.case_id == case_id and m.in_effect_on(day))}
    )


@dataclass(frozen=True)
class DeadMember:
    """A member in effect on a day whose death was reported before it."""

    case_id: str
    id_number: str
    died: date
    day: date


def check_dead_members(
    members: Iterable[Member], deaths: Mapping[str, date], day: date
) -> list[DeadMember]:
    """Members still in effect on ``day`` although reported dead before it (the household
    still counts them: its size, and the amount reckoned on it, are out of date)."""
    out = []
    for m in members:
        died = deaths.get(m.id_number)
        if died is not None and died < day and m.in_effect_on(day):
            out.append(DeadMember(m.case_id, m.id_number, died, day))
    return sorted(out, key=lambda d: (d.case_id, d.id_number))
