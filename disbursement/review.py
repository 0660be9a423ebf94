"""Reviewing payout runs before and after approval: what a run pays, what is held, whether it
is stale, how it differs from last month's, and whether the read models still say what its
events recorded.

Read-only: nothing here records an event. `disbursement.runs` asks it before an approval, the
command line and the console show what it finds (``payout list``, ``payout show``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.case import Case
from ledger.config_store import ConfigVersion
from ledger.duties import Actor
from ledger.errors import NotFound
from ledger.events import LedgerEvent, PydanticMapper, aggregate_of
from ledger.grant import ReliefGrant
from ledger.masking import masked_rows
from ledger.money import format_fen
from ledger.payment import (
    Finding,
    Payment,
    PayoutRun,
    ReadModelTampered,
    Recovery,
    Released,
    RunReview,
    Tally,
    finding_id,
    is_supplement_run,
    payment_aggregate_id,
)
from ledger.period import Period
from ledger.programs import ProgramsConfig
from ledger.registry import DeathReport, StaffMember
from ledger.review import CaseReview
from ledger.store import (
    PARAM_CHUNK,
    Database,
    LedgerApp,
    batched,
    events_ahead,
    param_chunks,
    rows_where_in,
    select_events_of,
)
from projections.payouts import APPROVED_STATUSES
from projections.registers import config_version_in_force

if TYPE_CHECKING:
    from disbursement.export import ExportLine

#: Event topics that can change what a fresh prepare of a run would pay, when recorded after
#: it was prepared (its own payments' and findings' events aside, see `_own`).
#: Resolutions of a finding that let a held payment be paid by the next prepare.
LIFTING = ("false_positive", "corrected")

STALE_TOPICS = frozenset(
    {
        Case.Approved.TOPIC,
        Case.MonthlyAmountChanged.TOPIC,
        Case.AccountChanged.TOPIC,
        Case.DetailsCorrected.TOPIC,
        Case.Reviewed.TOPIC,
        Case.Terminated.TOPIC,
        Case.Reinstated.TOPIC,
        DeathReport.Reported.TOPIC,
        DeathReport.Corrected.TOPIC,
        ConfigVersion.Applied.TOPIC,
        StaffMember.Registered.TOPIC,
        StaffMember.DetailsChanged.TOPIC,
        Payment.Released.TOPIC,
        Payment.Cancelled.TOPIC,
        Payment.Returned.TOPIC,
        Payment.Rejected.TOPIC,
        Payment.Refunded.TOPIC,
        PayoutRun.Approved.TOPIC,
        PayoutRun.ReleasesApproved.TOPIC,
        PayoutRun.Exported.TOPIC,
        PayoutRun.Cancelled.TOPIC,
        Recovery.Withdrawn.TOPIC,
        Finding.Resolved.TOPIC,
        # A finding about a case of a type its program's ``hold_on`` names (data comparison,
        # households) holds its payments: raised or reopened after the prepare, it is a hold
        # the run does not have.
        Finding.Raised.TOPIC,
        Finding.Reopened.TOPIC,
        ReliefGrant.Approved.TOPIC,
        CaseReview.Recorded.TOPIC,
    }
)

#: Columns of ``payout list`` (and its JSON).
RUN_FIELDS = (
    "run_id",
    "period",
    "program",
    "status",
    "prepared_by",
    "approved_by",
    "payments",
    "amount",
    "held",
    "held_amount",
    "payable",
    "payable_amount",
    "stale",
)


@dataclass
class Staleness:
    """What was recorded after a run was prepared that a fresh prepare would see."""

    cases: set[str] = field(default_factory=set)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def stale(self) -> bool:
        return bool(self.reasons)


class Review:
    """Questions about runs, answered from the read models and (where it matters) the log."""

    def __init__(self, app: LedgerApp, db: Database, config: ProgramsConfig, today: date) -> None:
        self.app = app
        self.db = db
        self.config = config
        self.today = today

    # -- staleness ------------------------------------------------------------------------

    def staleness(self, run: PayoutRun) -> Staleness:
        """What was recorded after the run's prepare (its ``through`` position) and could
        change what it pays. An approved or cancelled run is never stale."""
        found = Staleness()
        if run.approved_by is not None or run.cancelled or not run.complete:
            return found
        programs = run.programs(self.config.programs)
        if run.config and config_version_in_force(self.db, self.today) != run.config:
            # Another config came into force since (applied earlier, from a later day).
            found.reasons["config"] += 1
        start = run.through + 1
        while True:
            notes = self.app.recorder.select_notifications(
                start=start, limit=5000, topics=sorted(STALE_TOPICS)
            )
            if not notes:
                return found
            self._why_stale(run, programs, notes, found)
            start = notes[-1].id + 1

    def _why_stale(
        self, run: PayoutRun, programs: set[str], notes: Sequence[StoredEvent], found: Staleness
    ) -> None:
        """One page of notifications after the run's prepare: what each would change. The
        read models are asked once per page (a query per kind), not once per event."""
        events = [cast(LedgerEvent, self.app.mapper.to_domain_event(n)) for n in notes]
        program_of_case = dict(
            (str(aggregate), (case_id, program))
            for case_id, aggregate, program in rows_where_in(
                self.db,
                "SELECT case_id, aggregate_id, program FROM cases",
                "aggregate_id",
                (str(e.originator_id) for e in events if aggregate_of(e) is Case),
            )
        )
        deaths = (DeathReport.Reported, DeathReport.Corrected)
        dead = {e.id_number for e in events if isinstance(e, deaths)}
        cases_of_person: dict[str, set[str]] = defaultdict(set)
        sealer = self.db.sealer
        for case_id, id_number, program in rows_where_in(
            self.db,
            "SELECT case_id, id_number, program FROM cases",
            "id_number",
            sealer.seal_all(dead),
        ):
            if program in programs:
                cases_of_person[sealer.open(id_number)].add(case_id)
        run_of_payment = dict(
            rows_where_in(
                self.db,
                "SELECT payment_id, run_id FROM payments",
                "payment_id",
                (getattr(e, "payment_id", "") for e in events if aggregate_of(e) is Payment),
            )
        )
        run_of_recovery = dict(
            rows_where_in(
                self.db,
                "SELECT recovery_id, run_id FROM recoveries",
                "recovery_id",
                (getattr(e, "recovery_id", "") for e in events if aggregate_of(e) is Recovery),
            )
        )
        holding = self._holding_findings(programs, events)
        for event in events:
            if isinstance(event, Finding.Raised | Finding.Reopened):
                if (case_id := holding.get(event.finding_id)) is not None:
                    found.cases.add(case_id)
                    found.reasons["hold"] += 1
            elif aggregate_of(event) is Case:
                known = program_of_case.get(str(event.originator_id))
                if known and known[1] in programs:
                    found.cases.add(known[0])
                    found.reasons["decision"] += 1
            elif isinstance(event, deaths):
                if mine := cases_of_person.get(event.id_number):
                    found.cases |= mine
                    found.reasons["death"] += 1
            elif isinstance(event, ConfigVersion.Applied):
                found.reasons["config"] += 1
            elif aggregate_of(event) is StaffMember:
                found.reasons["staff"] += 1
            elif isinstance(event, CaseReview.Recorded):
                # A review moves the case's due day: with suspend_when_overdue, its holds.
                if event.program in programs and self.config.reviews.suspend_when_overdue:
                    found.cases.add(event.case_id)
                    found.reasons["review"] += 1
            elif isinstance(event, ReliefGrant.Approved):
                if event.program in programs and run.supplement is None:
                    found.cases.add(event.grant_id)
                    found.reasons["grant"] += 1
            elif aggregate_of(event) is PayoutRun:
                other = getattr(event, "run_id", "")
                if other != run.run_id and not _apart(run, other):
                    found.reasons["run"] += 1
            elif aggregate_of(event) is Payment:
                owner = run_of_payment.get(getattr(event, "payment_id", ""))
                if owner is None or (owner != run.run_id and not _apart(run, owner)):
                    found.reasons["payment"] += 1
            elif aggregate_of(event) is Recovery:
                owner = run_of_recovery.get(getattr(event, "recovery_id", ""))
                # The run's own prepare withdrew it; a supplement pays no recoveries.
                if run.supplement is None and owner != run.run_id:
                    found.reasons["recovery"] += 1
            elif isinstance(event, Finding.Resolved) and event.resolution in LIFTING:
                found.reasons["finding"] += 1

    def _holding_findings(
        self, programs: set[str], events: Sequence[LedgerEvent]
    ) -> dict[str, str]:
        """Of the findings raised or reopened in ``events``, those that hold a payment of the
        run's programs: about a case (no payment) and of a type its program's ``hold_on``
        names. Their case by finding id (a reopened one's facts from the read model)."""
        hold_on = {
            code: set(p.hold_on) for code, p in self.config.programs.items() if code in programs
        }
        facts: dict[str, tuple[str | None, str | None, str, str | None]] = {
            e.finding_id: (e.case_id, e.program, e.type, e.payment_id)
            for e in events
            if isinstance(e, Finding.Raised)
        }
        facts.update(
            (fid, (case_id, program, type_, payment_id))
            for fid, case_id, program, type_, payment_id in rows_where_in(
                self.db,
                "SELECT finding_id, case_id, program, type, payment_id FROM findings",
                "finding_id",
                (e.finding_id for e in events if isinstance(e, Finding.Reopened)),
            )
        )
        return {
            fid: case_id
            for fid, (case_id, program, type_, payment_id) in facts.items()
            if case_id is not None
            and payment_id is None
            and program is not None
            and type_ in hold_on.get(program, ())
        }

    # -- before an approval ---------------------------------------------------------------

    def before_approval(self, run: PayoutRun, actor: Actor) -> RunReview:
        """Everything `PayoutRun.approve` checks: staleness, the approver's interest and
        region, the read models against the run's events, the held payments, budgets."""
        stale = self.staleness(run)
        read_model = Tally()
        read_held: set[str] = set()
        for pid, amount, account, name, held in self.db.stream(
            "SELECT payment_id, amount, creditor_account, creditor_name, held FROM payments "
            "WHERE run_id = ? AND cancelled = 0",
            (run.run_id,),
        ):
            if self.db.sealer.on:
                account, name = self.db.sealer.open(account), self.db.sealer.open(name)
            read_model.add(pid, int(amount), account, name)
            if held:
                read_held.add(pid)
        held, held_ids, releasers = self.held_by_log(run)
        tampered: tuple[str, ...] = ()
        if read_model != run.tally:
            tampered = tuple(self.tampered(run.run_id))
        return RunReview(
            stale=stale.stale,
            changed_cases=len(stale.cases),
            interested=self._interested(run.run_id, actor),
            outside_scope=self.outside_scope(run.run_id, actor),
            released_by_approver=actor.staff_id in releasers,
            read_model=read_model,
            read_model_held=frozenset(read_held),
            held=held,
            held_ids=frozenset(held_ids),
            tampered=tampered,
            over_budget=tuple(self.over_budget(run)),
        )

    def held_by_log(self, run: PayoutRun) -> tuple[Tally, set[str], frozenset[str]]:
        """The run's payments still held, as their own events say (count, total, digest),
        and who released any of its payments (they may not approve it: four eyes)."""
        held = Tally()
        ids: set[str] = set()
        releasers: set[str] = set()
        aggregates = [payment_aggregate_id(pid) for pid in sorted(run.held_ids)]
        for events in select_events_of(self.app, self.db, aggregates).values():
            payment = _replay(events)
            if payment.cancelled or payment.run_id != run.run_id:
                continue
            releasers |= {e.by for e in events if isinstance(e, Payment.Released)}
            if payment.held:
                held = held.plus(payment.share)
                ids.add(payment.payment_id)
        return held, ids, frozenset(releasers)

    def tampered(self, run_id: str) -> list[str]:
        """Payments of the run whose read-model row differs from their events (slow: reads
        every payment's events; only asked once the totals disagree)."""
        out: list[str] = []
        rows = self.db.query(
            "SELECT payment_id, amount, creditor_account, creditor_name FROM payments "
            "WHERE run_id = ? AND cancelled = 0 ORDER BY payment_id",
            (run_id,),
        )
        rows = self.db.sealer.open_rows(rows, (2, 3))
        keyed = ({payment_aggregate_id(r[0]): r for r in chunk} for chunk in param_chunks(rows))
        # As the export's check reads its lines' events (`lines_with_events`): the next
        # chunk's read while this one is compared.
        for ids, found in events_ahead(self.app, self.db, keyed, list):
            for aggregate_id, row in ids.items():
                events = found.get(aggregate_id)
                if not events:
                    out.append(f"{row[0]} (no such payment in the event log)")
                    continue
                i = _as_instructed(events)[0]
                if (i.amount, i.creditor_account, i.creditor_name) != (
                    int(row[1]),
                    row[2],
                    row[3],
                ):
                    out.append(row[0])
        return out

    def lines_with_events(
        self, lines: Iterable[ExportLine]
    ) -> Iterator[tuple[dict[UUID, ExportLine], dict[UUID, list[Any]]]]:
        """The lines of a bank file a `PARAM_CHUNK` at a time, keyed by their payments'
        aggregate ids, each chunk with those payments' events (for `differing_lines`), the
        next chunk's read while this one is checked and written (`events_ahead`)."""
        keyed = (
            {payment_aggregate_id(x.payment_id): x for x in chunk}
            for chunk in batched(lines, PARAM_CHUNK)
        )
        return events_ahead(self.app, self.db, keyed, list, decode=False)

    def _interested(self, run_id: str, actor: Actor) -> int:
        people = sorted({actor.id_number, *actor.relatives} - {""})
        marks = ", ".join("?" * len(people)) or "NULL"
        return int(
            self.db.query(
                "SELECT COUNT(*) FROM payments WHERE run_id = ? AND cancelled = 0 AND "
                f"(id_number IN ({marks}) OR creditor_account = ?)",
                (
                    run_id,
                    *self.db.sealer.seal_all(people),
                    self.db.sealer.seal(actor.bank_account) or "\x00",
                ),
            )[0][0]
        )

    def outside_scope(self, run_id: str, actor: Actor) -> int:
        """How many of the run's payments lie outside the actor's region."""
        if actor.system or not actor.region:
            return 0
        return int(
            self.db.query(
                "SELECT COUNT(*) FROM payments WHERE run_id = ? AND cancelled = 0 "
                "AND substr(region_code, 1, ?) <> ?",
                (run_id, len(actor.region), actor.region),
            )[0][0]
        )

    def over_budget(self, run: PayoutRun, released: Sequence[Released] = ()) -> list[str]:
        """Budgets (config in force today) the month would exceed with this run approved (and
        with ``released``, payments released after its approval, approved too)."""
        totals = self.db.query(
            "SELECT p.program, p.department, SUM(p.amount) FROM payments p "
            "JOIN runs r ON r.run_id = p.run_id "
            "WHERE r.period = ? AND p.held = '' AND p.cancelled = 0 AND p.batch IS NOT NULL "
            f"AND (r.status IN {APPROVED_STATUSES} OR p.run_id = ?) "
            "GROUP BY p.program, p.department",
            (run.period, run.run_id),
        )
        over = []
        by_program: dict[tuple[str, str], int] = defaultdict(int)
        for program, department, total in totals:
            by_program[(program, department)] += int(total)
        for r in released:
            by_program[(r.program, r.department)] += r.share.amount
        by_department: dict[str, int] = defaultdict(int)
        for (program, department), total in sorted(by_program.items()):
            by_department[department] += total
            budget = self.config.programs[program].budget_fen
            if budget is not None and total > budget:
                over.append(f"{program} {format_fen(total)} > budget {format_fen(budget)}")
        for department, total in sorted(by_department.items()):
            budget = self.config.departments[department].budget_fen
            if budget is not None and total > budget:
                over.append(f"{department} {format_fen(total)} > budget {format_fen(budget)}")
        return over

    # -- released after approval ----------------------------------------------------------

    def released_awaiting(self, run: PayoutRun, actor: Actor) -> list[Released]:
        """Payments released after the run's approval that wait for an approval of their own,
        each checked against its events: released after approval, once held in this run, not
        in an earlier batch (a read-model row cannot smuggle a payment into a second file)."""
        ids = [
            r[0]
            for r in self.db.query(
                "SELECT payment_id FROM payments WHERE run_id = ? AND batch IS NULL "
                "AND held = '' AND cancelled = 0 ORDER BY payment_id",
                (run.run_id,),
            )
        ]
        already = {pid for batch in run.release_batches.values() for pid in batch}
        found = select_events_of(self.app, self.db, [payment_aggregate_id(p) for p in ids])
        out = []
        people = {actor.id_number, *actor.relatives} - {""}
        for pid in ids:
            events = found.get(payment_aggregate_id(pid), [])
            payment = _replay(events) if events else None
            last = next((e for e in reversed(events) if isinstance(e, Payment.Released)), None)
            if (
                payment is None
                or payment.held
                or pid not in run.held_ids
                or pid in already
                or last is None
                or not last.needs_approval
            ):
                raise ReadModelTampered(
                    f"run {run.run_id}: payment {pid} waits for approval in the read models, but "
                    "its events say it was not released after the run's approval. Nothing was "
                    "approved. Run aidledger projections rebuild, and report it"
                )
            i = payment.instructed
            out.append(
                Released(
                    pid,
                    tuple(e.by for e in events if isinstance(e, Payment.Released)),
                    payment.share,
                    i.id_number in people or i.creditor_account == actor.bank_account,
                    i.program,
                    i.department,
                )
            )
        return out

    def awaiting_count(self, run_id: str) -> int:
        return int(
            self.db.query(
                "SELECT COUNT(*) FROM payments WHERE run_id = ? AND batch IS NULL "
                "AND held = '' AND cancelled = 0",
                (run_id,),
            )[0][0]
        )

    # -- payout list and payout show ------------------------------------------------------

    def list_runs(self, period: str | None = None) -> list[dict[str, Any]]:
        """One row per run (`RUN_FIELDS`), newest period first."""
        sql = (
            "SELECT run_id, period, scope, status, prepared_by, approved_by, payments, amount, "
            "held, held_amount, complete FROM runs"
        )
        params: list[Any] = []
        if period:
            sql += " WHERE period = ?"
            params.append(period)
        rows = self.db.query(sql + " ORDER BY period DESC, scope, seq DESC", params)
        out = []
        for run_id, per, scope, status, prep, appr, n, amount, held, held_amount, complete in rows:
            stale = False
            if status == "prepared" and complete:
                stale = self.staleness(self.run(run_id)).stale
            out.append(
                {
                    "run_id": run_id,
                    "period": per,
                    "program": scope,
                    "status": status if complete or status != "prepared" else "incomplete",
                    "prepared_by": prep,
                    "approved_by": appr,
                    "payments": int(n),
                    "amount": format_fen(int(amount)),
                    "held": int(held),
                    "held_amount": format_fen(int(held_amount)),
                    "payable": int(n) - int(held),
                    "payable_amount": format_fen(int(amount) - int(held_amount)),
                    "stale": stale,
                }
            )
        return out

    def run(self, run_id: str) -> PayoutRun:
        from eventsourcing.application import AggregateNotFoundError

        from ledger.payment import run_aggregate_id

        try:
            return self.app.repository.get(run_aggregate_id(run_id))
        except AggregateNotFoundError:
            raise NotFound(
                f"no payout run {run_id!r} (aidledger payout list shows the runs)"
            ) from None

    def show(self, run_id: str, *, viewer: Actor | None = None) -> dict[str, Any]:
        """The document of ``payout show``: totals, by program and kind, what is held and why,
        and the changes against last month's approved run of the same programs; its held
        payments as ``viewer`` sees them (`ledger.masking`; None: the store's operator)."""
        run = self.run(run_id)
        rows = self.db.query(
            "SELECT status, prepared_by, approved_by, complete FROM runs WHERE run_id = ?",
            (run_id,),
        )
        if not rows:
            raise NotFound(
                f"no payout run {run_id!r} in the read models: aidledger projections rebuild"
            )
        status, prepared_by, approved_by, complete = rows[0]
        stale = self.staleness(run)
        totals = self.db.query(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0), "
            "COALESCE(SUM(CASE WHEN held <> '' THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN held <> '' THEN amount ELSE 0 END), 0) "
            "FROM payments WHERE run_id = ? AND cancelled = 0",
            (run_id,),
        )[0]
        n, amount, held, held_amount = (int(x) for x in totals)
        by_program = [
            {"program": p, "department": d, "payments": int(c), "amount": format_fen(int(a))}
            for p, d, c, a in self.db.query(
                "SELECT program, department, COUNT(*), SUM(amount) FROM payments "
                "WHERE run_id = ? AND cancelled = 0 GROUP BY program, department "
                "ORDER BY program",
                (run_id,),
            )
        ]
        by_kind = [
            {"kind": k, "payments": int(c), "amount": format_fen(int(a))}
            for k, c, a in self.db.query(
                "SELECT kind, COUNT(*), SUM(amount) FROM payments WHERE run_id = ? "
                "AND cancelled = 0 GROUP BY kind ORDER BY kind",
                (run_id,),
            )
        ]
        # A hold by an open finding about the case (data comparison, households) names that
        # finding; any other hold raised its own, keyed by type, case and period.
        by_case = {
            (case_id, type_): fid
            for case_id, type_, fid in self.db.query(
                "SELECT case_id, type, finding_id FROM findings WHERE status = 'open' AND "
                "payment_id IS NULL AND case_id IN (SELECT case_id FROM payments WHERE "
                "run_id = ? AND held <> '')",
                (run_id,),
            )
        }
        held_rows = [
            {
                "payment_id": pid,
                "case_id": case_id,
                "kind": kind,
                "amount": format_fen(int(a)),
                "reason": reasons,
                "finding_id": by_case.get((case_id, reasons.split(",")[0]))
                or finding_id(reasons.split(",")[0], case_id, period),
            }
            for pid, case_id, kind, a, reasons, period in self.db.query(
                "SELECT payment_id, case_id, kind, amount, held, period FROM payments "
                "WHERE run_id = ? AND cancelled = 0 AND held <> '' ORDER BY payment_id",
                (run_id,),
            )
        ]
        return {
            "run_id": run_id,
            "period": run.period,
            "status": status if complete or status != "prepared" else "incomplete",
            "prepared_by": prepared_by,
            "approved_by": approved_by,
            "stale": stale.stale,
            "changed_cases": len(stale.cases),
            "totals": {
                "payments": n,
                "amount": format_fen(amount),
                "held": held,
                "held_amount": format_fen(held_amount),
                "payable": n - held,
                "payable_amount": format_fen(amount - held_amount),
            },
            "by_program": by_program,
            "by_kind": by_kind,
            "held": masked_rows(held_rows, viewer),
            "previous": self.previous(run),
        }

    def previous(self, run: PayoutRun) -> dict[str, Any] | None:
        """This run against the last approved run of the same programs for the month before:
        cases added, removed, and paid another amount; the difference in total."""
        before = str(Period.parse(run.period).previous())
        rows = self.db.query(
            f"SELECT run_id FROM runs WHERE period = ? AND scope = ? AND status IN "
            f"{APPROVED_STATUSES} ORDER BY seq DESC LIMIT 1",
            (before, run.scope),
        )
        if not rows:
            return None
        previous = str(rows[0][0])
        now = self._per_case(run.run_id)
        then = self._per_case(previous)
        return {
            "run_id": previous,
            "added_cases": len(now.keys() - then.keys()),
            "removed_cases": len(then.keys() - now.keys()),
            "changed_cases": sum(1 for c in now.keys() & then.keys() if now[c] != then[c]),
            "amount_delta": format_fen(sum(now.values()) - sum(then.values())),
        }

    def _per_case(self, run_id: str) -> dict[str, int]:
        return {
            c: int(a)
            for c, a in self.db.query(
                "SELECT case_id, SUM(amount) FROM payments WHERE run_id = ? AND cancelled = 0 "
                "GROUP BY case_id",
                (run_id,),
            )
        }


