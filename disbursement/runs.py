"""Payout runs: prepare (entitlements, holds), approve (a second person), release, cancel, export.

Preparing streams the cases in chunks ordered by case_id, computes what each is owed with the
pure rules of `entitlements`, holds payments with a known conflict (`ledger.conflicts`), and
compares that with what the period's unapproved run already holds: payments are added,
amended or cancelled, recoveries raised, revised or withdrawn, until the run pays exactly what a
fresh prepare would. Each batch of changes is recorded in one transaction with the run's event
for it (count, total and digest deltas); the run's ``Completed`` event marks the prepare done
and the log position it is up to date with. A prepare killed half-way leaves a run that cannot
be approved; the next prepare completes that same run.

Approving checks the run against its own events (`disbursement.review`): what the read models
say it pays must be what was recorded, or nothing is approved. Exporting writes the approved
payments and checks the file against the approval before it is put in place.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from eventsourcing.application import AggregateNotFoundError

from disbursement.entitlements import (
    NOTHING_PAID,
    Due,
    EventTimeline,
    FixedTimeline,
    PaidSoFar,
    RecoveryDue,
    Timeline,
    dues,
    entitled,
    supplement_due,
)
from disbursement.export import (
    ExportLine,
    ExportRefused,
    group_lines,
    run_groups,
    write_daifa_csv,
    write_pain001,
)
from disbursement.review import Review, differing_lines
from eligibility.grants import GrantFacts, grant_holds
from ledger.access import AccessRecord, Channel, check_view_reason
from ledger.case import CASE_COLUMNS, CaseState, case_aggregate_id
from ledger.conflicts import (
    Beneficiary,
    Conflict,
    PrePaymentHolds,
    check_duplicate_beneficiary,
    check_shared_account,
)
from ledger.duties import Actor, DutyRefused
from ledger.errors import AidLedgerError, InvalidValue, NotFound
from ledger.events import PydanticMapper
from ledger.grant import GrantRow
from ledger.outputs import OutputRefused, check_target, written_beside
from ledger.payment import (
    ONE_TIME_KINDS,
    BudgetExceeded,
    Finding,
    Payment,
    PayoutRun,
    ReadModelTampered,
    Recovery,
    RunBatch,
    RunClosed,
    SupplementTerms,
    Tally,
    finding_aggregate_id,
    finding_id,
    is_critical,
    payment_aggregate_id,
    payment_id,
    recovery_aggregate_id,
    recovery_id,
    run_aggregate_id,
    run_id_for,
)
from ledger.period import Period
from ledger.programs import ProgramsConfig
from ledger.review import ReviewTerms
from ledger.service import LedgerService
from ledger.store import (
    EventBatch,
    as_date,
    events_table,
    gc_paused,
    log_head,
    param_chunks,
    select_events_of,
    store_files,
)
from projections.bank import RESULTS_JOIN, STATUS, VERSION
from projections.grants import grants_of_people, grants_outside, grants_unpaid
from projections.households import (
    finding_holding_case,
    held_by_findings,
    people_sharing_a_member,
)
from projections.payouts import APPROVED_STATUSES, standing
from projections.registers import config_version_in_force, refuse_while_importing
from projections.reviews import first_config_day

__all__ = ["BudgetExceeded", "Payouts", "PrepareResult", "RunClosed"]

Progress = Callable[[int], None]
#: What one case is owed in a run: payments, and recoveries.
Owed = tuple[Sequence[Due], Sequence[RecoveryDue]]


#: The tables an export reads, analyzed first.
EXPORT_READS = (events_table("postgresql"), "payments", "payment_results", "runs")

#: The tables a prepare reads, analyzed first (`Database.analyze`).
PREPARE_READS = (
    "cases",
    "deaths",
    "last_reviews",
    "household_members",
    "findings",
    "runs",
    "payments",
    "payment_results",
    "recoveries",
)


def check_supplement(terms: SupplementTerms, config: ProgramsConfig, period: Period) -> None:
    """Refuse a supplement's terms that cannot be paid in ``period``'s run: no program, an
    unknown or one-off one (relief is granted, not supplemented), the same program twice, an
    amount of 0.00 or less, no reason, a day after the period (cases not yet known)."""
    if not terms.programs:
        raise InvalidValue("--programs: name at least one program, e.g. dibao,tekun")
    for code in terms.programs:
        if config.program(code).one_off:
            raise InvalidValue(
                f"--programs: {code} is one-off relief, paid by grant (aidledger import "
                "grants): a supplement goes to the cases of monthly programs"
            )
    if len(set(terms.programs)) != len(terms.programs):
        raise InvalidValue("--programs: a program is named twice")
    if terms.amount <= 0:
        raise InvalidValue("--amount must be above 0.00")
    if not terms.reason.strip():
        raise InvalidValue("a supplement needs a reason (--reason), e.g. the notice that grants it")
    if terms.in_effect_on > period.last_day:
        raise InvalidValue(
            f"--in-effect-on {terms.in_effect_on.isoformat()} is after {period}: a supplement "
            "of a month's run pays the cases in effect on a day of that month or before"
        )


@dataclass
class PrepareResult:
    """What a prepare did: the run it filled or brought up to date, and what changed."""

    period: str
    scope: str
    run_id: str | None = None
    new_run: bool = False
    payments: int = 0  # the run's payments after the prepare
    amount: int = 0
    added: int = 0
    amended: int = 0
    cancelled: int = 0
    added_amount: int = 0
    held: int = 0  # payments added or amended held
    recoveries: int = 0  # recoveries raised or revised
    recovery_amount: int = 0
    recoveries_withdrawn: int = 0
    findings: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def changed(self) -> bool:
        return bool(self.added or self.amended or self.cancelled or self.recoveries)


@dataclass
class _CaseRow:
    state: CaseState
    version: int
    died: date | None
    #: The case's last periodic review, and the months it set before the next.
    last_review: date | None = None
    review_months: int | None = None


@dataclass(frozen=True, slots=True)
class _Standing:
    """A payment of the open run, as the read model holds it."""

    payment_id: str
    kind: str
    amount: int
    account: str
    name: str
    id_number: str
    region_code: str
    held: tuple[str, ...]
    released: tuple[str, ...]
    version: int
    payment_date: date | None = None

    @property
    def share(self) -> Tally:
        t = Tally()
        t.add(self.payment_id, self.amount, self.account, self.name)
        return t


@dataclass(frozen=True, slots=True)
class _StandingRecovery:
    recovery_id: str
    amount: int
    paid: int
    owed: int
    reason: str
    version: int


@dataclass
class _ChunkMoney:
    """`_Money` per (case, program) of a chunk of cases, and the version of every payment and
    recovery of those cases that exists (a cancelled one instructed again continues its
    aggregate)."""

    cases: dict[tuple[str, str], _Money] = field(default_factory=lambda: defaultdict(_Money))
    payments: dict[str, int] = field(default_factory=dict)
    recoveries: dict[str, int] = field(default_factory=dict)
    #: Critical holds of payments cancelled while held (their run cancelled, or no longer
    #: due): instructed again, the payment is held again until released.
    critical_before: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Payments standing in other runs than the open one (not cancelled, nor their run).
    elsewhere: set[str] = field(default_factory=set)


@dataclass
class _Money:
    """One case and program's money as the read models hold it, for one prepare."""

    instructed: dict[tuple[Period, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )  # other runs, summed per month and kind
    arrears: dict[Period, int] = field(default_factory=lambda: defaultdict(int))
    sent: dict[Period, int] = field(default_factory=lambda: defaultdict(int))
    #: Other runs' standing recoveries per month: fen asked back, and how many.
    recovered: dict[Period, tuple[int, int]] = field(default_factory=dict)
    mine: dict[str, _Standing] = field(default_factory=dict)  # the open run's payments
    my_recoveries: dict[str, _StandingRecovery] = field(default_factory=dict)

    def paid_so_far(self) -> PaidSoFar:
        return PaidSoFar(
            dict(self.instructed), dict(self.sent), dict(self.recovered), dict(self.arrears)
        )


#: Where a row of `_CASE_COLUMNS_SQL` holds personal values (sealed with a key).
_CASE_ROW_PERSONAL = tuple(
    CASE_COLUMNS.index(c) for c in ("name", "id_number", "bank_account", "account_name")
)
_CASE_COLUMNS_SQL = (
    ", ".join(f"c.{c}" for c in (*CASE_COLUMNS, "start_date", "version"))
    + ", d.date_of_death, lr.reviewed_on, lr.next_review_months"
)


class Payouts(LedgerService):
    """Finance staff's monthly job up to the bank: prepare, approve, release, cancel, export."""

    #: Cases read per query while preparing (keyset pagination).
    chunk_cases = 5000

    @property
    def review(self) -> Review:
        return Review(self.app, self.db, self.config, self.today)

    # -- prepare --------------------------------------------------------------------------

    def prepare(
        self,
        period: Period,
        *,
        program: str | None,
        by: str | Actor,
        progress: Progress | None = None,
    ) -> PrepareResult:
        """Compute the month's payments (regular, arrears, reissues, one-off grants) and
        recoveries into the period's unapproved run (a new one if there is none), bringing it
        up to date."""
        self.sync()
        refuse_while_importing(self.db)
        actor = self.actor(by)
        actor.require("finance", to="prepare a payout run")
        self._refuse_far_period(period)
        programs = [self.config.program(program).code] if program else sorted(self.config.programs)
        self._refuse_out_of_scope(actor, programs)
        first = self._first_periods(programs, period)
        monthly = [p for p in programs if not self.config.programs[p].one_off]
        one_off = [p for p in programs if self.config.programs[p].one_off]

        def owed(row: _CaseRow, timeline: Timeline, had: _Money | None, _c: _ChunkMoney) -> Owed:
            s = row.state
            return dues(
                timeline,
                period=period,
                rule=self.config.programs[s.program].mid_month,
                first_period=first[s.program],
                paid=had.paid_so_far() if had is not None else NOTHING_PAID,
                died=row.died,
            )

        def extras(prepared: _Preparer, result: PrepareResult) -> Iterator[list[Any]]:
            yield from prepared.reissues(programs, result)
            yield from prepared.one_offs(one_off, first, result)

        return self._fill(
            period,
            scope=program or "all",
            cases_of=monthly,
            actor=actor,
            owed=owed,
            extras=extras,
            progress=progress,
        )

    def prepare_supplement(
        self,
        period: Period,
        terms: SupplementTerms,
        *,
        by: str | Actor,
        progress: Progress | None = None,
    ) -> PrepareResult:
        """Prepare a supplement run (一次性生活补贴): ``terms.amount`` per case (or per person of
        the household) to each case of ``terms.programs`` in effect on ``terms.in_effect_on``,
        once. The same terms again bring its unapproved run up to date (or find nothing left
        to pay); other terms under the same programs and reason are refused."""
        self.sync()
        refuse_while_importing(self.db)
        actor = self.actor(by)
        actor.require("finance", to="prepare a supplement run")
        self._refuse_far_period(period)
        check_supplement(terms, self.config, period)
        self._refuse_out_of_scope(actor, terms.programs)
        for standing_run in self._runs_of(period, terms.scope):
            standing_run.check_same_supplement(terms)

        def owed(row: _CaseRow, timeline: Timeline, _had: _Money | None, c: _ChunkMoney) -> Owed:
            s = row.state
            pid = payment_id(s.case_id, s.program, str(period), "supplement", key=terms.key)
            amount = supplement_due(
                timeline, amount=terms.amount, per=terms.per, on=terms.in_effect_on
            )
            if amount <= 0 or pid in c.elsewhere:
                return [], []
            return [Due(period, "supplement", amount, on=terms.in_effect_on)], []

        return self._fill(
            period,
            scope=terms.scope,
            cases_of=list(terms.programs),
            actor=actor,
            owed=owed,
            extras=lambda _p, _r: iter(()),
            progress=progress,
            supplement=terms,
        )

    def _fill(
        self,
        period: Period,
        *,
        scope: str,
        cases_of: Sequence[str],
        actor: Actor,
        owed: Callable[[_CaseRow, Timeline, _Money | None, _ChunkMoney], Owed],
        extras: Callable[[_Preparer, PrepareResult], Iterator[list[Any]]],
        progress: Progress | None,
        supplement: SupplementTerms | None = None,
    ) -> PrepareResult:
        """Fill the period's unapproved run of ``scope`` (a new one if none) with what
        ``owed`` says each case of ``cases_of`` is due, then ``extras``: payments added,
        amended or cancelled until it pays what a fresh prepare would; complete it."""
        through = log_head(self.db)
        # Statistics of what the run reads (PostgreSQL): after a month's bulk import the
        # planner took `cases` for the handful of rows it last saw and sorted the whole
        # register for each chunk of `_case_chunks` (quadratic: 220 s at 1.5M cases).
        self.db.analyze(*PREPARE_READS)
        result = PrepareResult(period=str(period), scope=scope)
        run, next_seq = self._open_run(period, scope)
        run_id = run.run_id if run is not None else run_id_for(str(period), scope, next_seq)
        result.run_id = run.run_id if run is not None else None
        holds = self._holds(period)
        known_findings = {r[0] for r in self.db.query("SELECT finding_id FROM findings")}
        work = RunBatch()

        def run_events(_items: int) -> list[Any]:
            """The run's events for this batch, recorded in the same transaction."""
            nonlocal run, work
            if run is None:
                run = PayoutRun.prepare(
                    actor, period=str(period), scope=scope, seq=next_seq, supplement=supplement
                )
                result.run_id, result.new_run = run.run_id, True
            if not work.empty:
                run.record_batch(actor.staff_id, work)
                work = RunBatch()
            return list(run.collect_events())

        prepared = _Preparer(
            self,
            period,
            actor.staff_id,
            run_id,
            holds,
            known_findings,
            work_of=lambda: work,
            key=supplement.key if supplement is not None else "",
        )
        counted = [0]

        def advanced(_items: int) -> None:
            if progress:
                progress(counted[0])
            counted[0] = 0

        with (
            self.following(self._count_cases(cases_of) > 20_000),
            gc_paused(),
            EventBatch(
                self.app, self.batch_events, before_flush=run_events, after_flush=advanced
            ) as batch,
        ):
            for chunk in self._case_chunks(cases_of):
                money = self._money(chunk, run_id)
                events = select_events_of(
                    self.app,
                    self.db,
                    [case_aggregate_id(r.state.case_id) for r in chunk if r.version > 1],
                )
                for row in chunk:
                    s = row.state
                    timeline: Timeline = (
                        FixedTimeline(s)
                        if row.version == 1
                        else EventTimeline(events[case_aggregate_id(s.case_id)])
                    )
                    had = money.cases.get((s.case_id, s.program))
                    pays, recs = owed(row, timeline, had, money)
                    counted[0] += 1
                    for together in prepared.case(
                        row, timeline, pays, recs, had or _Money(), money, result
                    ):
                        batch.add(*together)
            for together in extras(prepared, result):
                batch.add(*together)
        if run is None:
            return result  # nothing due and no run to bring up to date
        run = self._run(run.run_id)
        result.payments, result.amount = run.payments, run.amount
        if run.complete and not result.changed and not self.review.staleness(run).stale:
            return result  # up to date: nothing to record
        run.finish(
            actor.staff_id,
            through=through,
            added=result.added,
            amended=result.amended,
            cancelled=result.cancelled,
            config=config_version_in_force(self.db, self.today) or "",
        )
        self.app.save(run)
        self.sync()
        return result

    def _refuse_far_period(self, period: Period) -> None:
        limit = Period.of(self.today).next()
        if period > limit:
            raise InvalidValue(
                f"period {period} is more than one month after today ({self.today.isoformat()}): "
                f"the latest period that can be prepared now is {limit} (is the period a typo?)"
            )

    def _refuse_out_of_scope(self, actor: Actor, programs: Sequence[str]) -> None:
        if actor.system or not actor.region or not programs:
            return
        marks = ", ".join("?" * len(programs))
        outside = int(
            self.db.query(
                f"SELECT COUNT(*) FROM cases WHERE program IN ({marks}) "
                "AND substr(region_code, 1, ?) <> ?",
                (*programs, len(actor.region), actor.region),
            )[0][0]
        ) + grants_outside(self.db, programs, actor.region)
        if outside:
            raise DutyRefused(
                f"{actor.staff_id} may not prepare this run: {outside} of its cases are outside "
                f"{actor.staff_id}'s region {actor.region}"
            )

    def _count_cases(self, programs: Sequence[str]) -> int:
        if not programs:
            return 0
        marks = ", ".join("?" * len(programs))
        return int(
            self.db.query(f"SELECT COUNT(*) FROM cases WHERE program IN ({marks})", programs)[0][0]
        )

    def _runs_of(self, period: Period, scope: str) -> list[PayoutRun]:
        """The period's runs of ``scope`` that were not cancelled."""
        return [
            self._run(r[0])
            for r in self.db.query(
                "SELECT run_id FROM runs WHERE period = ? AND scope = ? AND status <> 'cancelled' "
                "ORDER BY seq",
                (str(period), scope),
            )
        ]

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
            return self._run(run_id), int(seq)
        return None, int(seq) + 1

    def _first_periods(self, programs: Sequence[str], period: Period) -> dict[str, Period]:
        """Per program, the period of its first approved run (``period`` if none yet)."""
        firsts = dict(
            self.db.query(
                f"SELECT scope, MIN(period) FROM runs WHERE status IN {APPROVED_STATUSES} "
                "GROUP BY scope"
            )
        )
        out = {}
        for p in programs:
            known = [Period.parse(v) for k, v in firsts.items() if k in (p, "all")]
            out[p] = min([*known, period])
        return out

    def _holds(self, period: Period) -> PrePaymentHolds:
        """The month's pre-payment holds: the checks among its cases (SQL narrows the
        candidates; pure checks decide) and what the checks of each payee need."""
        first, last = period.first_day, period.last_day
        live = (
            "SELECT case_id, program, region_code, id_number, bank_account, account_name "
            "FROM cases WHERE start_date <= ? AND (effective_to IS NULL OR effective_to >= ?)"
        )
        rows = self.db.query(
            f"WITH live AS ({live}) SELECT * FROM live WHERE "
            "id_number IN (SELECT id_number FROM live GROUP BY id_number HAVING COUNT(*) > 1) "
            "OR bank_account IN (SELECT bank_account FROM live GROUP BY bank_account "
            "HAVING COUNT(*) > 1)",
            (last, first),
        )
        people = [Beneficiary(*r) for r in self.db.sealer.open_rows(rows, (3, 4, 5))]
        # Household members count as persons of their case (a member who holds, or is a
        # member of, another case): `projections.households`.
        persons = list(
            dict.fromkeys(
                [*people, *(Beneficiary(*r) for r in people_sharing_a_member(self.db, first, last))]
            )
        )
        staff = self.db.sealer.open_rows(
            self.db.query("SELECT staff_id, id_number, bank_account FROM staff"), (1, 2)
        )
        excludes = {code: p.excludes for code, p in self.config.programs.items()}
        found = [*check_duplicate_beneficiary(persons, excludes), *check_shared_account(people)]
        found += self._finding_holds()
        among: dict[str, list[Conflict]] = defaultdict(list)
        for c in found:
            if c not in among[c.case_id]:
                among[c.case_id].append(c)
        reviews = (
            ReviewTerms.of(self.config, first_config_day(self.db))
            if self.config.reviews.suspend_when_overdue
            else None
        )
        return PrePaymentHolds(
            among, {a: s for s, _, a in staff}, {i: s for s, i, _ in staff}, reviews
        )

    def _finding_holds(self) -> list[Conflict]:
        """Findings about a case (data comparison, households) of a type its program's
        ``hold_on`` names: they hold the case's payments while open or substantiated
        (`projections.households.held_by_findings`)."""
        from ledger.payment import SEVERITY

        types = sorted({t for p in self.config.programs.values() for t in p.hold_on})
        out = []
        for case_id, program, type_, fid, detail in held_by_findings(self.db, types):
            prog = self.config.programs.get(program)
            if prog is not None and type_ in prog.hold_on:
                out.append(
                    Conflict(type_, SEVERITY[type_], case_id, f"finding {fid}: {detail}", fid)
                )
        return out

    def grant_facts(self, paying: Sequence[GrantRow], period: Period) -> GrantFacts:
        """What the holds of these grants' payments look at: deaths and earlier grants of the
        grantees, the staff registry, cases in effect in ``period`` paid to their accounts."""
        people = sorted({g.id_number for g in paying})
        accounts = sorted({g.bank_account for g in paying})
        deaths: dict[str, date] = {}
        others: list[Beneficiary] = []
        sealer = self.db.sealer
        for chunk in param_chunks(sealer.seal_all(people)):
            marks = ", ".join("?" * len(chunk))
            for idn, died in self.db.query(
                f"SELECT id_number, date_of_death FROM deaths WHERE id_number IN ({marks})", chunk
            ):
                day = as_date(died)
                if day is not None:
                    deaths[sealer.open(idn)] = day
        for chunk in param_chunks(sealer.seal_all(accounts)):
            marks = ", ".join("?" * len(chunk))
            others += [
                Beneficiary(*r)
                for r in sealer.open_rows(
                    self.db.query(
                        "SELECT case_id, program, region_code, id_number, bank_account, "
                        "account_name FROM cases WHERE start_date <= ? AND "
                        "(effective_to IS NULL OR "
                        f"effective_to >= ?) AND bank_account IN ({marks})",
                        (period.last_day, period.first_day, *chunk),
                    ),
                    (3, 4, 5),
                )
            ]
        staff = sealer.open_rows(
            self.db.query("SELECT staff_id, id_number, bank_account FROM staff"), (1, 2)
        )
        return GrantFacts(
            deaths=deaths,
            staff_by_account={a: s for s, _, a in staff},
            staff_by_id_number={i: s for s, i, _ in staff},
            others=others,
            history=grants_of_people(self.db, people),
            limits={
                code: (p.max_grants, p.window_months)
                for code, p in self.config.programs.items()
                if p.one_off
            },
        )

    def _case_chunks(self, programs: Sequence[str]) -> Iterator[list[_CaseRow]]:
        """Cases of the programs, ordered by case_id, a chunk at a time (keyset pagination)."""
        after = ""
        marks = ", ".join("?" * len(programs))
        while programs:
            rows = self.db.query(
                f"SELECT {_CASE_COLUMNS_SQL} FROM cases c "
                "LEFT JOIN deaths d ON d.id_number = c.id_number "
                "LEFT JOIN last_reviews lr ON lr.case_id = c.case_id "
                f"WHERE c.program IN ({marks}) AND c.case_id > ? ORDER BY c.case_id LIMIT ?",
                (*programs, after, self.chunk_cases),
            )
            if not rows:
                return
            yield [_case_row(r) for r in self.db.sealer.open_rows(rows, _CASE_ROW_PERSONAL)]
            after = rows[-1][0]

    def _money(self, chunk: Sequence[_CaseRow], run_id: str) -> _ChunkMoney:
        """What the chunk's cases were instructed, sent and charged, per case and program; the
        payments and recoveries of the open run ``run_id`` apart."""
        lo, hi = chunk[0].state.case_id, chunk[-1].state.case_id
        found = _ChunkMoney()
        out = found.cases
        for (
            pid,
            run,
            case_id,
            program,
            period,
            kind,
            amount,
            account,
            name,
            idn,
            region,
            held,
            released,
            cancelled,
            batch,
            run_status,
            exported_batch,
            status,
            version,
            payment_date,
        ) in self.db.sealer.open_rows(
            self.db.query(
                "SELECT p.payment_id, p.run_id, p.case_id, p.program, p.period, p.kind, "
                "p.amount, p.creditor_account, p.creditor_name, p.id_number, p.region_code, "
                "p.held, p.released, p.cancelled, p.batch, r.status, r.exported_batch, "
                f"{STATUS}, {VERSION}, p.payment_date "
                f"FROM payments p JOIN runs r ON r.run_id = p.run_id {RESULTS_JOIN} "
                "WHERE p.case_id >= ? AND p.case_id <= ?",
                (lo, hi),
            ),
            (7, 8, 9),
        ):
            found.payments[pid] = int(version)
            if cancelled or run_status == "cancelled":
                critical = _critical(_types(held))
                if critical:
                    found.critical_before[pid] = critical
                continue
            money = out[(case_id, program)]
            if run == run_id:
                money.mine[pid] = _Standing(
                    pid,
                    kind,
                    int(amount),
                    account,
                    name,
                    idn,
                    region,
                    _types(held),
                    _types(released),
                    int(version),
                    as_date(payment_date),
                )
                continue
            found.elsewhere.add(pid)
            if kind in ONE_TIME_KINDS:
                continue  # paid by a decision of its own, not for the month's entitlement
            month = Period.parse(period)
            money.instructed[(month, kind)] += int(amount)
            if kind == "arrears":
                money.arrears[month] += 1
            if (
                not held
                and batch is not None
                and run_status in ("approved", "exported")
                and int(batch) <= int(exported_batch)
                and status not in ("returned", "rejected", "refunded")
            ):
                money.sent[month] += int(amount)
        for (
            rid,
            run,
            case_id,
            program,
            period,
            amount,
            paid,
            owed,
            reason,
            status,
            version,
            rs,
        ) in self.db.query(
            "SELECT rc.recovery_id, rc.run_id, rc.case_id, rc.program, rc.period, rc.amount, "
            "rc.paid, rc.owed, rc.reason, rc.status, rc.version, r.status FROM recoveries rc "
            "JOIN runs r ON r.run_id = rc.run_id WHERE rc.case_id >= ? AND rc.case_id <= ?",
            (lo, hi),
        ):
            found.recoveries[rid] = int(version)
            if status == "withdrawn" or rs == "cancelled":
                continue
            money = out[(case_id, program)]
            if run == run_id:
                money.my_recoveries[rid] = _StandingRecovery(
                    rid, int(amount), int(paid), int(owed), reason, int(version)
                )
            else:
                month = Period.parse(period)
                asked, count = money.recovered.get(month, (0, 0))
                money.recovered[month] = (asked + int(amount), count + 1)
        return found

    def payment_versions(self, ids: Sequence[str]) -> dict[str, int]:
        """The versions of the payments of ``ids`` that exist (cancelled ones too): a new
        instruction of one of them continues its aggregate."""
        out: dict[str, int] = {}
        for chunk in param_chunks(list(ids)):
            marks = ", ".join("?" * len(chunk))
            for k, v in self.db.query(
                f"SELECT p.payment_id, {VERSION} FROM payments p {RESULTS_JOIN} "
                f"WHERE p.payment_id IN ({marks})",
                chunk,
            ):
                out[k] = int(v)
        return out

    def open_reissues(self, run_id: str) -> dict[str, _Standing]:
        """The standing reissue payments of the open run."""
        return self.open_of_kind(run_id, "reissue")

    def open_of_kind(self, run_id: str, kind: str) -> dict[str, _Standing]:
        """The standing payments of one kind of the open run."""
        rows = self.db.query(
            "SELECT p.payment_id, p.kind, p.amount, p.creditor_account, p.creditor_name, "
            f"p.id_number, p.region_code, p.held, p.released, {VERSION}, p.payment_date "
            f"FROM payments p {RESULTS_JOIN} "
            "WHERE p.run_id = ? AND p.kind = ? AND p.cancelled = 0",
            (run_id, kind),
        )
        rows = self.db.sealer.open_rows(rows, (3, 4, 5))
        return {
            r[0]: _Standing(
                r[0],
                r[1],
                int(r[2]),
                r[3],
                r[4],
                r[5],
                r[6],
                _types(r[7]),
                _types(r[8]),
                int(r[9]),
                as_date(r[10]),
            )
            for r in rows
        }

    def reissues_due(self, programs: Sequence[str], run_id: str) -> list[dict[str, Any]]:
        """Returned or rejected payments whose case now has a corrected account or name, and
        that no standing reissue of another run pays again. ``n``: the reissue's number for
        its case, program and month (1 + those standing elsewhere)."""
        marks = ", ".join("?" * len(programs))
        elsewhere = (
            f"FROM payments x WHERE x.kind = 'reissue' AND x.run_id <> ? AND {standing('x.')}"
        )
        rows = self.db.query(
            f"SELECT p.payment_id, p.case_id, p.program, p.period, p.amount, {VERSION}, "
            "c.region_code, c.bank_account, c.account_name, c.id_number, "
            f"(SELECT COUNT(*) {elsewhere} AND x.case_id = p.case_id AND x.program = p.program "
            "AND x.period = p.period) + 1, d.date_of_death, c.start_date, lr.reviewed_on, "
            "lr.next_review_months "
            f"FROM payments p JOIN cases c ON c.case_id = p.case_id {RESULTS_JOIN} "
            "LEFT JOIN deaths d ON d.id_number = c.id_number "
            "LEFT JOIN last_reviews lr ON lr.case_id = c.case_id "
            f"WHERE pr.status IN ('returned', 'rejected', 'reissued') AND p.program IN ({marks}) "
            f"AND NOT EXISTS (SELECT 1 {elsewhere} AND x.reissue_of = p.payment_id) "
            "AND (c.bank_account <> p.creditor_account OR c.account_name <> p.creditor_name) "
            "ORDER BY p.payment_id",
            (run_id, *programs, run_id),
        )
        rows = self.db.sealer.open_rows(rows, (7, 8, 9))
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
            "died",
            "start_date",
            "last_review",
            "review_months",
        )
        out = []
        for r in rows:
            o = {
                k: (int(v) if k in ("amount", "version", "n") else v)
                for k, v in zip(keys, r, strict=True)
            }
            o["start_date"] = as_date(o["start_date"])
            o["last_review"] = as_date(o["last_review"])
            o["review_months"] = None if o["review_months"] is None else int(o["review_months"])
            out.append(o)
        return out

    # -- approve, release, cancel -----------------------------------------------------------

    def approve(
        self, run_id: str, *, by: str | Actor, override_reason: str | None = None
    ) -> Approval:
        """Second-person approval of a run (or, once approved, of payments released since);
        above a budget only with an explicit, recorded override."""
        self.sync()
        actor = self.actor(by)
        run = self._run(run_id)
        if run.approved_by is not None:
            released = self.review.released_awaiting(run, actor)
            tally = run.approve_releases(
                actor,
                released,
                outside_scope=self.review.outside_scope(run_id, actor),
                over_budget=self.review.over_budget(run, released),
                override_reason=override_reason,
            )
            self.app.save(run)
            self.sync()
            return Approval(run, tally, Tally(), releases=True)
        review = self.review.before_approval(run, actor)
        payable = run.approve(actor, review, override_reason=override_reason)
        self.app.save(run)
        self.sync()
        return Approval(run, payable, review.held)

    def release(self, pid: str, *, by: str | Actor, reason: str) -> Payment:
        """Release a held payment (duties in `Payment.release`); recorded on its findings."""
        self.sync()
        actor = self.actor(by)
        payment = self._payment(pid)
        run = self._run(payment.run_id)
        if run.cancelled:
            raise RunClosed(f"payment {pid}'s run {run.run_id} was cancelled")
        hold = payment.held
        payment.release(
            actor,
            reason=reason,
            run_preparers=run.preparers,
            run_approved=run.approved_by is not None,
            case_parties=self.case_parties(payment.instructed.case_id),
        )
        complete = not payment.held
        findings = []
        case_id = payment.instructed.case_id
        for hold_type in hold:
            fid = finding_id(hold_type, case_id, payment.instructed.period)
            try:
                finding: Finding = self.app.repository.get(finding_aggregate_id(fid))
            except AggregateNotFoundError:
                # Held by a finding about the case itself (data comparison, households).
                holder = finding_holding_case(self.db, case_id, hold_type)
                if holder is None:
                    continue
                finding = self.app.repository.get(finding_aggregate_id(holder))
            finding.record_release(actor, payment_id=pid, reason=reason, complete=complete)
            findings.append(finding)
        self.app.save(payment, *findings)
        self.sync()
        return payment

    def cancel(self, run_id: str, *, by: str | Actor, reason: str) -> PayoutRun:
        """Cancel an unapproved run: none of its payments or recoveries stands any more."""
        self.sync()
        actor = self.actor(by)
        run = self._run(run_id)
        run.cancel(actor, reason=reason, outside_scope=self.review.outside_scope(run_id, actor))
        self.app.save(run)
        self.sync()
        return run

    def refund(self, pid: str, *, by: str | Actor, reason: str) -> None:
        """Mark a returned or rejected payment refunded to the fund (it will not be resent)."""
        self.sync()
        actor = self.actor(by)
        rows = self.db.query(
            f"SELECT {STATUS} FROM payments p {RESULTS_JOIN} WHERE p.payment_id = ?", (pid,)
        )
        payment = self._payment(pid)
        payment.refund(actor, reason=reason, status=rows[0][0] if rows else "instructed")
        self.app.save(payment)
        self.sync()

    # -- export ---------------------------------------------------------------------------

    def export(
        self,
        run_id: str,
        *,
        fmt: str,
        out: Path,
        by: str | Actor,
        encoding: str = "utf-8",
        replace: bool = False,
        now: datetime | None = None,
        reason: str = "",
        channel: Channel = "cli",
    ) -> Exported:
        """Write the bank file of an approved run: the approved payments not yet written (or,
        when all were, all of them again). Returns what was written. The file holds names
        and accounts: its writing is recorded in the access log, with the export (``reason``:
        why, if said).

        ``out`` must not exist (unless ``replace``), nor be the store's own file or a folder
        (`check_target`). The file is written beside it, checked against the approval, the
        export recorded, and only then put in ``out``'s place: on any failure no file is left
        under any name. A failure after the export was recorded (``out`` appeared meanwhile)
        leaves the run exported without a file, never a file the ledger does not know of:
        exporting again writes its approved payments again."""
        self.sync()
        actor = self.actor(by)
        actor.require("finance", to="export a bank file")
        reason = check_view_reason(actor, reason)
        run = self._run(run_id)
        run.check_exporter(actor, self.review.outside_scope(run_id, actor))
        if fmt not in ("pain001", "csv"):
            raise AidLedgerError(f"unknown export format {fmt!r}: use pain001 or csv")
        protected = store_files(self.db.store)
        check_target(out, replace=replace, protected=protected)
        batches = run.batches_to_export()
        run.check_again(batches, reason)
        # Every line is checked against its payment's events (`differing_lines`): a query of
        # the log per 500 payments. Planned on the statistics of an event log never analyzed
        # since the month's bulk writes, each was a parallel scan with JIT: 418 s at 1.3M.
        self.db.analyze(*EXPORT_READS)
        written = Tally()
        mapper = cast(PydanticMapper, self.app.mapper)

        def counted(lines: Iterator[ExportLine]) -> Iterator[ExportLine]:
            """Each line checked against its payment's events before it is written."""
            for chunk, found in self.review.lines_with_events(lines):
                differing = differing_lines(run_id, chunk, found, mapper)
                if differing:
                    raise ReadModelTampered(
                        f"run {run_id}: {len(differing)} payment(s) of the bank file differ "
                        f"from their own events ({', '.join(differing[:5])}"
                        f"{' …' if len(differing) > 5 else ''}). Nothing was written or sent. "
                        "Run aidledger verify, then aidledger projections rebuild, and report "
                        "it: a read-model row was changed outside aidledger"
                    )
                for x in chunk.values():
                    written.add(x.payment_id, x.amount, x.account, x.name)
                    yield x

        groups = run_groups(self.db, run_id, batches)
        recorded = False
        try:
            with written_beside(out, replace=replace, protected=protected) as f:
                if fmt == "pain001":
                    digest = write_pain001(
                        f,
                        run_id,
                        groups,
                        lambda g: counted(group_lines(self.db, run_id, g, batches)),
                        self.config,
                        created=now or datetime.now(UTC),
                    )
                else:
                    lines = (x for g in groups for x in group_lines(self.db, run_id, g, batches))
                    digest = write_daifa_csv(f, counted(lines), self.config, encoding=encoding)
                run.record_export(
                    actor,
                    reason=reason,
                    outside_scope=self.review.outside_scope(run_id, actor),
                    batches=batches,
                    written=written,
                    fmt=fmt,
                    filename=out.name,
                    sha256=digest,
                )
                access = AccessRecord.view(
                    actor,
                    channel=channel,
                    kind="bank_file",
                    subject=f"{out.name} ({run_id}, {written.payments} payments)",
                    reason=reason,
                )
                self.app.save(run, access)
                recorded = True
        except (OutputRefused, OSError) as e:
            if not recorded:
                raise
            raise ExportRefused(
                f"{e}; the export of {run_id} was recorded without its file: export it again "
                "(to another --out) to write its approved payments again"
            ) from None
        self.sync()
        awaiting = self.review.awaiting_count(run_id)
        return Exported(written.payments, written.amount, batches, awaiting, digest)

    def _run(self, run_id: str) -> PayoutRun:
        try:
            return self.app.repository.get(run_aggregate_id(run_id))
        except AggregateNotFoundError:
            raise NotFound(
                f"no payout run {run_id!r} (aidledger payout list shows the runs)"
            ) from None

    def _payment(self, pid: str) -> Payment:
        try:
            return self.app.repository.get(payment_aggregate_id(pid))
        except AggregateNotFoundError:
            raise NotFound(f"no payment {pid!r}") from None


