"""A case: one household's (or person's) entitlement to one program, and its decisions.

Decisions take effect from a date (``effective_from``) and are recorded at a time
(``timestamp``). Replaying the events in recorded order gives what we know now; replaying
only those in force on a date gives the case as it stood then (see :func:`state_as_of`).

Semantics of ``effective_to``: the last day the case is in effect (inclusive); empty means
open-ended. A case is in effect on day D when ``start <= D <= effective_to``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, ClassVar, Self, cast
from uuid import UUID

from ledger.errors import AidLedgerError
from ledger.events import LedgerAggregate, LedgerEvent, register_event_topics
from ledger.ids import derived_id


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One validated row of a cases file: one decision on one case."""

    case_id: str
    program: str
    region_code: str
    name: str
    id_number: str
    household_size: int
    monthly_amount: int  # fen
    effective_from: date
    effective_to: date | None
    bank_account: str
    account_name: str
    decided_by: str
    approved_by: str


#: The fields of a cases file, in their documented order.
CASE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CaseRow))


@dataclass
class CaseState:
    """A case's fields as in the cases file, plus the first day it is in effect (``start``)."""

    case_id: str
    program: str
    region_code: str
    name: str
    id_number: str
    household_size: int
    monthly_amount: int
    effective_from: date  # the latest decision's effective date, as in the last row
    effective_to: date | None
    bank_account: str
    account_name: str
    decided_by: str
    approved_by: str
    start: date

    def in_effect_on(self, day: date) -> bool:
        return self.start <= day and (self.effective_to is None or day <= self.effective_to)

    def as_row(self) -> CaseRow:
        return CaseRow(**{name: getattr(self, name) for name in CASE_COLUMNS})


def case_aggregate_id(case_id: str) -> UUID:
    """The aggregate id of a case: derived from its case_id, never stored separately."""
    return derived_id("case", case_id)


class CaseProgramChanged(AidLedgerError):
    """A row tries to move an existing case to another program (a new case is needed)."""


class CaseDecision(LedgerEvent):
    """A decision on a case: who decided, who approved, from when, and from which input."""

    effective_from: date
    decided_by: str
    approved_by: str
    source: str = ""

    #: Whether the event's values apply on a date only once it is in force (False for the
    #: validity-interval events, whose dates are themselves statements about time).
    dated: ClassVar[bool] = True

    def apply(self, aggregate: Case) -> None:
        self.apply_state(aggregate.state)

    def apply_state(self, state: CaseState) -> None:
        state.decided_by = self.decided_by
        state.approved_by = self.approved_by
        if self.dated:
            state.effective_from = self.effective_from
            state.start = min(state.start, self.effective_from)


class Case(LedgerAggregate):
    """One case and its decisions. Commands check first, then trigger the event."""

    if TYPE_CHECKING:  # set by Approved.apply; not a dataclass field of the aggregate
        state: CaseState

    class Approved(LedgerAggregate.Created, CaseDecision):
        TOPIC: ClassVar[str] = "aidledger.CaseApproved"
        case_id: str
        program: str
        region_code: str
        name: str
        id_number: str
        household_size: int
        monthly_amount: int
        effective_to: date | None
        bank_account: str
        account_name: str

        def apply(self, aggregate: Case) -> None:
            aggregate.state = self.initial_state()

        def initial_state(self) -> CaseState:
            # Positional on purpose: this runs once per case in every projection rebuild.
            return CaseState(
                self.case_id,
                self.program,
                self.region_code,
                self.name,
                self.id_number,
                self.household_size,
                self.monthly_amount,
                self.effective_from,
                self.effective_to,
                self.bank_account,
                self.account_name,
                self.decided_by,
                self.approved_by,
                self.effective_from,
            )

    class MonthlyAmountChanged(LedgerAggregate.Event, CaseDecision):
        TOPIC: ClassVar[str] = "aidledger.MonthlyAmountChanged"
        monthly_amount: int
        household_size: int

        def apply_state(self, state: CaseState) -> None:
            super().apply_state(state)
            state.monthly_amount = self.monthly_amount
            state.household_size = self.household_size

    class AccountChanged(LedgerAggregate.Event, CaseDecision):
        TOPIC: ClassVar[str] = "aidledger.AccountChanged"
        bank_account: str
        account_name: str

        def apply_state(self, state: CaseState) -> None:
            super().apply_state(state)
            state.bank_account = self.bank_account
            state.account_name = self.account_name

    class DetailsCorrected(LedgerAggregate.Event, CaseDecision):
        TOPIC: ClassVar[str] = "aidledger.CaseDetailsCorrected"
        name: str
        id_number: str
        region_code: str

        def apply_state(self, state: CaseState) -> None:
            super().apply_state(state)
            state.name = self.name
            state.id_number = self.id_number
            state.region_code = self.region_code

    class Reviewed(LedgerAggregate.Event, CaseDecision):
        """A new decision that keeps the terms (复核), or moves the start earlier."""

        TOPIC: ClassVar[str] = "aidledger.CaseReviewed"

    class Terminated(LedgerAggregate.Event, CaseDecision):
        """The case ends after ``effective_to``; ``effective_from`` is the first day without."""

        TOPIC: ClassVar[str] = "aidledger.CaseTerminated"
        dated: ClassVar[bool] = False
        effective_to: date

        def apply_state(self, state: CaseState) -> None:
            super().apply_state(state)
            state.effective_to = self.effective_to

    class Reinstated(LedgerAggregate.Event, CaseDecision):
        """An ended case is in effect again, open-ended or to a later ``effective_to``."""

        TOPIC: ClassVar[str] = "aidledger.CaseReinstated"
        dated: ClassVar[bool] = False
        effective_to: date | None

        def apply_state(self, state: CaseState) -> None:
            super().apply_state(state)
            state.effective_to = self.effective_to

    @classmethod
    def approve(cls, row: CaseRow, *, by: str, source: str) -> Self:
        """Open a case from its first decision row."""
        event = cls.approval(row, by=by, source=source)
        case = cast(Self, event.mutate(None))
        case.pending_events.append(event)
        return case

    @classmethod
    def approval(cls, row: CaseRow, *, by: str, source: str) -> Case.Approved:
        """The event that opens a case, without building the aggregate (for bulk imports).

        A new case needs no checks beyond its row's validation, so a large import records
        this event directly; it is exactly the event :meth:`approve` records.
        """
        return cls.first_event(
            cls.Approved,
            case_aggregate_id(row.case_id),
            by=by,
            source=source,
            **{n: getattr(row, n) for n in CASE_COLUMNS},
        )

    def decide(self, row: CaseRow, *, by: str, source: str) -> int:
        """Record the decision a changed row makes; returns the number of events (0: same)."""
        self._check_same_program(row)
        before = self.version
        for event_class, values in decision_events(self.state, row):
            self.trigger_event(
                event_class,
                by=by,
                source=source,
                decided_by=row.decided_by,
                approved_by=row.approved_by,
                **values,
            )
        return self.version - before

    def _check_same_program(self, row: CaseRow) -> None:
        if row.program != self.state.program:
            raise CaseProgramChanged(
                f"case {row.case_id} belongs to program {self.state.program}; "
                f"a decision for {row.program} needs a new case_id"
            )