def differing_lines(
    run_id: str,
    lines: dict[UUID, ExportLine],
    found: dict[UUID, list[StoredEvent]],
    mapper: PydanticMapper,
) -> list[str]:
    """Which of these lines of a bank file (keyed by their payments' aggregate ids) differ
    from their payments' own events ``found`` (stored, as `Review.lines_with_events` reads
    them: id, run, program, period, kind, amount, date, account, name; not cancelled, not
    held).

    The run's digest (`Tally`) is a sum of hashes: cheap, and it catches a changed row, but a
    sum can be balanced by forged changes to many rows at once; this check of every line
    against its own events cannot. A payment whose only event is its instruction (most of a
    run) is compared with the event's fields as written (`_differs_from_instruction`), the
    others with their events decoded and replayed."""
    out: list[str] = []
    for aggregate_id, x in lines.items():
        stored = found.get(aggregate_id)
        if not stored:
            out.append(f"{x.payment_id} (no such payment in the event log)")
            continue
        if len(stored) == 1 and stored[0].topic == Payment.Instructed.TOPIC:
            if _differs_from_instruction(run_id, x, mapper.data_of(stored[0])):
                out.append(x.payment_id)
            continue
        i, held, cancelled = _as_instructed([mapper.to_domain_event(e) for e in stored])
        recorded = tuple(getattr(i, name) for name in _INSTRUCTION_SHOWN)
        if recorded != _line_shows(run_id, x, x.payment_date) or cancelled or held:
            out.append(x.payment_id)
    return out


