"""``aidledger compare``: a month's cases against other departments' records.

Reads the records known on the day compared as of (`projections.comparison.case_records`),
judges each case's household by the pure rules (`eligibility.comparison`), and raises what
they find through the findings of reconciliation (their events built directly, their rows
written with them: `projections.runner.WrittenThroughBatch`): once per case and type while
one is open, and never again for the same evidence (one resolved as a false positive stays
resolved). A finding's id is derived from its type, case and evidence, so a rerun, or a run
as of a later day that learnt nothing new, raises nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from eligibility.comparison import COMPARISON_FINDINGS, CaseFacts, Hit, Record, Rules, compare
from ledger.duties import Actor
from ledger.payment import Finding, finding_id
from ledger.period import Period
from ledger.service import LedgerService, PhaseClock
from ledger.store import gc_paused, record_job
from projections.registers import refuse_while_importing

#: Who may run a comparison: those who check applications (caseworkers), and supervisors.
COMPARE_ROLES = ("caseworker", "supervisor")


@dataclass
class CompareResult:
    period: str
    as_of: str
    cases: int = 0
    raised: dict[str, int] = field(default_factory=dict)
    #: Wall-clock seconds of its phases: ``index`` (the person index built again after a
    #: large import, else nothing), ``statistics`` (analyze, vacuum), ``compare``.
    seconds: dict[str, float] = field(default_factory=dict)


def comparison_finding_id(hit: Hit) -> str:
    """A comparison finding's id: its type, case and the evidence that raised it."""
    return finding_id(hit.type, hit.case_id, hit.evidence)


def rules_of(config: object) -> dict[str, Rules]:
    """Each program's comparison rules from the programs config."""
    from ledger.programs import ProgramsConfig

    programs = config.programs if isinstance(config, ProgramsConfig) else {}
    return {
        code: Rules(
            limits=dict(p.limits_fen),
            forbidden_sources=frozenset(p.forbidden_sources),
            duplicates_with=frozenset(p.duplicates_with),
        )
        for code, p in programs.items()
    }


class Comparisons(LedgerService):
    """Data comparison of a month's cases (``aidledger compare``)."""

    def compare(
        self, period: Period, *, as_of: date | None = None, by: str | Actor
    ) -> CompareResult:
        """Raise the comparison findings of ``period`` from the records known on ``as_of``
        (default today)."""
        from projections.comparison import case_record_chunks, ensure_person_index
        from projections.households import persons_between

        self.sync()
        refuse_while_importing(self.db)
        actor = self.actor(by)
        actor.require(*COMPARE_ROLES, to="run a data comparison")
        day = as_of or self.today
        first, last = period.first_day, period.last_day
        result = CompareResult(period=str(period), as_of=day.isoformat())
        # The records are often minutes old: without fresh statistics PostgreSQL plans the
        # join for the few rows it last saw; vacuumed, the records are read from their
        # covering index alone (migration 0023; built again here if a large import dropped
        # it), not a table page per record.
        clock = PhaseClock()
        ensure_person_index(self.db)
        clock.lap("index")
        self.db.analyze("cases", "household_members")
        self.db.vacuum("comparison_records")
        clock.lap("statistics")
        open_types: dict[str, set[str]] = defaultdict(set)
        known: dict[str, tuple[str, str | None]] = {}
        marks = ", ".join("?" * len(COMPARISON_FINDINGS))
        for fid, case_id, type_, status, resolution in self.db.query(
            "SELECT finding_id, case_id, type, status, resolution FROM findings "
            f"WHERE type IN ({marks})",
            COMPARISON_FINDINGS,
        ):
            known[fid] = (status, resolution)
            if status == "open":
                open_types[case_id].add(type_)
        departments = {code: p.department for code, p in self.config.programs.items()}
        rules = rules_of(self.config)
        with gc_paused(), self.findings_written_through() as batch:
            # A chunk of cases at a time: a province's records are not held all at once.
            for found in case_record_chunks(self.db, first, last, day, app=self.app):
                facts: dict[str, tuple[str, str]] = {}
                records: list[Record] = []
                for case_id, program, region, record in found:
                    facts[case_id] = (program, region)
                    records.append(record)
                del found
                persons = persons_between(self.db, min(facts), max(facts), first)
                cases = [
                    CaseFacts(case_id, program, region, persons.get(case_id, frozenset()))
                    for case_id, (program, region) in facts.items()
                ]
                result.cases += len(cases)
                hits = compare(cases, records, rules, first=first, last=last, as_of=day)
                for hit in hits:
                    fid = comparison_finding_id(hit)
                    if fid in known or hit.type in open_types[hit.case_id]:
                        continue
                    open_types[hit.case_id].add(hit.type)
                    known[fid] = ("open", None)
                    program, region = facts[hit.case_id]
                    batch.add(
                        Finding.raised_event(
                            by=actor.staff_id,
                            finding_id=fid,
                            type=hit.type,
                            period=str(period),
                            program=program,
                            department=departments.get(program),
                            region_code=region,
                            case_id=hit.case_id,
                            payment_id=None,
                            amount=None,
                            detail=hit.detail,
                            source=hit.source,
                            source_ref=hit.source_ref,
                            value=hit.value,
                            limit=hit.limit,
                        )
                    )
                    result.raised[hit.type] = result.raised.get(hit.type, 0) + 1
        self.sync()
        record_job(self.db, "comparison", detail=f"{period} as of {day.isoformat()}")
        clock.lap("compare")
        result.seconds = clock.laps
        return result
