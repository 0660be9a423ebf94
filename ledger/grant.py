"""One-off relief (临时救助): a grant, decided once and paid once.

A grant is its own small aggregate (one per ``grant_id``), recorded from a row of a grants
file (``aidledger import grants``). It is never monthly: the next payout run of its program
pays it as one ``one_off`` payment (`disbursement.runs`), whose id is derived from the grant,
so no prepare, re-prepare or cancelled run can pay it twice. A recorded grant is not changed
by a later file: a row for it with other values is refused (a new decision is a new grant).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from itertools import islice
from typing import TYPE_CHECKING, ClassVar, Self, cast
from uuid import UUID

from ledger.case import CaseRow
from ledger.errors import Problem, ProblemSink
from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id


@dataclass(frozen=True, slots=True)
class GrantRow:
    """One validated row of a grants file: one grant of one-off relief."""

    grant_id: str
    program: str
    region_code: str
    name: str
    id_number: str
    household_size: int
    amount: int  # fen
    decided_on: date
    reason: str
    bank_account: str
    account_name: str
    decided_by: str
    approved_by: str

    def as_decision(self) -> CaseRow:
        """The grant as the case decision whose duties it has: decided by a caseworker and
        approved by an approver on ``decided_on``, in region, neither with an interest."""
        return CaseRow(
            self.grant_id,
            self.program,
            self.region_code,
            self.name,
            self.id_number,
            self.household_size,
            self.amount,
            self.decided_on,
            self.decided_on,
            self.bank_account,
            self.account_name,
            self.decided_by,
            self.approved_by,
        )


#: The fields of a grants file, in their documented order.
GRANT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(GrantRow))


def grant_aggregate_id(grant_id: str) -> UUID:
    """The aggregate id of a grant: derived from its grant_id, never stored separately."""
    return derived_id("grant", grant_id)


class ReliefGrant(LedgerAggregate):
    """A grant of one-off relief, as decided and approved."""

    class Approved(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.GrantApproved"
        grant_id: str
        program: str
        region_code: str
        name: str
        id_number: str
        household_size: int
        amount: int
        decided_on: date
        reason: str
        bank_account: str
        account_name: str
        decided_by: str
        approved_by: str
        source: str = ""

        def apply(self, aggregate: ReliefGrant) -> None:
            aggregate.approved = self

        def as_row(self) -> GrantRow:
            return GrantRow(*(getattr(self, name) for name in GRANT_COLUMNS))

    if TYPE_CHECKING:
        approved: ReliefGrant.Approved

    @classmethod
    def approve(cls, row: GrantRow, *, by: str, source: str) -> Self:
        """Record a grant from its validated row (``source``: the file and line)."""
        event = cls.first_event(
            cls.Approved,
            grant_aggregate_id(row.grant_id),
            by=by,
            source=source,
            **{n: getattr(row, n) for n in GRANT_COLUMNS},
        )
        grant = cast(Self, event.mutate(None))
        grant.pending_events.append(event)
        return grant


register_event_topics(ReliefGrant, "aidledger.ReliefGrant")


def recorded_differently(
    rows: Iterable[tuple[int, GrantRow]], stored: Mapping[str, GrantRow]
) -> list[Problem]:
    """Rows for a grant already recorded with other values: a grant is decided once (the same
    row again changes nothing; a new decision is a new grant with its own grant_id)."""
    problems = []
    for line, row in rows:
        known = stored.get(row.grant_id)
        if known is not None and known != row:
            changed = [f for f in GRANT_COLUMNS if getattr(known, f) != getattr(row, f)]
            problems.append(
                Problem(
                    line,
                    "grant_id",
                    f"grant {row.grant_id} was recorded already with other values "
                    f"({', '.join(changed)}): a grant is decided once and paid once; a new "
                    "decision needs a new grant_id",
                    row.grant_id,
                )
            )
    return problems


def named_as_cases(rows: Iterable[tuple[int, GrantRow]], cases: Collection[str]) -> list[Problem]:
    """Rows whose grant_id is a case's id: a case's history and money would mix with the
    grant's."""
    return [
        Problem(
            line,
            "grant_id",
            f"{row.grant_id} is a case's id: a grant needs an id of its own",
            row.grant_id,
        )
        for line, row in rows
        if row.grant_id in cases
    ]


#: Rows compared at a time with the grants as recorded.
CHUNK = 5000


def against_the_recorded(
    rows: Iterable[tuple[int, GrantRow]],
    load: Callable[[Sequence[str]], Mapping[str, GrantRow]],
    problems: ProblemSink,
    cases: Callable[[Sequence[str]], Collection[str]] = lambda ids: (),
) -> Iterator[tuple[int, GrantRow]]:
    """The rows, each chunk checked against the grants recorded (``load`` reads them by id)
    and the cases' ids (``cases`` says which of some ids are cases'); problems go to
    ``problems`` as they are found."""
    it = iter(rows)
    while chunk := list(islice(it, CHUNK)):
        ids = sorted({r.grant_id for _, r in chunk})
        for problem in [
            *recorded_differently(chunk, load(ids)),
            *named_as_cases(chunk, cases(ids)),
        ]:
            problems.append(problem)
        yield from chunk