register_event_topics(Case, "aidledger.Case")

DecisionEvent = (
    type[Case.MonthlyAmountChanged]
    | type[Case.AccountChanged]
    | type[Case.DetailsCorrected]
    | type[Case.Reviewed]
    | type[Case.Terminated]
    | type[Case.Reinstated]
)


def decision_events(
    state: CaseState, row: CaseRow
) -> list[tuple[DecisionEvent, dict[str, object]]]:
    """The events a row makes against a case's current state (empty when nothing changed).

    Pure: the same state and row always give the same events. Field changes take effect from
    the row's ``effective_from``; a new ``effective_to`` terminates (or extends), a cleared one
    reinstates. A row that changes only who decided or from when is a review (复核).
    """
    if state.as_row() == row:
        return []
    out: list[tuple[DecisionEvent, dict[str, object]]] = []
    eff = row.effective_from
    if (row.monthly_amount, row.household_size) != (state.monthly_amount, state.household_size):
        out.append(
            (
                Case.MonthlyAmountChanged,
                {
                    "effective_from": eff,
                    "monthly_amount": row.monthly_amount,
                    "household_size": row.household_size,
                },
            )
        )
    if (row.bank_account, row.account_name) != (state.bank_account, state.account_name):
        out.append(
            (
                Case.AccountChanged,
                {
                    "effective_from": eff,
                    "bank_account": row.bank_account,
                    "account_name": row.account_name,
                },
            )
        )
    if (row.name, row.id_number, row.region_code) != (
        state.name,
        state.id_number,
        state.region_code,
    ):
        out.append(
            (
                Case.DetailsCorrected,
                {
                    "effective_from": eff,
                    "name": row.name,
                    "id_number": row.id_number,
                    "region_code": row.region_code,
                },
            )
        )
    if row.effective_to != state.effective_to:
        if row.effective_to is None or (
            state.effective_to is not None and row.effective_to > state.effective_to
        ):
            resumes = (state.effective_to or eff) + timedelta(days=1)
            out.append(
                (Case.Reinstated, {"effective_from": resumes, "effective_to": row.effective_to})
            )
        else:
            out.append(
                (
                    Case.Terminated,
                    {
                        "effective_from": row.effective_to + timedelta(days=1),
                        "effective_to": row.effective_to,
                    },
                )
            )
    if not out:
        out.append((Case.Reviewed, {"effective_from": eff}))
    elif row.effective_from != state.effective_from and all(not cls.dated for cls, _ in out):
        # Only the interval changed, but the row also carries a new decision date: keep it.
        out.insert(0, (Case.Reviewed, {"effective_from": eff}))
    return out


def state_as_of(events: Sequence[LedgerEvent], day: date) -> CaseState | None:
    """The case as it stood on ``day``: what was in force then, as we know it now.

    Events are replayed in recorded order. A dated decision counts only from its
    ``effective_from``; later decisions override earlier ones from their own date on
    (so a correction recorded later wins). Returns None if the case was not in effect.
    """
    state = current_state(events, day)
    return state if state is not None and state.in_effect_on(day) else None


def current_state(events: Iterable[LedgerEvent], day: date | None = None) -> CaseState | None:
    """Replay a case's events; with ``day``, skip dated decisions not yet in force then."""
    state: CaseState | None = None
    for event in events:
        if isinstance(event, Case.Approved):
            state = event.initial_state()
        elif isinstance(event, CaseDecision) and state is not None:
            if day is None or not event.dated or event.effective_from <= day:
                event.apply_state(state)
            else:
                # Not yet in force on `day`, but a back-dated start still counts.
                state.start = min(state.start, event.effective_from)
    return replace(state) if state is not None else None