@dataclass(frozen=True)
class Approval:
    """What an approval approved: payable (and held apart), or payments released after it."""

    run: PayoutRun
    payable: Tally
    held: Tally
    releases: bool = False


@dataclass(frozen=True)
class Exported:
    payments: int
    amount: int
    batches: tuple[int, int]
    awaiting: int  # payments released after approval, not yet approved for export
    sha256: str


class _Preparer:
    """The events one prepare records, case by case: what is due against what the open run
    already holds (new, amended, cancelled), with the holds and their findings."""

    def __init__(
        self,
        payouts: Payouts,
        period: Period,
        by: str,
        run_id: str,
        holds: PrePaymentHolds,
        known_findings: set[str],
        *,
        work_of: Callable[[], RunBatch],
        key: str = "",
    ) -> None:
        self.p = payouts
        self.period = period
        self.by = by
        self.run_id = run_id
        self.holds = holds
        self.known_findings = known_findings
        self.work_of = work_of
        #: A supplement run's key (its payments' ids carry it); empty for a monthly run.
        self.key = key

    def case(
        self,
        row: _CaseRow,
        timeline: Timeline,
        pays: Sequence[Any],
        recs: Sequence[Any],
        had: _Money,
        chunk: _ChunkMoney,
        result: PrepareResult,
    ) -> Iterator[list[Any]]:
        """Lists of events, each list to be recorded in one transaction with its share."""
        s = row.state
        prog = self.p.config.programs[s.program]
        mine = dict(had.mine)
        targets = []
        # Who is paid, and where: as the case stands for the month being prepared, for its
        # arrears too (an account of an earlier month may be closed, or may be one the
        # pre-payment checks, which look at the case as it stands, never saw).
        payee = timeline.terms_on(max(timeline.start, self.period.first_day))
        review_due = self.holds.review_due(s.program, s.start, row.last_review, row.review_months)
        for due in pays:
            # A supplement is paid as the case stood on its day.
            to = payee if due.on is None else timeline.terms_on(due.on)
            on = due.on or due.period.first_day
            held = self.holds.of(_beneficiary(to), row.died, on, review_due)
            key = self.key if due.kind == "supplement" else ""
            targets.append(
                (
                    due,
                    to,
                    held,
                    payment_id(s.case_id, s.program, str(due.period), due.kind, due.n, key=key),
                )
            )
        for due, terms, held, pid in targets:
            fields = {
                "payment_id": pid,
                "run_id": self.run_id,
                "case_id": s.case_id,
                "program": s.program,
                "department": prog.department,
                "region_code": terms.region_code,
                "period": str(due.period),
                "kind": due.kind,
                "amount": due.amount,
                "payment_date": self.period.day(prog.payment_day),
                "creditor_account": terms.bank_account,
                "creditor_name": terms.account_name,
                "id_number": terms.id_number,
                "held": tuple(sorted({c.type for c in held})),
            }
            findings = self._findings(
                held, s.case_id, s.program, terms.region_code, str(due.period), pid, due.amount
            )
            standing = mine.pop(pid, None)
            events = self.instruct(
                fields,
                standing,
                chunk.payments.get(pid),
                result,
                held_before=chunk.critical_before.get(pid, frozenset()),
            )
            yield [*events, *findings]
            result.by_kind[due.kind] += due.amount
        for left in mine.values():
            # Reissues and one-off grants are brought up to date by `reissues` and `one_offs`.
            if left.kind not in ("reissue", "one_off"):
                yield self.cancel(left, result)
        yield from self._recoveries(s, prog.department, recs, had, chunk.recoveries, result)

    def instruct(
        self,
        fields: dict[str, Any],
        standing: _Standing | None,
        known: int | None,
        result: PrepareResult,
        *,
        held_before: frozenset[str] = frozenset(),
    ) -> list[Any]:
        """The events that make a payment be as ``fields`` say in the open run.

        A critical hold, once set, is lifted only by its releases (`Payment.release`: two
        people, the second a supervisor), never by a register changed since (a death date
        moved, a staff member's card re-registered) nor by cancelling the run and preparing
        it again: it stays on the payment (``held_before``: a cancelled instance's)."""
        work = self.work_of()
        sticky = _critical(standing.held) if standing is not None else held_before
        fields = {**fields, "held": tuple(sorted(set(fields["held"]) | sticky))}
        pid, held = fields["payment_id"], fields["held"]
        new = Tally()
        new.add(pid, fields["amount"], fields["creditor_account"], fields["creditor_name"])
        if standing is None:
            work.tally = work.tally.plus(new)
            work.added += 1
            result.added += 1
            result.added_amount += fields["amount"]
            if held:
                work.held += 1
                work.held_amount += fields["amount"]
                work.held_ids.append(pid)
                result.held += 1
            if known is None:
                return [Payment.instruction(by=self.by, **fields)]
            return [
                Payment.Reinstructed(
                    originator_id=payment_aggregate_id(pid),
                    originator_version=known + 1,
                    timestamp=Payment.Reinstructed.create_timestamp(),
                    by=self.by,
                    **fields,
                )
            ]
        # A release stands while the hold it lifted is all that would hold the payment.
        if not standing.held and standing.released and set(held) <= set(standing.released):
            held = ()
        before = {
            "amount": standing.amount,
            "creditor_account": standing.account,
            "creditor_name": standing.name,
            "id_number": standing.id_number,
            "region_code": standing.region_code,
            "payment_date": standing.payment_date or fields["payment_date"],
            "held": standing.held,
        }
        after = {k: (held if k == "held" else fields[k]) for k in before}
        if before == after:
            return []
        work.tally = work.tally.minus(standing.share).plus(new)
        work.amended += 1
        result.amended += 1
        if standing.held:
            work.held -= 1
            work.held_amount -= standing.amount
        if held:
            work.held += 1
            work.held_amount += fields["amount"]
            work.held_ids.append(pid)
            result.held += 1
        return [
            Payment.Amended(
                originator_id=payment_aggregate_id(pid),
                originator_version=standing.version + 1,
                timestamp=Payment.Amended.create_timestamp(),
                by=self.by,
                payment_id=pid,
                run_id=self.run_id,
                changes={k: (before[k], after[k]) for k in before if before[k] != after[k]},
                **{k: v for k, v in after.items()},
            )
        ]

    def cancel(self, standing: _Standing, result: PrepareResult) -> list[Any]:
        work = self.work_of()
        work.tally = work.tally.minus(standing.share)
        work.cancelled += 1
        result.cancelled += 1
        if standing.held:
            work.held -= 1
            work.held_amount -= standing.amount
        return [
            Payment.Cancelled(
                originator_id=payment_aggregate_id(standing.payment_id),
                originator_version=standing.version + 1,
                timestamp=Payment.Cancelled.create_timestamp(),
                by=self.by,
                payment_id=standing.payment_id,
                run_id=self.run_id,
                reason="no longer due: a decision recorded since the run was prepared",
            )
        ]

    def _findings(
        self,
        held: Sequence[Conflict],
        case_id: str,
        program: str,
        region_code: str,
        period: str,
        pid: str,
        amount: int,
    ) -> list[Any]:
        out: list[Any] = []
        for c in held:
            if c.finding_id is not None:
                continue  # held by an open finding: that finding is the one to work
            fid = finding_id(c.type, *(c.key or (case_id, period)))
            if fid in self.known_findings:
                continue
            self.known_findings.add(fid)
            raised = Finding.first_event(
                Finding.Raised,
                finding_aggregate_id(fid),
                by=self.by,
                finding_id=fid,
                type=c.type,
                severity=c.severity,
                period=period,
                program=program,
                department=self.p.config.programs[program].department,
                region_code=region_code,
                case_id=case_id,
                payment_id=pid,
                amount=amount,
                detail=f"payment held before export: {c.detail}",
            )
            out.append(raised)
        return out

    def _recoveries(
        self,
        s: CaseState,
        department: str,
        recs: Sequence[Any],
        had: _Money,
        known: dict[str, int],
        result: PrepareResult,
    ) -> Iterator[list[Any]]:
        mine = dict(had.my_recoveries)
        for rec in recs:
            rid = recovery_id(s.case_id, s.program, str(rec.period), rec.n)
            standing = mine.pop(rid, None)
            values = {
                "run_id": self.run_id,
                "amount": rec.amount,
                "paid": rec.paid,
                "owed": rec.owed,
                "reason": rec.reason,
            }
            if standing is None:
                work = self.work_of()
                work.recoveries += 1
                work.recovery_amount += rec.amount
                result.recoveries += 1
                result.recovery_amount += rec.amount
                if rid in known:
                    yield [
                        Recovery.Revised(
                            originator_id=recovery_aggregate_id(rid),
                            originator_version=known[rid] + 1,
                            timestamp=Recovery.Revised.create_timestamp(),
                            by=self.by,
                            recovery_id=rid,
                            **values,
                        )
                    ]
                    continue
                yield list(
                    Recovery._create(
                        Recovery.Raised,
                        id=recovery_aggregate_id(rid),
                        by=self.by,
                        recovery_id=rid,
                        case_id=s.case_id,
                        program=s.program,
                        department=department,
                        region_code=s.region_code,
                        period=str(rec.period),
                        **values,
                    ).collect_events()
                )
            elif (standing.amount, standing.paid, standing.owed, standing.reason) != (
                rec.amount,
                rec.paid,
                rec.owed,
                rec.reason,
            ):
                work = self.work_of()
                work.recovery_amount += rec.amount - standing.amount
                work.amended += 0  # a revised recovery changes no payment
                result.recoveries += 1
                result.recovery_amount += rec.amount
                yield [
                    Recovery.Revised(
                        originator_id=recovery_aggregate_id(rid),
                        originator_version=standing.version + 1,
                        timestamp=Recovery.Revised.create_timestamp(),
                        by=self.by,
                        recovery_id=rid,
                        **values,
                    )
                ]
        for left in mine.values():
            work = self.work_of()
            work.recoveries -= 1
            work.recovery_amount -= left.amount
            work.recoveries_withdrawn += 1
            result.recoveries_withdrawn += 1
            yield [
                Recovery.Withdrawn(
                    originator_id=recovery_aggregate_id(left.recovery_id),
                    originator_version=left.version + 1,
                    timestamp=Recovery.Withdrawn.create_timestamp(),
                    by=self.by,
                    recovery_id=left.recovery_id,
                    reason="no longer owed: a decision recorded since the run was prepared",
                )
            ]

    def one_offs(
        self, programs: Sequence[str], first: Mapping[str, Period], result: PrepareResult
    ) -> Iterator[list[Any]]:
        """Each grant of one-off relief of ``programs`` no standing payment pays yet: one
        ``one_off`` payment for the month it was decided in (its id derived from the grant, so
        it is paid once whatever is prepared or cancelled), held as `grant_holds` says. A grant
        decided before its program's first approved run was paid by the system before."""
        if not programs:
            return
        mine = self.p.open_of_kind(self.run_id, "one_off")
        due = [
            g
            for g in grants_unpaid(self.p.db, programs, self.run_id, self.period)
            if Period.of(g.decided_on) >= first[g.program]
        ]
        holds = grant_holds(due, self.p.grant_facts(due, self.period)) if due else {}
        pids = [
            payment_id(g.grant_id, g.program, str(Period.of(g.decided_on)), "one_off") for g in due
        ]
        known = self.p.payment_versions(pids) if pids else {}
        for g, pid in zip(due, pids, strict=True):
            prog = self.p.config.programs[g.program]
            month = str(Period.of(g.decided_on))
            held = holds.get(g.grant_id, [])
            fields = {
                "payment_id": pid,
                "run_id": self.run_id,
                "case_id": g.grant_id,
                "program": g.program,
                "department": prog.department,
                "region_code": g.region_code,
                "period": month,
                "kind": "one_off",
                "amount": g.amount,
                "payment_date": self.period.day(prog.payment_day),
                "creditor_account": g.bank_account,
                "creditor_name": g.account_name,
                "id_number": g.id_number,
                "held": tuple(sorted({c.type for c in held})),
            }
            findings = self._findings(
                held, g.grant_id, g.program, g.region_code, month, pid, g.amount
            )
            standing = mine.pop(pid, None)
            yield [*self.instruct(fields, standing, known.get(pid), result), *findings]
            result.by_kind["one_off"] += g.amount
        for left in mine.values():
            yield self.cancel(left, result)

    def reissues(self, programs: Sequence[str], result: PrepareResult) -> Iterator[list[Any]]:
        """Returned or rejected payments whose case now has a corrected account or name, paid
        again (kind reissue); those of the open run no longer due are cancelled."""
        mine = self.p.open_reissues(self.run_id)
        due = self.p.reissues_due(programs, self.run_id)
        fresh = [
            payment_id(o["case_id"], o["program"], o["period"], "reissue", o["n"]) for o in due
        ]
        known = self.p.payment_versions(fresh) if fresh else {}
        timelines = self._timelines({o["case_id"] for o in due})
        for original, pid in zip(due, fresh, strict=True):
            prog = self.p.config.programs[original["program"]]
            # Never more than the month is owed now (a back-dated end or decrease since).
            month = Period.parse(original["period"])
            owed = entitled(timelines[original["case_id"]], month, prog.mid_month)
            amount = min(original["amount"], owed)
            if amount <= 0:
                continue
            payee = Beneficiary(
                original["case_id"],
                original["program"],
                original["region_code"],
                original["id_number"],
                original["bank_account"],
                original["account_name"],
            )
            # Held as the month's first payment was, an overdue review included.
            review_due = self.holds.review_due(
                original["program"],
                original["start_date"],
                original["last_review"],
                original["review_months"],
            )
            held = self.holds.of(payee, as_date(original["died"]), month.first_day, review_due)
            fields = {
                "payment_id": pid,
                "run_id": self.run_id,
                "case_id": original["case_id"],
                "program": original["program"],
                "department": prog.department,
                "region_code": original["region_code"],
                "period": original["period"],
                "kind": "reissue",
                "amount": amount,
                "payment_date": self.period.day(prog.payment_day),
                "creditor_account": original["bank_account"],
                "creditor_name": original["account_name"],
                "id_number": original["id_number"],
                "held": tuple(sorted({c.type for c in held})),
                "reissue_of": original["payment_id"],
            }
            standing = mine.pop(pid, None)
            events = self.instruct(fields, standing, known.get(pid), result)
            events += self._findings(
                held,
                payee.case_id,
                payee.program,
                payee.region_code,
                original["period"],
                pid,
                amount,
            )
            if standing is None:
                result.by_kind["reissue"] += amount
                events.append(
                    Payment.Reissued(
                        originator_id=payment_aggregate_id(original["payment_id"]),
                        originator_version=original["version"] + 1,
                        timestamp=Payment.Reissued.create_timestamp(),
                        by=self.by,
                        payment_id=original["payment_id"],
                        reissue_payment_id=pid,
                        run_id=self.run_id,
                    )
                )
            if events:
                yield events
        for left in mine.values():
            yield self.cancel(left, result)

    def _timelines(self, case_ids: set[str]) -> dict[str, Timeline]:
        """The cases' timelines, from their events."""
        ids = {case_aggregate_id(c): c for c in case_ids}
        found = select_events_of(self.p.app, self.p.db, list(ids))
        return {ids[a]: EventTimeline(events) for a, events in found.items()}