def _apart(run: PayoutRun, other_run_id: str) -> bool:
    """Whether another run's events cannot change what ``run`` pays: a supplement run and any
    other run (a supplement pays its own amount once; a monthly run counts no supplement)."""
    return run.supplement is not None or is_supplement_run(other_run_id)


def _differs_from_instruction(run_id: str, x: ExportLine, written: Mapping[str, Any]) -> bool:
    """Whether a line differs from its payment's lone instruction, as written in the log
    (JSON values: the date as its ISO text), or the instruction holds it: what
    `differing_lines` compares, without building the event (an export checks 1.5M lines)."""
    recorded = tuple(written.get(name) for name in _INSTRUCTION_SHOWN)
    shown = _line_shows(run_id, x, x.payment_date.isoformat())
    return recorded != shown or written.get("held") != []


def _line_shows(run_id: str, x: ExportLine, day: object) -> tuple[object, ...]:
    """What a bank file's line shows, in the order of `_INSTRUCTION_SHOWN` (its payment date
    as ``day``: a date, or its ISO text to compare with an event as written)."""
    return (run_id, x.program, x.period, x.kind, x.amount, day, x.account, x.name)


#: The fields of an instruction a bank file's line shows, in the order `differing_lines`
#: compares them.
_INSTRUCTION_SHOWN = (
    "run_id",
    "program",
    "period",
    "kind",
    "amount",
    "payment_date",
    "creditor_account",
    "creditor_name",
)


def _as_instructed(events: Sequence[Any]) -> tuple[Payment.Instructed, tuple[str, ...], bool]:
    """A payment's instruction in force, its holds, and whether it is cancelled, from its
    events. Most payments of a run have one event, their instruction, which is all three (as
    its ``apply`` says): no aggregate is built for them (an export checks 1.5M lines)."""
    if len(events) == 1 and isinstance(events[0], Payment.Instructed):
        return events[0], events[0].held, False
    p = _replay(events)
    return p.instructed, p.held, p.cancelled


def _replay(events: Iterable[Any]) -> Payment:
    """A payment from its events (those `select_events_of` read), as the repository would."""
    aggregate: Any = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate  # type: ignore[no-any-return]
