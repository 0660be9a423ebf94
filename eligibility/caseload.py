"""A month's caseload movements (增减变动) on a store: ``aidledger report movements``.

Each case is looked at on the month's first day as the ledger knew it when the month began (the
end of the day before), and on the next month's first day as it knew it when the month ended
(`movements.state_on` over the events recorded by then). So a month's report is the same
whenever it is run, its ``end`` is the next month's ``start`` group by group, and a decision
recorded late (a termination back-dated into a closed month) moves the case in the month it was
recorded. A page of cases at a time: `movements.movements` counts each page and
`movements.add_up` adds the pages up, so every group balances (``start + opened + reinstated -
terminated = end``) whatever the register's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from eligibility.movements import (
    FIELDS,
    Movement,
    Snapshot,
    add_up,
    check_may_read_movements,
    movements,
    state_on,
    totals,
)
from ledger.case import CaseState, case_aggregate_id, current_state
from ledger.duties import Actor
from ledger.ids import county_of
from ledger.period import Period
from ledger.service import LedgerService
from ledger.store import select_events_of

#: ``--by`` dimensions of the movements report, and the column each fills.
DIMENSIONS = {
    "program": "program",
    "department": "department",
    "region": "region_code",  # the county: the first 6 digits
    "village": "region_code",  # the full code
}
#: The columns of the report, in order.
MOVEMENT_FIELDS = ("period", "program", "department", "region_code", *FIELDS)


def parse_movement_dimensions(text: str) -> list[str]:
    """``program,region`` -> the dimensions (region or village, not both)."""
    from projections.reports import parse_dimensions

    return parse_dimensions(text, DIMENSIONS)


class Caseload(LedgerService):
    """How the caseload changed in a month, group by group."""

    #: The bureau's time zone (a month begins and ends there).
    timezone: str = "Asia/Shanghai"

    def movements(
        self,
        period: Period,
        dims: Sequence[str],
        *,
        as_known_now: bool = False,
        reader: Actor | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of ``period``, the group's columns (null where not grouped on) and the counts
        of `eligibility.movements`; a last row ``all`` when grouped. Refused while an import
        is open. ``as_known_now``: both days as the ledger knows them now, not as it knew them
        when the month began and ended (a drill whose dates are not the clock's). ``reader``:
        the staff member asking (the console, the API), refused unless their role reads the
        movements (`check_may_read_movements`)."""
        from projections.registers import refuse_while_importing

        if reader is not None:
            check_may_read_movements(reader)
        self.sync()
        refuse_while_importing(self.db)
        rows = add_up(self._pages(period, dims, as_known_now))
        out = [self._record(period, dims, m) for m in rows]
        if dims:
            whole = totals(rows)
            out.append({**self._record(period, [], whole), "program": "all"})
        return out

    def _pages(
        self, period: Period, dims: Sequence[str], as_known_now: bool
    ) -> Iterator[list[Movement]]:
        from projections.caseload import cases_that_can_count
        from projections.trail import end_of_day

        first, following = period.first_day, period.next().first_day
        began = end_of_day(first - timedelta(days=1), self.timezone)
        ended = end_of_day(following - timedelta(days=1), self.timezone)
        since = None if as_known_now else began
        for page in cases_that_can_count(self.db, first, following, since):
            found = select_events_of(
                self.app, self.db, [case_aggregate_id(s.case_id) for s, _ in page]
            )
            before, after = [], []
            for s, _ in page:
                events = found.get(case_aggregate_id(s.case_id), [])
                if as_known_now:
                    then = now = events
                else:
                    then = [e for e in events if e.timestamp <= began]
                    now = [e for e in events if e.timestamp <= ended]
                was = current_state(then)
                seen = was is not None and was.start < first
                before.append(self._snapshot(s.case_id, state_on(then, first), dims, seen))
                after.append(self._snapshot(s.case_id, state_on(now, following), dims, seen))
            yield movements(before, after)

    def _snapshot(
        self, case_id: str, s: CaseState | None, dims: Sequence[str], seen: bool
    ) -> Snapshot:
        if s is None:
            return Snapshot(case_id, (), False, 0, seen)
        return Snapshot(case_id, self._group(s, dims), True, s.monthly_amount, seen)

    def _group(self, s: CaseState, dims: Sequence[str]) -> tuple[str, ...]:
        values = {
            "program": s.program,
            "department": self.config.programs[s.program].department
            if s.program in self.config.programs
            else "",
            "region": county_of(s.region_code),
            "village": s.region_code,
        }
        return tuple(values[d] for d in dims)

    def _record(self, period: Period, dims: Sequence[str], m: Movement) -> dict[str, Any]:
        named = dict(zip(dims, m.group, strict=False)) if dims else {}
        return {
            "period": str(period),
            "program": named.get("program"),
            "department": named.get("department"),
            "region_code": named.get("region", named.get("village")),
            **m.counts,
        }
