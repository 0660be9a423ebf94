"""One-off relief (临时救助) as pure rules: a grant is paid once, within limits.

``temporary`` is emergency aid: one ``one_off`` payment per grant (never monthly). The
program's ``max_per_grant`` caps a grant's amount (above it: refused by line); more than
``max_grants`` grants to one person within ``window_months`` raises ``temporary_repeat`` (a
finding, not a refusal: repeated emergencies happen, and a person must look).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from eligibility.reviews import add_months


@dataclass(frozen=True)
class Grant:
    grant_id: str
    program: str
    id_number: str
    amount: int
    decided_on: date


@dataclass(frozen=True)
class Repeat:
    """A grant that makes one person's grants within the window more than allowed."""

    grant_id: str
    id_number: str
    grants: int
    window_months: int
    allowed: int


def check_repeats(grants: Iterable[Grant], *, max_grants: int, window_months: int) -> list[Repeat]:
    """Each grant that is the (max_grants+1)th or later of one person within ``window_months``
    before it (its own day included)."""
    by_person: dict[str, list[Grant]] = defaultdict(list)
    for g in grants:
        by_person[g.id_number].append(g)
    out = []
    for person, theirs in by_person.items():
        theirs.sort(key=lambda g: (g.decided_on, g.grant_id))
        for i, g in enumerate(theirs):
            since = add_months(g.decided_on, -window_months)
            within = [x for x in theirs[: i + 1] if x.decided_on > since]
            if len(within) > max_grants:
                out.append(Repeat(g.grant_id, person, len(within), window_months, max_grants))
    return out
