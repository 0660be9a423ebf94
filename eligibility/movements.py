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

from collections.abc import Iterable
from dataclasses import dataclass, field

FIELDS = ("start", "opened", "reinstated", "terminated", "amount_changed", "end")


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
