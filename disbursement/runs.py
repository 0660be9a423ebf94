"""Payout runs: prepare (entitlements and pre-payment checks), approve (a second person), release.

Preparing streams the cases in chunks ordered by case_id, computes what each is owed with the
pure rules of `entitlements`, holds payments with a known conflict (`checks`), and saves the
new payment, recovery and finding aggregates in batches, each batch in one transaction with
the run's `PaymentsAdded` event. Because every id is derived from its facts, preparing again
(or after a crash half-way) creates only what is missing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from disbursement.entitlements import (
    NOTHING_PAID,
    EventTimeline,
    FixedTimeline,
    PaidSoFar,
    Timeline,
    dues,
)
from disbursement.export import group_lines, run_groups, write_daifa_csv, write_pain001
from ledger.case import CASE_COLUMNS, CaseState, case_aggregate_id
from ledger.conflicts import (
    Beneficiary,
    Conflict,
    check_dead,
    check_duplicate_beneficiary,
    check_shared_account,
    check_staff_account,
)
from ledger.errors import AidLedgerError, NotAuthorised, NotFound
from ledger.money import format_fen
from ledger.payment import (
    Finding,
    Payment,
    PayoutRun,
    Recovery,
    finding_aggregate_id,
    finding_id,
    payment_aggregate_id,
    payment_id,
    recovery_aggregate_id,
    recovery_id,
    run_aggregate_id,
    run_id_for,
)
from ledger.period import Period
from ledger.service import LedgerService
from ledger.store import EventBatch, as_date, gc_paused, select_events_of
from projections.bank import RESULTS_JOIN, STATUS, VERSION

Progress = Callable[[int], None]


class BudgetExceeded(AidLedgerError):
    """Approving would take a month above a configured budget, and no override was given."""


class RunClosed(AidLedgerError):
    """The run is not in a state that allows this (already approved, not approved, ...)."""


@dataclass
class PrepareResult:
    """What a prepare did: the run it filled and the totals it added."""

    period: str
    scope: str
    run_id: str | None = None
    new_run: bool = False
    payments: int = 0
    amount: int = 0
    held: int = 0
    recoveries: int = 0
    recovery_amount: int = 0
    findings: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class _CaseRow:
    state: CaseState
    version: int
    died: date | None


_CASE_COLUMNS_SQL = (
    ", ".join(f"c.{c}" for c in (*CASE_COLUMNS, "start_date", "version")) + ", d.date_of_death"
)


class Payouts(LedgerService):
    """Finance staff's monthly job up to the bank: prepare, approve, release, export."""

    #: Cases read per query while preparing (keyset pagination).
    chunk_cases = 5000

    # -- prepare --------------------------------------------------------------------------

    def prepare(
        self, period: Period, *, program: str | None, by: str, progress: Progress | None = None
    ) -> PrepareResult:
        """Compute the month's payments (regular, arrears) and recoveries into a run."""
        self.sync()
        self.require_staff(by)
        programs = [self.config.program(program).code] if program else sorted(self.config.programs)
        scope = program or "all"
        result = PrepareResult(period=str(period), scope=scope)
        run, next_seq = self._open_run(period, scope)
        if run is not None:
            result.run_id = run.run_id
        first = self._first_periods(programs, period)
        conflicts = self._conflicts(period)
        known_findings = {r[0] for r in self.db.query("SELECT finding_id FROM findings")}
        counts: dict[str, int] = defaultdict(int)
        planned_run_id = run.run_id if run is not None else run_id_for(str(period), scope, next_seq)

        def run_totals(_items: int) -> list[Any]:
            """The run's events for this batch, recorded in the same transaction."""
            nonlocal run
            if run is None:
                run = PayoutRun.prepare(period=str(period), scope=scope, seq=next_seq, by=by)
                result.run_id, result.new_run = run.run_id, True
            run.trigger_event(
                PayoutRun.PaymentsAdded,
                by=by,
                run_id=run.run_id,
                **{k: counts.pop(k, 0) for k in ("payments", "amount", "held", "recoveries")},
            )
            return list(run.collect_events())

        def advanced(_items: int) -> None:
            if progress:
                progress(counts.pop("cases", 0))

        with (
            self.following(self._count_cases(programs) > 20_000),
            gc_paused(),
            EventBatch(
                self.app, self.batch_events, before_flush=run_totals, after_flush=advanced
            ) as batch,
        ):
            for chunk in self._case_chunks(programs):
                paid = self._paid_so_far(chunk)
                events = select_events_of(
                    self.app,
                    self.db,
                    [case_aggregate_id(r.state.case_id) for r in chunk if r.version > 1],
                )
                for row in chunk:
                    s = row.state
                    prog = self.config.programs[s.program]
                    timeline: Timeline = (
                        FixedTimeline(s)
                        if row.version == 1
                        else EventTimeline(events[case_aggregate_id(s.case_id)])
                    )
                    pays, recs = dues(
                        timeline,
                        period=period,
                        rule=prog.mid_month,
                        first_period=first[s.program],
                        paid=paid.get((s.case_id, s.program), NOTHING_PAID),
                        died=row.died,
                    )
                    counts["cases"] += 1
                    for due in pays:
                        terms = timeline.terms_on(max(timeline.start, due.period.first_day))
                        held = list(conflicts.get(s.case_id, []))
                        if row.died is not None:
                            held += check_dead(
                                [_beneficiary(terms)], {s.id_number: row.died}, due.period.first_day
                            )
                        pid = payment_id(s.case_id, s.program, str(due.period), due.kind)
                        # The payment, its findings and its share of the run's totals go into
                        # one batch.add: a flush (a transaction) never splits them, so a kill
                        # between transactions loses none of them.
                        together: list[Any] = [
                            Payment.instruction(
                                by=by,
                                payment_id=pid,
                                run_id=planned_run_id,
                                case_id=s.case_id,
                                program=s.program,
                                department=prog.department,
                                region_code=terms.region_code,
                                period=str(due.period),
                                kind=due.kind,
                                amount=due.amount,
                                payment_date=period.day(prog.payment_day),
                                creditor_account=terms.bank_account,
                                creditor_name=terms.account_name,
                                id_number=terms.id_number,
                                held=tuple(sorted({c.type for c in held})),
                            )
                        ]
                        counts["payments"] += 1
                        counts["amount"] += due.amount
                        result.payments += 1
                        result.amount += due.amount
                        result.by_kind[due.kind] += due.amount
                        if held:
                            counts["held"] += 1
                            result.held += 1
                        for c in held:
                            fid = finding_id(c.type, s.case_id, str(due.period))
                            if fid not in known_findings:
                                known_findings.add(fid)
                                finding = self._finding(
                                    fid, c, s, str(due.period), pid, due.amount, by
                                )
                                together += finding.collect_events()
                                result.findings += 1
                        batch.add(*together)
                    for rec in recs:
                        rid = recovery_id(s.case_id, s.program, str(rec.period))
                        counts["recoveries"] += 1
                        result.recoveries += 1
                        result.recovery_amount += rec.amount
                        batch.add_aggregate(
                            Recovery._create(
                                Recovery.Raised,
                                id=recovery_aggregate_id(rid),
                                by=by,
                                recovery_id=rid,
                                run_id=planned_run_id,
                                case_id=s.case_id,
                                program=s.program,
                                department=prog.department,
                                region_code=s.region_code,
                                period=str(rec.period),
                                amount=rec.amount,
                                paid=rec.paid,
                                owed=rec.owed,
                                reason=rec.reason,
                            )
                        )
            for original in self._reissues_due(programs):
                prog = self.config.programs[original["program"]]
                pid = payment_id(
                    original["case_id"],
                    original["program"],
                    original["period"],
                    "reissue",
                    original["n"],
                )
                counts["payments"] += 1
                counts["amount"] += original["amount"]
                result.payments += 1
                result.amount += original["amount"]
                result.by_kind["reissue"] += original["amount"]
                batch.add(
                    Payment.instruction(
                        by=by,
                        payment_id=pid,
                        run_id=planned_run_id,
                        case_id=original["case_id"],
                        program=original["program"],
                        department=prog.department,
                        region_code=original["region_code"],
                        period=original["period"],
                        kind="reissue",
                        amount=original["amount"],
                        payment_date=period.day(prog.payment_day),
                        creditor_account=original["bank_account"],
                        creditor_name=original["account_name"],
                        id_number=original["id_number"],
                        reissue_of=original["payment_id"],
                    ),
                    Payment.Reissued(
                        originator_id=payment_aggregate_id(original["payment_id"]),
                        originator_version=original["version"] + 1,
                        timestamp=Payment.Reissued.create_timestamp(),
                        by=by,
                        payment_id=original["payment_id"],
                        reissue_payment_id=pid,
                        run_id=planned_run_id,
                    ),
                )
        self.sync()
        return result

    def _reissues_due(self, programs: Sequence[str]) -> list[dict[str, Any]]:
        """Returned or rejected payments whose case now has a corrected account or name."""
        marks = ", ".join("?" * len(programs))
        rows = self.db.query(
            f"SELECT p.payment_id, p.case_id, p.program, p.period, p.amount, {VERSION}, "
            "c.region_code, c.bank_account, c.account_name, c.id_number, "
            "(SELECT COUNT(*) FROM payments r WHERE r.case_id = p.case_id AND "
            " r.program = p.program AND r.period = p.period AND r.kind = 'reissue') + 1 "
            f"FROM payments p JOIN cases c ON c.case_id = p.case_id {RESULTS_JOIN} "
            f"WHERE pr.status IN ('returned', 'rejected') AND p.program IN ({marks}) "
            "AND (c.bank_account <> p.creditor_account OR c.account_name <> p.creditor_name) "
            "ORDER BY p.payment_id",
            programs,
        )
        keys = (
            "payment_id",
            "case_id",
            "program",
            "period",
            "amount",
            "version",
            "region_code",
            "bank_account",
            "account_name",
            "id_number",
            "n",
        )
        return [
            {
                k: (int(v) if k in ("amount", "version", "n") else v)
                for k, v in zip(keys, r, strict=True)
            }
            for r in rows
        ]

    def refund(self, pid: str, *, by: str, reason: str) -> None:
        """Mark a returned or rejected payment refunded to the fund (it will not be resent)."""
        self.sync()
        self.require_staff(by)
        rows = self.db.query(
            f"SELECT {STATUS} FROM payments p {RESULTS_JOIN} WHERE p.payment_id = ?", (pid,)
        )
        if not rows:
            raise NotFound(f"no payment {pid!r}")
        if rows[0][0] not in ("returned", "rejected"):
            raise RunClosed(
                f"payment {pid} is {rows[0][0]}: only a returned or rejected "
                "payment can be marked refunded"
            )
        if not reason.strip():
            raise AidLedgerError("a refund needs a reason")
        payment: Payment = self.app.repository.get(payment_aggregate_id(pid))
        payment.trigger_event(Payment.Refunded, by=by, payment_id=pid, reason=reason)
        self.app.save(payment)
        self.sync()

    def _count_cases(self, programs: Sequence[str]) -> int:
        marks = ", ".join("?" * len(programs))
        return int(
            self.db.query(f"SELECT COUNT(*) FROM cases WHERE program IN ({marks})", programs)[0][0]
        )

    def _finding(
        self, fid: str, c: Conflict, s: CaseState, period: str, pid: str, amount: int, by: str
    ) -> Finding:
        return Finding._create(
            Finding.Raised,
            id=finding_aggregate_id(fid),
            by=by,
            finding_id=fid,
            type=c.type,
            severity=c.severity,
            period=period,
            program=s.program,
            department=self.config.programs[s.program].department,
            region_code=s.region_code,
            case_id=s.case_id,
            payment_id=pid,
            amount=amount,
            detail=f"payment held before export: {c.detail}",
        )

    def _open_run(self, period: Period, scope: str) -> tuple[PayoutRun | None, int]:
        """The still-unapproved run for this period and scope, or the next sequence number."""
        rows = self.db.query(
            "SELECT run_id, seq, status FROM runs WHERE period = ? AND scope = ? "
            "ORDER BY seq DESC LIMIT 1",
            (str(period), scope),
        )
        if not rows:
            return None, 1
        run_id, seq, status = rows[0]
        if status == "prepared":
            return self.app.repository.get(run_aggregate_id(run_id)), int(seq)
        return None, int(seq) + 1

    def _first_periods(self, programs: Sequence[str], period: Period) -> dict[str, Period]:
        """Per program, the period of its first approved run (``period`` if none yet)."""
        firsts = dict(
            self.db.query(
                "SELECT scope, MIN(period) FROM runs WHERE status <> 'prepared' GROUP BY scope"
            )
        )
        out = {}
        for p in programs:
            known = [Period.parse(v) for k, v in firsts.items() if k in (p, "all")]
            out[p] = min([*known, period])
        return out

    def _conflicts(self, period: Period) -> dict[str, list[Conflict]]:
        """Pre-payment conflicts per case_id (SQL narrows the candidates; pure checks decide)."""
        first, last = period.first_day, period.last_day
        live = (
            "SELECT case_id, program, region_code, id_number, bank_account, account_name "
            "FROM cases WHERE start_date <= ? AND (effective_to IS NULL OR effective_to >= ?)"
        )
        rows = self.db.query(
            f"WITH live AS ({live}) SELECT * FROM live WHERE "
            "id_number IN (SELECT id_number FROM live GROUP BY id_number HAVING COUNT(*) > 1) "
            "OR bank_account IN (SELECT bank_account FROM live GROUP BY bank_account "
            "HAVING COUNT(*) > 1) "
            "OR id_number IN (SELECT id_number FROM staff) "
            "OR bank_account IN (SELECT bank_account FROM staff)",
            (last, first),
        )
        people = [Beneficiary(*r) for r in rows]
        staff = self.db.query("SELECT staff_id, id_number, bank_account FROM staff")
        excludes = {code: p.excludes for code, p in self.config.programs.items()}
        found = [
            *check_duplicate_beneficiary(people, excludes),
            *check_shared_account(people),
            *check_staff_account(people, {a: s for s, _, a in staff}, {i: s for s, i, _ in staff}),
        ]
        out: dict[str, list[Conflict]] = defaultdict(list)
        for c in found:
            out[c.case_id].append(c)
        return out

    def _case_chunks(self, programs: Sequence[str]) -> Iterator[list[_CaseRow]]:
        """Cases of the programs, ordered by case_id, a chunk at a time (keyset pagination)."""
        after = ""
        marks = ", ".join("?" * len(programs))
        while True:
            rows = self.db.query(
                f"SELECT {_CASE_COLUMNS_SQL} FROM cases c "
                "LEFT JOIN deaths d ON d.id_number = c.id_number "
                f"WHERE c.program IN ({marks}) AND c.case_id > ? ORDER BY c.case_id LIMIT ?",
                (*programs, after, self.chunk_cases),
            )
            if not rows:
                return
            yield [_case_row(r) for r in rows]
            after = rows[-1][0]

    def _paid_so_far(self, chunk: Sequence[_CaseRow]) -> dict[tuple[str, str], PaidSoFar]:
        lo, hi = chunk[0].state.case_id, chunk[-1].state.case_id
        instructed: dict[tuple[str, str], dict[tuple[Period, str], int]] = defaultdict(dict)
        approved: dict[tuple[str, str], dict[Period, int]] = defaultdict(lambda: defaultdict(int))
        for case_id, program, period, kind, amount, is_approved in self.db.query(
            "SELECT p.case_id, p.program, p.period, p.kind, p.amount, r.status <> 'prepared' "
            "FROM payments p JOIN runs r ON r.run_id = p.run_id "
            "WHERE p.case_id >= ? AND p.case_id <= ?",
            (lo, hi),
        ):
            key, month = (case_id, program), Period.parse(period)
            instructed[key][(month, kind)] = int(amount)
            if is_approved and kind in ("regular", "arrears"):
                approved[key][month] += int(amount)
        recovered: dict[tuple[str, str], set[Period]] = defaultdict(set)
        for case_id, program, period in self.db.query(
            "SELECT case_id, program, period FROM recoveries WHERE case_id >= ? AND case_id <= ?",
            (lo, hi),
        ):
            recovered[(case_id, program)].add(Period.parse(period))
        keys = set(instructed) | set(recovered)
        return {
            k: PaidSoFar(
                instructed.get(k, {}), dict(approved.get(k, {})), frozenset(recovered.get(k, set()))
            )
            for k in keys
        }

    # -- approve and release ---------------------------------------------------------------

    def approve(self, run_id: str, *, by: str, override_reason: str | None = None) -> PayoutRun:
        """Second-person approval; above a budget only with an explicit, recorded override."""
        self.sync()
        self.require_staff(by)
        run = self._run(run_id)
        if run.approved_by is not None:
            raise RunClosed(f"run {run_id} was already approved by {run.approved_by}")
        if by in run.preparers:
            raise NotAuthorised(
                f"{by} prepared run {run_id}: a second person must approve it (maker-checker)"
            )
        payments, amount = self.db.query(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM payments "
            "WHERE run_id = ? AND held = ''",
            (run_id,),
        )[0]
        over = self._over_budget(run)
        if over and not override_reason:
            raise BudgetExceeded(
                f"approving {run_id} exceeds the monthly budget: {'; '.join(over)}. "
                "Approve with --override-reason to record why."
            )
        run.trigger_event(
            PayoutRun.Approved,
            by=by,
            run_id=run_id,
            payments=int(payments),
            amount=int(amount),
            over_budget=tuple(over),
            override_reason=override_reason if over else None,
        )
        self.app.save(run)
        self.sync()
        return run

    def _over_budget(self, run: PayoutRun) -> list[str]:
        totals = self.db.query(
            "SELECT p.program, p.department, SUM(p.amount) FROM payments p "
            "JOIN runs r ON r.run_id = p.run_id "
            "WHERE r.period = ? AND p.held = '' AND (r.status <> 'prepared' OR p.run_id = ?) "
            "GROUP BY p.program, p.department",
            (run.period, run.run_id),
        )
        over = []
        by_department: dict[str, int] = defaultdict(int)
        for program, department, total in totals:
            by_department[department] += int(total)
            budget = self.config.programs[program].budget_fen
            if budget is not None and int(total) > budget:
                over.append(f"{program} {format_fen(int(total))} > budget {format_fen(budget)}")
        for department, total in sorted(by_department.items()):
            budget = self.config.departments[department].budget_fen
            if budget is not None and total > budget:
                over.append(f"{department} {format_fen(total)} > budget {format_fen(budget)}")
        return over

    def release(self, pid: str, *, by: str, reason: str) -> Payment:
        """Release a held payment for export: another person than the preparer, with a reason."""
        self.sync()
        self.require_staff(by)
        if not reason.strip():
            raise AidLedgerError("a release needs a reason")
        try:
            payment: Payment = self.app.repository.get(payment_aggregate_id(pid))
        except AggregateNotFoundError:
            raise NotFound(f"no payment {pid!r}") from None
        if not payment.held:
            raise RunClosed(f"payment {pid} is not held")
        run = self._run(payment.instructed.run_id)
        if by in run.preparers:
            raise NotAuthorised(f"{by} prepared run {run.run_id}: another person must release")
        payment.release(by=by, reason=reason)
        self.app.save(payment)
        self.sync()
        return payment

    # -- export ---------------------------------------------------------------------------

    def export(
        self,
        run_id: str,
        *,
        fmt: str,
        out: Path,
        by: str,
        encoding: str = "utf-8",
        now: datetime | None = None,
    ) -> tuple[int, int]:
        """Write the bank file of an approved run; returns (payments, amount). Recorded."""
        self.sync()
        run = self._run(run_id)
        if run.approved_by is None:
            raise RunClosed(f"run {run_id} is not approved: only approved runs are exported")
        if fmt not in ("pain001", "csv"):
            raise AidLedgerError(f"unknown export format {fmt!r}: use pain001 or csv")
        groups = run_groups(self.db, run_id)
        tmp = out.with_name(out.name + ".part")
        with tmp.open("wb") as f:
            if fmt == "pain001":
                digest = write_pain001(
                    f,
                    run_id,
                    groups,
                    lambda g: group_lines(self.db, run_id, g),
                    self.config,
                    created=now or datetime.now(UTC),
                )
            else:
                lines = (x for g in groups for x in group_lines(self.db, run_id, g))
                digest = write_daifa_csv(f, lines, self.config, encoding=encoding)
        tmp.replace(out)  # never leave a half-written bank file under the real name
        count, amount = sum(g.count for g in groups), sum(g.amount for g in groups)
        run.trigger_event(
            PayoutRun.Exported,
            by=by,
            run_id=run_id,
            format=fmt,
            filename=out.name,
            sha256=digest,
            payments=count,
            amount=amount,
        )
        self.app.save(run)
        self.sync()
        return count, amount

    def _run(self, run_id: str) -> PayoutRun:
        try:
            return self.app.repository.get(run_aggregate_id(run_id))
        except AggregateNotFoundError:
            raise NotFound(f"no payout run {run_id!r}") from None


def _case_row(r: Sequence[Any]) -> _CaseRow:
    values = dict(zip((*CASE_COLUMNS, "start_date", "version", "died"), r, strict=True))
    state = CaseState(
        **{c: values[c] for c in CASE_COLUMNS if c not in ("effective_from", "effective_to")},
        effective_from=as_date(values["effective_from"]),  # type: ignore[arg-type]
        effective_to=as_date(values["effective_to"]),
        start=as_date(values["start_date"]),  # type: ignore[arg-type]
    )
    state.household_size = int(state.household_size)
    state.monthly_amount = int(state.monthly_amount)
    return _CaseRow(state, int(values["version"]), as_date(values["died"]))


def _beneficiary(s: CaseState) -> Beneficiary:
    return Beneficiary(
        s.case_id, s.program, s.region_code, s.id_number, s.bank_account, s.account_name
    )