def _critical(hold_types: Iterable[str]) -> frozenset[str]:
    return frozenset(t for t in hold_types if is_critical([t]))


def _types(text: str | None) -> tuple[str, ...]:
    return tuple(t for t in (text or "").split(",") if t)


#: A prepare's case row: the case's columns, then these.
_CASE_ROW_NAMES = (*CASE_COLUMNS, "start_date", "version", "died", "last_review", "review_months")
#: Where each of `CaseState`'s plain fields is in that row (the two dates apart).
_STATE_AT = tuple(
    (c, i) for i, c in enumerate(CASE_COLUMNS) if c not in ("effective_from", "effective_to")
)
_FROM, _TO, _START = (
    _CASE_ROW_NAMES.index(c) for c in ("effective_from", "effective_to", "start_date")
)


def _case_row(r: Sequence[Any]) -> _CaseRow:
    """One row of `_case_chunks`, typed (a province's prepare reads 1.5M: positions worked out
    once, not a dict per row)."""
    if len(r) != len(_CASE_ROW_NAMES):
        raise ValueError(f"a case row of {len(r)} columns, not {len(_CASE_ROW_NAMES)}")
    state = CaseState(
        **{c: r[i] for c, i in _STATE_AT},
        effective_from=as_date(r[_FROM]),  # type: ignore[arg-type]
        effective_to=as_date(r[_TO]),
        start=as_date(r[_START]),  # type: ignore[arg-type]
    )
    state.household_size = int(state.household_size)
    state.monthly_amount = int(state.monthly_amount)
    version, died, last_review, months = r[_START + 1 :]
    return _CaseRow(
        state,
        int(version),
        as_date(died),
        as_date(last_review),
        None if months is None else int(months),
    )


def _beneficiary(s: CaseState) -> Beneficiary:
    return Beneficiary(
        s.case_id, s.program, s.region_code, s.id_number, s.bank_account, s.account_name
    )
