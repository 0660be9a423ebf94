"""Movements (增减变动): how a month's caseload changed, group by group. Pure.

For a period P, each group (program, region, ...) counts the cases in effect on P's first day
(``start``), those that came in during P (``opened``: never in effect before; ``reinstated``: in
effect before, ended, and back), those that went out (``terminated``: in effect on P's first day,
not on the next month's), those in effect on both days whose amount changed
(``amount_changed``), and ``end`` (in effect on the next month's first day). The books balance
for every group: ``start + opened + reinstated - terminated = end``. A case that moves group (its
region corrected) goes out of one and comes into the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from ledger.case import Case, CaseDecision, CaseState
from ledger.duties import Actor
from ledger.events import LedgerEvent

FIELDS = ("start", "opened", "reinstated", "terminated", "amount_changed", "end")
#: Who may read the movements report where a person is known (the console, the API): every
#: role of the casework and the money but the system's administrators.
MOVEMENT_READERS = (
    "caseworker", "approver", "finance", "finance_approver", "supervisor", "auditor"
)  # fmt: skip


def check_may_read_movements(actor: Actor) -> None:
    """Everyone but an admin (who keeps the system, not the caseload) reads the movements."""
    actor.require(*MOVEMENT_READERS, to="read the caseload movements")


@dataclass(frozen=True)
class Snapshot:
    """A case on one day: its group, whether in effect, its amount, and whether it had been in
    effect on some earlier day (to tell a reinstatement from an opening)."""

    case_id: str
    group: tuple[str, ...]
    in_effect: bool
    amount: int
    seen_before: bool = False


@dataclass
class Movement:
    group: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))

    @property
    def balances(self) -> bool:
        c = self.counts
        return c["start"] + c["opened"] + c["reinstated"] - c["terminated"] == c["end"]


def movements(before: Iterable[Snapshot], after: Iterable[Snapshot]) -> list[Movement]:
    """Movements between the snapshots of every case on the month's first day (``before``) and
    the next month's (``after``), by group, in group order."""
    start = {s.case_id: s for s in before}
    end = {s.case_id: s for s in after}
    out: dict[tuple[str, ...], Movement] = {}

    def count(group: tuple[str, ...], what: str) -> None:
        out.setdefault(group, Movement(group)).counts[what] += 1

    for case_id in sorted(set(start) | set(end)):
        b, a = start.get(case_id), end.get(case_id)
        was = b if b is not None and b.in_effect else None
        now = a if a is not None and a.in_effect else None
        if was is not None:
            count(was.group, "start")
        if now is not None:
            count(now.group, "end")
        if was is not None and now is not None and was.group == now.group:
            if was.amount != now.amount:
                count(now.group, "amount_changed")
            continue
        if was is not None:
            count(was.group, "terminated")
        if now is not None:
            back = was is None and b is not None and b.seen_before
            count(now.group, "reinstated" if back else "opened")
    return [out[g] for g in sorted(out)]


def totals(rows: Iterable[Movement]) -> Movement:
    """The groups added up (a balanced sum of balanced groups)."""
    whole = Movement(("all",))
    for r in rows:
        for f in FIELDS:
            whole.counts[f] += r.counts[f]
    return whole


def add_up(parts: Iterable[Iterable[Movement]]) -> list[Movement]:
    """Movements of several sets of cases (e.g. a register read a page at a time) added up
    group by group, in group order: each case counts in one set only, so the sums balance."""
    out: dict[tuple[str, ...], Movement] = {}
    for rows in parts:
        for r in rows:
            whole = out.setdefault(r.group, Movement(r.group))
            for f in FIELDS:
                whole.counts[f] += r.counts[f]
    return [out[g] for g in sorted(out)]


def state_on(events: Sequence[LedgerEvent], day: date) -> CaseState | None:
    """A case on ``day`` as its decisions dated up to then make it, None if not in effect.

    Unlike `ledger.case.state_as_of`, an ending or a reinstatement counts only from its own
    date (its ``effective_from``: the first day without, the first day back), so a case ended
    and later reinstated is out of effect in between: what a month's movements must see.
    """
    state: CaseState | None = None
    for e in events:
        if isinstance(e, Case.Approved):
            state = e.initial_state()
        elif isinstance(e, CaseDecision) and state is not None and e.effective_from <= day:
            e.apply_state(state)
    return state if state is not None and state.in_effect_on(day) else None
