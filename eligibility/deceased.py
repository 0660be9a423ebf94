"""应退尽退: ending the cases of beneficiaries reported dead.

``aidledger cases end-deceased --as-of DATE`` ends every case in effect whose holder died on or
before DATE: a ``CaseTerminated`` decision in force after the date of death (``effective_to`` is
that date), its source the death report. A 低保 case is a household's: it is listed as a
household to re-assess (the surviving members need a decision under a new holder). Re-running
records nothing. The months already paid after the death become recoveries at the next prepare,
as for any back-dated end; an ended case raises no new hold or finding.

A death report ends a case for good: a cases file that would reinstate such a case is refused
(`ledger.imports`) until the death report itself is corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from ledger.case import Case, case_aggregate_id
from ledger.duties import Actor
from ledger.service import LedgerService
from ledger.store import as_date, save_batch

#: The prefix of the ``source`` of a decision recorded from a death report.
DEATH_SOURCE = "death:"

#: Household programs: a holder's death leaves a household to re-assess.
HOUSEHOLD_PROGRAMS = frozenset({"dibao"})


@dataclass(frozen=True)
class EndedCase:
    """A case ended (or, with --dry-run, to be ended) on its holder's death."""

    case_id: str
    program: str
    region_code: str
    date_of_death: date
    reported_by: str  # the death feed, e.g. 公安人口库比对
    household_to_reassess: bool
    members_in_effect: tuple[str, ...] = ()  # masked names, once households are recorded


@dataclass
class EndDeceasedResult:
    as_of: date
    dry_run: bool
    ended: list[EndedCase]
    #: Cases the actor may not end (outside their region, or in which they have an interest).
    left: list[tuple[str, str]]


class Deceased(LedgerService):
    """Ends the cases of beneficiaries reported dead (caseworker)."""

    def end_deceased(self, *, as_of: date, by: str | Actor, dry_run: bool) -> EndDeceasedResult:
        self.sync()
        actor = self.actor(by)
        actor.require("caseworker", to="end the cases of the deceased")
        directory = self.directory()
        rows = self.db.query(
            "SELECT c.case_id, c.program, c.region_code, c.id_number, c.bank_account, "
            "d.date_of_death, d.feed FROM cases c JOIN deaths d ON d.id_number = c.id_number "
            "WHERE d.date_of_death <= ? "
            "AND (c.effective_to IS NULL OR c.effective_to > d.date_of_death) "
            "ORDER BY c.case_id",
            (as_of,),
        )
        rows = self.db.sealer.open_rows(rows, (3, 4))
        ended: list[EndedCase] = []
        left: list[tuple[str, str]] = []
        cases: list[Any] = []
        for case_id, program, region, id_number, account, died, feed in rows:
            if not actor.covers(region):
                left.append((case_id, f"outside {actor.staff_id}'s region {actor.region}"))
                continue
            if actor.staff_id in directory.interested([id_number], [account]):
                left.append((case_id, f"{actor.staff_id} has an interest in it (回避)"))
                continue
            day = cast(date, as_date(died))  # the query's join: a date of death
            ended.append(
                EndedCase(case_id, program, region, day, feed, program in HOUSEHOLD_PROGRAMS)
            )
            if not dry_run:
                cases.append(self._terminate(case_id, day, feed, actor))
        if cases:
            save_batch(self.app, cases)
            self.sync()
        return EndDeceasedResult(as_of, dry_run, ended, left)

    def _terminate(self, case_id: str, died: date, feed: str, actor: Actor) -> Case:
        case: Case = self.app.repository.get(case_aggregate_id(case_id))
        case.trigger_event(
            Case.Terminated,
            by=actor.staff_id,
            source=f"{DEATH_SOURCE}{feed} ({died.isoformat()})",
            decided_by=actor.staff_id,
            approved_by="",  # no approval: the consequence of a death report
            effective_from=died + timedelta(days=1),
            effective_to=died,
        )
        return case
