"""Entitlements: what a case is owed, as pure functions of its timeline and what was paid.

Rules (the payment rules README describes):
- regular: a case is paid for month M by the program's mid-month rule (programs.toml):
  ``first_day`` in effect on M's first day (the default); ``any_day`` in effect on any day of
  M; ``prorate`` amount x days in effect / days in M, rounded down to the fen. The amount is
  the one in force on M's first day, or on the first day in effect if later.
- arrears 补发: every earlier month from the case's start that the case was owed and that its
  regular and arrears payments, less what recoveries ask back, do not cover (or cover only
  in part, after a back-dated increase) is paid the difference as an arrears payment (a
  second increase, a second arrears; a month owed again after a recovery), never for a
  month before the program's first approved run (earlier months were paid by whatever
  system came before).
- recovery 追回: a month already paid (in an approved run) that is now owed less - a
  back-dated termination or decrease, or a death before the month began - yields a recovery
  of what was sent beyond what is owed and beyond what earlier recoveries already ask back
  (a termination after a decrease asks back the rest), recorded and listed, never netted
  against other payments.
- a case is never paid twice for the same program, period and kind.
- supplement 一次性生活补贴: a supplement run pays each case of its programs in effect on its
  day (``in_effect_on``) its amount once, per case or per person of the household on that day
  (`supplement_due`). One-off relief (临时救助) is no case's entitlement: a grant is paid once
  as it was decided (`disbursement.runs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from ledger.case import CaseState, current_state
from ledger.events import LedgerEvent
from ledger.period import Period
from ledger.programs import MidMonthRule


class Timeline(Protocol):
    """A case through time: its validity interval and its terms on any day."""

    @property
    def start(self) -> date: ...

    @property
    def end(self) -> date | None: ...

    def terms_on(self, day: date) -> CaseState: ...


@dataclass(frozen=True)
class FixedTimeline:
    """A case with a single decision: the same terms on every day it is in effect."""

    state: CaseState

    @property
    def start(self) -> date:
        return self.state.start

    @property
    def end(self) -> date | None:
        return self.state.effective_to

    def terms_on(self, day: date) -> CaseState:
        return self.state


class EventTimeline:
    """A case with several decisions: terms on a day are the fold of what was in force."""

    def __init__(self, events: Sequence[LedgerEvent]) -> None:
        self.events = list(events)
        latest = current_state(self.events)
        if latest is None:
            raise ValueError("a timeline needs the case's CaseApproved event")
        self.latest = latest

    @property
    def start(self) -> date:
        return self.latest.start

    @property
    def end(self) -> date | None:
        return self.latest.effective_to

    def terms_on(self, day: date) -> CaseState:
        state = current_state(self.events, day)
        return state if state is not None else self.latest


def _days_in_effect(t: Timeline, month: Period) -> int:
    first = max(t.start, month.first_day)
    last = min(t.end or month.last_day, month.last_day)
    return max(0, (last - first).days + 1)


def entitled(t: Timeline, month: Period, rule: MidMonthRule) -> int:
    """Fen the case is owed for ``month`` under the program's mid-month rule."""
    if rule == "first_day":
        day = month.first_day
        if not (t.start <= day and (t.end is None or day <= t.end)):
            return 0
        return t.terms_on(day).monthly_amount
    days = _days_in_effect(t, month)
    if days == 0:
        return 0
    amount = t.terms_on(max(t.start, month.first_day)).monthly_amount
    if rule == "any_day":
        return amount
    return amount * days // month.last_day.day


@dataclass(frozen=True)
class Due:
    """A payment a case is owed: for which month, of which kind, how much; ``n`` numbers a
    month's arrears (a second back-dated increase is a second arrears). ``on``: the day whose
    terms (account, name, beneficiary) it is paid on, when not the month's first day in effect
    (a supplement's day)."""

    period: Period
    kind: str
    amount: int
    n: int = 1
    on: date | None = None


@dataclass(frozen=True)
class RecoveryDue:
    """Money paid for a month that is now owed less: ``paid`` sent, ``owed`` now, of which
    ``recovered`` is already asked back by earlier recoveries; ``n`` numbers the month's
    recoveries (a termination after a decrease asks back the rest)."""

    period: Period
    paid: int
    owed: int
    reason: str
    recovered: int = 0
    n: int = 1

    @property
    def amount(self) -> int:
        return self.paid - self.owed - self.recovered


@dataclass(frozen=True)
class PaidSoFar:
    """What a case already has, for one program.

    ``instructed``: fen per (month, kind) in any run, approved or not (to never pay twice),
    summed over a month's payments of a kind; ``arrears``: how many arrears each month has;
    ``approved``: fen per month in approved runs (what counts as paid, for recoveries);
    ``recovered``: per month, fen already asked back by standing recoveries, and how many.
    """

    instructed: Mapping[tuple[Period, str], int]
    approved: Mapping[Period, int]
    recovered: Mapping[Period, tuple[int, int]]
    arrears: Mapping[Period, int] = field(default_factory=dict)


NOTHING_PAID = PaidSoFar({}, {}, {})


def dues(
    t: Timeline,
    *,
    period: Period,
    rule: MidMonthRule,
    first_period: Period,
    paid: PaidSoFar = NOTHING_PAID,
    died: date | None = None,
) -> tuple[list[Due], list[RecoveryDue]]:
    """The payments and recoveries due for one case when preparing ``period``.

    ``first_period``: the period of the program's first approved run (``period`` itself if
    there is none yet): no arrears before it.
    """
    payments: list[Due] = []
    if (period, "regular") not in paid.instructed:
        amount = entitled(t, period, rule)
        if amount > 0:
            payments.append(Due(period, "regular", amount))
    start_month = max(Period.of(t.start), first_period)
    for month in start_month.months_until(period):
        owed = entitled(t, month, rule)
        # What the month has: its payments, less what recoveries already ask back (a month
        # owed again after a recovery is paid again; the recovery is never netted).
        covered = (
            paid.instructed.get((month, "regular"), 0)
            + paid.instructed.get((month, "arrears"), 0)
            - paid.recovered.get(month, (0, 0))[0]
        )
        if owed > covered:
            n = paid.arrears.get(month, 0) + 1
            payments.append(Due(month, "arrears", owed - covered, n))
    recoveries: list[RecoveryDue] = []
    for month, amount in sorted(paid.approved.items()):
        if amount <= 0:
            continue
        asked, count = paid.recovered.get(month, (0, 0))
        dead = died is not None and died < month.first_day
        owed = 0 if dead else entitled(t, month, rule)
        if amount - asked > owed:
            reason = "death" if dead else ("terminated" if owed == 0 else "decreased")
            recoveries.append(RecoveryDue(month, amount, owed, reason, asked, count + 1))
    return payments, recoveries


def supplement_due(t: Timeline, *, amount: int, per: str, on: date) -> int:
    """Fen a supplement of ``amount`` per case (``per`` ``"case"``) or per person of the
    household (``"person"``) pays a case: 0 unless the case is in effect on ``on``, and then
    by its household size on that day."""
    if not (t.start <= on and (t.end is None or on <= t.end)):
        return 0
    if per == "person":
        return amount * t.terms_on(on).household_size
    return amount
