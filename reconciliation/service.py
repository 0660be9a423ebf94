"""Reconciling a period, and working the findings it raises.

`reconcile` runs every check of `checks` over the period's payments (approved runs, not held)
and the bank entries that matched nothing. A finding is raised once (its id is derived from
type and subject); re-running raises nothing twice; a finding whose cause disappears is kept,
and one resolved as corrected or recovered is reopened if its cause is found again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.access import Viewer
from ledger.conflicts import Beneficiary
from ledger.duties import SCHEDULER, Actor
from ledger.errors import NotFound
from ledger.masking import masked_rows
from ledger.payment import Finding, Parties, Payment, finding_aggregate_id, finding_id
from ledger.period import Period
from ledger.review import OVERDUE_FINDING
from ledger.sealing import CLEAR, Sealer
from ledger.service import LedgerService
from ledger.store import Database, EventBatch, as_date, gc_paused, param_chunks, record_job
from projections.bank import EXECUTIONS, RESULTS_JOIN, STATUS
from projections.payouts import APPROVED_RUN, FINDING_COLUMNS
from projections.registers import refuse_while_importing
from reconciliation import checks
from reconciliation.checks import Draft, ForeignEntry, PaymentView, UnmatchedEntry

#: Resolutions after which the same cause found again reopens the finding.
REOPEN_AFTER = ("corrected", "recovered")

_VIEW_SQL = (
    "SELECT p.payment_id, p.case_id, p.program, p.department, p.region_code, p.period, p.kind, "
    f"p.amount, p.payment_date, p.creditor_account, p.creditor_name, p.id_number, {STATUS}, "
    f"{EXECUTIONS}, pr.executed_amount, pr.executed_on, pr.reported_account, pr.reported_name, "
    "pr.result_on, pr.result_reason, r.status = 'exported', p.reissue_of, d.date_of_death "
    f"FROM payments p JOIN runs r ON r.run_id = p.run_id {RESULTS_JOIN} "
    "LEFT JOIN deaths d ON d.id_number = p.id_number "
    "WHERE p.period = ? AND r.status <> 'prepared' AND p.held = ''"
)
#: The payments a per-payment check can raise a finding on, as a condition on `_VIEW_SQL`'s
#: rows: each line is a necessary condition of one check (what the check asks, loosened where
#: the rule has more to it), so what it leaves out the checks would pass. A month of clean
#: results leaves out nearly all of a province's 1.5M payments, which otherwise would each be
#: read into Python to raise nothing. The parameter: the last payment day that can have a
#: result missing (``as_of - missing_result_days - 1``).
_WORTH_CHECKING = (
    "pr.executions > 1"  # duplicate_payment (one payment executed twice)
    " OR pr.executed_amount <> p.amount"  # amount_mismatch
    " OR (pr.reported_account <> '' AND pr.reported_account <> p.creditor_account)"  # account
    " OR pr.reported_name <> p.creditor_name"  # name_mismatch (which ignores spaces)
    " OR pr.executed_on > p.payment_date"  # late_payment
    f" OR ({STATUS} = 'instructed' AND p.payment_date <= ?)"  # missing_result
    " OR pr.status IN ('returned', 'rejected')"  # returned_not_reissued
    " OR d.date_of_death IS NOT NULL"  # paid_after_death
)


@dataclass
class ReconcileResult:
    period: str
    as_of: str
    payments: int = 0
    raised: dict[str, int] = field(default_factory=dict)
    reopened: int = 0
    open_total: int = 0


#: Where a row of `_VIEW_SQL` holds personal values (sealed with a key: `ledger.sealing`).
_VIEW_PERSONAL = (9, 10, 11, 16, 17)


def _view(row: Sequence[Any], sealer: Sealer = CLEAR) -> tuple[PaymentView, date | None]:
    if sealer.on:
        row = sealer.open_rows([tuple(row)], _VIEW_PERSONAL)[0]
    (
        pid,
        case_id,
        program,
        dept,
        region,
        period,
        kind,
        amount,
        pay_date,
        acct,
        name,
        idn,
        status,
        execs,
        ex_amount,
        ex_on,
        r_acct,
        r_name,
        res_on,
        res_reason,
        exported,
        reissue_of,
        died,
    ) = row
    return PaymentView(
        pid,
        case_id,
        program,
        dept,
        region,
        period,
        kind,
        int(amount),
        as_date(pay_date),  # type: ignore[arg-type]
        acct,
        name,
        idn,
        status,
        int(execs),
        None if ex_amount is None else int(ex_amount),
        as_date(ex_on),
        r_acct,
        r_name,
        as_date(res_on),
        res_reason,
        bool(exported),
        reissue_of,
    ), as_date(died)


class Reconciliation(LedgerService):
    """Checks a period against what the bank reported; findings and their workflow."""

    #: Payments per chunk of the streamed period query.
    chunk = 20000

    def reconcile(
        self, period: Period, *, as_of: date, by: str | Actor, reviews: bool = True
    ) -> ReconcileResult:
        """Run every check for ``period`` with ``as_of`` as today; raise what is new.
        ``reviews``: also every periodic review overdue on ``as_of``, whatever its month (the
        daily job scans them once, apart: `raise_overdue_reviews`)."""
        self.sync()
        refuse_while_importing(self.db)
        actor = self.actor(by)
        actor.require("finance", to="reconcile")
        by = actor.staff_id
        # The month's payments and results may be minutes old (prepare, a bank import).
        self.db.analyze("payments", "payment_results", "runs", "deaths", "bank_entries")
        result = ReconcileResult(period=str(period), as_of=as_of.isoformat())
        known = {
            fid: (status, resolution)
            for fid, status, resolution in self.db.query(
                "SELECT finding_id, status, resolution FROM findings"
            )
        }
        with gc_paused(), EventBatch(self.app, self.batch_events) as batch:

            def emit(drafts: Iterable[Draft]) -> None:
                for d in drafts:
                    self._raise(d, known, batch, result, by)

            result.payments = self._count(period)
            emit(self.payment_drafts(period, as_of))
            emit(
                [
                    d
                    for d in checks.check_duplicate_payment(self._slot_candidates(period))
                    if len(d.key) == 4
                ]
            )
            staff = self.db.sealer.open_rows(
                self.db.query("SELECT staff_id, id_number, bank_account FROM staff"), (1, 2)
            )
            members = self._member_candidates(period)
            emit(
                checks.check_beneficiaries(
                    self._beneficiary_candidates(period, {m.case_id for m in members}),
                    {code: p.excludes for code, p in self.config.programs.items()},
                    {a: s for s, _, a in staff},
                    {i: s for s, i, _ in staff},
                    members,
                )
            )
            emit(checks.check_unknown_payment(self._unmatched(period)))
            foreign = self._foreign(period)
            emit(checks.check_currency_mismatch(foreign, self._views_of(period, foreign)))
            emit(self._overdue_verifications(as_of, period))
            emit(self._household_drafts(period))
            if reviews:
                emit(self._overdue_reviews(as_of))
        self.sync()
        result.open_total = int(
            self.db.query(
                "SELECT COUNT(*) FROM findings WHERE period = ? AND status = 'open'", (str(period),)
            )[0][0]
        )
        record_job(self.db, "reconciliation", detail=f"{period} as of {as_of.isoformat()}")
        return result

    def open_periods(self, as_of: date, months: int = 3) -> list[Period]:
        """Periods with an approved run in the last ``months`` months (and later): the ones the
        daily job reconciles, so time-based findings appear without anyone typing."""
        first = Period.of(as_of)
        for _ in range(months - 1):
            first = first.previous()
        rows = self.db.query(
            "SELECT DISTINCT period FROM runs WHERE status <> 'prepared' AND period >= ? "
            "ORDER BY period",
            (str(first),),
        )
        return [Period.parse(r[0]) for r in rows]

    def remind_unapproved(self, as_of: date, by: str = SCHEDULER.staff_id) -> ReconcileResult:
        """Raise ``payout_run_late`` for every program whose run for this month (or next) is not
        approved ``approval_reminder_days`` before its payment day."""
        self.sync()
        month = Period.of(as_of)
        due = []
        for period in (month, month.next()):
            p = str(period)
            approved = {
                scope
                for (scope,) in self.db.query(
                    "SELECT DISTINCT scope FROM runs WHERE period = ? AND status <> 'prepared'",
                    (p,),
                )
            }
            active = dict(
                self.db.query(
                    "SELECT program, COUNT(*) FROM cases WHERE effective_from <= ? "
                    "AND (effective_to IS NULL OR effective_to >= ?) GROUP BY program",
                    (period.last_day, period.first_day),
                )
            )
            due += [
                checks.RunDue(
                    code,
                    prog.department,
                    p,
                    period.day(prog.payment_day),
                    "all" in approved or code in approved,
                    int(active.get(code, 0)),
                )
                for code, prog in self.config.programs.items()
            ]
        drafts = checks.check_run_approval(
            due, as_of, self.config.reconciliation.approval_reminder_days
        )
        result = ReconcileResult(period=str(month), as_of=as_of.isoformat())
        known = {
            fid: (status, resolution)
            for fid, status, resolution in self.db.query(
                "SELECT finding_id, status, resolution FROM findings WHERE type = ?",
                ("payout_run_late",),
            )
        }
        late = {finding_id(d.type, *d.key) for d in drafts}
        approved = {finding_id("payout_run_late", d.program, d.period) for d in due if d.approved}
        with EventBatch(self.app, self.batch_events) as batch:
            for d in drafts:
                self._raise(d, known, batch, result, by)
            # A reminder whose run has since been approved is closed by the job that raised it.
            for fid, (status, _) in known.items():
                if status == "open" and fid in approved and fid not in late:
                    finding = self._finding(fid)
                    finding.trigger_event(
                        Finding.Resolved,
                        by=by,
                        finding_id=fid,
                        resolution="corrected",
                        comment="the run has been approved",
                    )
                    batch.add_aggregate(finding)
        self.sync()
        record_job(self.db, "run_reminder", detail=as_of.isoformat())
        return result

    def raise_overdue_verifications(
        self, as_of: date, by: str | Actor = SCHEDULER
    ) -> ReconcileResult:
        """``verification_overdue`` for every request unanswered after its due day, whatever
        the month it was due in (the daily job; `reconcile` does it for its period)."""
        self.sync()
        actor = self.actor(by)
        actor.require("finance", to="reconcile")
        result = ReconcileResult(period="all", as_of=as_of.isoformat())
        known = {
            fid: (status, resolution)
            for fid, status, resolution in self.db.query(
                "SELECT finding_id, status, resolution FROM findings WHERE type = ?",
                ("verification_overdue",),
            )
        }
        with EventBatch(self.app, self.batch_events) as batch:
            for d in self._overdue_verifications(as_of, None):
                self._raise(d, known, batch, result, actor.staff_id)
        self.sync()
        return result

    def _member_candidates(self, period: Period) -> list[Beneficiary]:
        """Persons of the period's cases (household members among them) whose id number is
        in two or more cases: what the duplicate check adds to the payees."""
        from projections.households import people_sharing_a_member

        return [
            Beneficiary(*r)
            for r in people_sharing_a_member(self.db, period.first_day, period.last_day)
        ]

    def _household_drafts(self, period: Period) -> list[Draft]:
        """``household_size_mismatch`` and ``household_member_dead`` for the cases in effect
        in ``period`` that have members recorded, judged on the period's first day: each
        raised once for what it found (the size and the members counted; the member). A page
        of cases at a time (`projections.households.households_in_effect`)."""
        from eligibility.households import check_dead_members, check_household_size
        from ledger.ids import mask_id_number
        from projections.households import households_in_effect

        first = period.first_day
        departments = {code: p.department for code, p in self.config.programs.items()}
        deaths = {
            self.db.sealer.open(str(i)): d
            for i, died in self.db.query(
                "SELECT id_number, date_of_death FROM deaths WHERE id_number IN "
                "(SELECT member_id_number FROM household_members)"
            )
            if (d := as_date(died)) is not None
        }

        def draft(
            facts: tuple[int, str, str], type_: str, case_id: str, key: str, detail: str
        ) -> Draft:
            _, program, region = facts
            return Draft(
                type_,
                (case_id, key),
                str(period),
                detail,
                program=program,
                department=departments.get(program),
                case_id=case_id,
                region_code=region,
            )

        out: list[Draft] = []
        for cases, members in households_in_effect(self.db, first, period.last_day):
            sizes = {case_id: size for case_id, (size, _, _) in cases.items()}
            out += [
                draft(
                    cases[m.case_id],
                    "household_size_mismatch",
                    m.case_id,
                    f"{m.household_size}/{m.members}",
                    m.detail,
                )
                for m in check_household_size(sizes, members, first)
            ]
            out += [
                draft(
                    cases[d.case_id],
                    "household_member_dead",
                    d.case_id,
                    d.id_number,
                    f"household member {mask_id_number(d.id_number)} was reported dead on "
                    f"{d.died.isoformat()} and still counts in the household on "
                    f"{d.day.isoformat()}: re-assess the household",
                )
                for d in check_dead_members(members, deaths, first)
            ]
        return out

    def raise_overdue_reviews(self, as_of: date, by: str | Actor = SCHEDULER) -> ReconcileResult:
        """``review_overdue`` for every case in effect whose periodic review is overdue on
        ``as_of`` (the daily job; `reconcile` does it too). The cases are read a page at a
        time and the findings written in batches: never all of them in memory."""
        self.sync()
        actor = self.actor(by)
        actor.require("finance", to="reconcile")
        result = ReconcileResult(period="all", as_of=as_of.isoformat())
        known = self._known_of_type(OVERDUE_FINDING)
        with gc_paused(), self.findings_written_through() as batch:
            for d in self._overdue_reviews(as_of):
                self._raise(d, known, batch, result, actor.staff_id)
        self.sync()
        return result

    def _known_of_type(self, finding_type: str) -> dict[str, tuple[str, str | None]]:
        return {
            fid: (status, resolution)
            for fid, status, resolution in self.db.query(
                "SELECT finding_id, status, resolution FROM findings WHERE type = ?",
                (finding_type,),
            )
        }

    def _overdue_reviews(self, as_of: date) -> Iterator[Draft]:
        """Drafts of `checks.check_review_overdue` for every case overdue on ``as_of`` under
        the config in force then, a page of cases at a time."""
        from eligibility.reviewing import due_pages, store_terms

        terms = store_terms(self.app, self.db, as_of)
        departments = {code: p.department for code, p in self.config.programs.items()}
        for page in due_pages(self.db, terms, as_of):
            yield from checks.check_review_overdue(page, as_of, terms.grace_days, departments)

    def _overdue_verifications(self, as_of: date, period: Period | None) -> list[Draft]:
        """Drafts of `checks.check_verification_overdue` for requests due in ``period`` (all
        periods: None)."""
        from projections.complaints import open_requests

        requests = open_requests(self.db, due_before=as_of, period=period)
        departments = {code: p.department for code, p in self.config.programs.items()}
        return checks.check_verification_overdue(requests, as_of, departments)

    def _raise(
        self,
        d: Draft,
        known: dict[str, tuple[str, str | None]],
        batch: EventBatch,
        result: ReconcileResult,
        by: str,
    ) -> None:
        fid = finding_id(d.type, *d.key)
        state = known.get(fid)
        if state is None:
            p = d.payment
            # The event the aggregate's creation records, built without the aggregate (a
            # review scan raises a province's worth).
            batch.add(
                Finding.first_event(
                    Finding.Raised,
                    finding_aggregate_id(fid),
                    by=by,
                    finding_id=fid,
                    type=d.type,
                    severity=d.severity,
                    period=d.period,
                    program=p.program if p else d.program,
                    department=p.department if p else d.department,
                    region_code=p.region_code if p else d.region_code,
                    case_id=p.case_id if p else d.case_id,
                    payment_id=p.payment_id if p else None,
                    amount=d.amount,
                    detail=d.detail,
                    instructed_amount=d.instructed_amount,
                    bank_amount=d.bank_amount,
                    bank_name=d.bank_name,
                    file_id=d.file_id or (self._file_of(p.payment_id, d.type) if p else None),
                    source=d.source,
                    source_ref=d.source_ref,
                    value=d.value,
                    limit=d.limit,
                )
            )
            known[fid] = ("open", None)
            result.raised[d.type] = result.raised.get(d.type, 0) + 1
        elif state[0] == "resolved" and state[1] in REOPEN_AFTER:
            finding: Finding = self.app.repository.get(finding_aggregate_id(fid))
            finding.trigger_event(
                Finding.Reopened, by=by, finding_id=fid, detail=f"found again: {d.detail}"
            )
            batch.add_aggregate(finding)
            known[fid] = ("open", None)
            result.reopened += 1

    def _file_of(self, pid: str, finding_type: str) -> str | None:
        """The bank file whose entry for the payment a finding of this type is about: the last
        return or rejection for `returned_not_reissued`, else the last execution (a finding is
        raised once: a query for each of the few raised)."""
        kinds = (
            ("returned", "rejected") if finding_type == "returned_not_reissued" else ("executed",)
        )
        rows = self.db.query(
            "SELECT e.file_id FROM bank_entries e JOIN bank_files b ON b.file_id = e.file_id "
            f"WHERE e.end_to_end_id = ? AND e.kind IN ({', '.join('?' * len(kinds))}) "
            "AND e.aside IS NULL ORDER BY b.recorded_at DESC, e.seq DESC LIMIT 1",
            (pid, *kinds),
        )
        return str(rows[0][0]) if rows else None

    def payment_drafts(self, period: Period, as_of: date) -> Iterator[Draft]:
        """What the per-payment checks raise over the period's payments, in payment order,
        a chunk of payments at a time (a month where every payment raises something must not
        hold 1.5M drafts at once)."""
        rules = self.config.reconciliation
        last_due = as_of - timedelta(rules.missing_result_days + 1)
        for chunk in self._payment_chunks(period, last_due):
            views = [v for v, _ in chunk]
            deaths = {v.id_number: died for v, died in chunk if died is not None}
            yield from checks.check_amount_mismatch(views)
            yield from checks.check_account_mismatch(views)
            yield from checks.check_name_mismatch(views)
            yield from checks.check_late_payment(views)
            yield from checks.check_missing_result(views, as_of, rules.missing_result_days)
            yield from checks.check_returned_not_reissued(
                views, as_of, rules.returned_not_reissued_days
            )
            yield from checks.check_paid_after_death(views, deaths)
            yield from (d for d in checks.check_duplicate_payment(views) if len(d.key) == 2)

    #: Whether `reconcile` reads only the payments worth checking (`_WORTH_CHECKING`); a test
    #: turns it off to compare with checking all of them.
    only_worth_checking = True

    def _count(self, period: Period) -> int:
        """How many payments `_VIEW_SQL` has for the period."""
        sql = f"SELECT COUNT(*) FROM ({_VIEW_SQL}) v"
        return int(self.db.query(sql, (str(period),))[0][0])

    def _payment_chunks(
        self, period: Period, last_due: date
    ) -> Iterator[list[tuple[PaymentView, date | None]]]:
        """The period's payments a per-payment check may raise a finding on (all of them if
        not `only_worth_checking`), ``chunk`` at a time, from one streamed query. ``last_due``:
        the last payment day whose result can be missing by now."""
        sql, params = _VIEW_SQL, [str(period)]
        if self.only_worth_checking:
            sql, params = f"{sql} AND ({_WORTH_CHECKING})", [str(period), last_due.isoformat()]
        if self.db.dialect == "postgresql":
            # Found first, then sorted: PostgreSQL cannot tell how few rows the condition
            # leaves, and asked for them in order it walks all the month's payments by key,
            # twice as slow as hashing them (OFFSET 0 keeps the two apart).
            sql = f"SELECT * FROM ({sql} OFFSET 0) v ORDER BY v.payment_id"
        else:
            sql += " ORDER BY p.payment_id"
        chunk: list[tuple[PaymentView, date | None]] = []
        for row in self.db.stream(sql, params):
            chunk.append(_view(row, self.db.sealer))
            if len(chunk) >= self.chunk:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _slot_candidates(self, period: Period) -> list[PaymentView]:
        """Payments sharing a case, program and slot with another executed one."""
        rows = self.db.query(
            f"{_VIEW_SQL} AND pr.executions > 0 AND p.case_id IN ("
            "SELECT p.case_id FROM payments p JOIN payment_results pr "
            "ON pr.payment_id = p.payment_id WHERE p.period = ? AND pr.executions > 0 "
            "GROUP BY p.case_id, p.program, "
            "CASE WHEN p.kind = 'reissue' THEN 'regular' ELSE p.kind END HAVING COUNT(*) > 1)",
            (str(period), str(period)),
        )
        return [_view(r, self.db.sealer)[0] for r in rows]

    def _beneficiary_candidates(
        self, period: Period, cases: Iterable[str] = ()
    ) -> list[PaymentView]:
        """Payments whose person or account appears twice, or belongs to staff, and those of
        ``cases`` (whose household shares a person with another case).

        Their ids first, from ``payments`` alone (a province's month is 1.5M rows: joined
        with the results for every row, the same question took twice as long), then their
        views. More than one case per person or account: ``MIN <> MAX`` lets PostgreSQL
        aggregate by hashing, where ``COUNT(DISTINCT)`` sorts. One query per reason, put
        together by ``UNION``: with ``OR`` between them PostgreSQL cannot join, and tests the
        grouped subqueries for each of a month's payments."""
        p = str(period)
        paid = f"SELECT payment_id FROM payments WHERE period = ? AND held = '' AND {APPROVED_RUN}"

        def shared(column: str) -> str:
            return (
                f"{paid} AND {column} IN (SELECT {column} FROM payments WHERE period = ? "
                f"AND held = '' AND {APPROVED_RUN} GROUP BY {column} "
                "HAVING MIN(case_id) <> MAX(case_id))"
            )

        ids = [
            r[0]
            for r in self.db.query(
                f"{shared('id_number')} UNION {shared('creditor_account')} UNION {paid} AND "
                "(id_number IN (SELECT id_number FROM staff) "
                "OR creditor_account IN (SELECT bank_account FROM staff)) ORDER BY payment_id",
                (p, p, p, p, p),
            )
        ]
        for chunk in param_chunks(sorted(set(cases))):
            marks = ", ".join("?" * len(chunk))
            ids += [r[0] for r in self.db.query(f"{paid} AND case_id IN ({marks})", (p, *chunk))]
        return self._views(period, sorted(set(ids)))

    def _views(self, period: Period, ids: Sequence[str]) -> list[PaymentView]:
        """The views of the period's payments with these ids (those `_VIEW_SQL` has)."""
        views: list[PaymentView] = []
        for chunk in param_chunks(ids):
            rows = self.db.query(
                f"{_VIEW_SQL} AND p.payment_id IN ({', '.join('?' * len(chunk))})",
                (str(period), *chunk),
            )
            views.extend(_view(r, self.db.sealer)[0] for r in rows)
        return views

    def _unmatched(self, period: Period) -> list[UnmatchedEntry]:
        """Entries reported in the period that name no payment and were not set aside (an
        entry not booked, or money sent to us, is no payment at all)."""
        rows = self.db.query(
            "SELECT file_id, seq, kind, end_to_end_id, amount, booking_date, creditor_account, "
            "currency FROM bank_entries WHERE matched = 0 AND period = ? AND aside IS NULL",
            (str(period),),
        )
        return [
            UnmatchedEntry(
                f, int(s), k, e, None if a is None else int(a), as_date(b), c, cur, str(period)
            )
            for f, s, k, e, a, b, c, cur in self.db.sealer.open_rows(rows, (6,))
        ]

    def _foreign(self, period: Period) -> list[ForeignEntry]:
        """Entries naming a payment of the period in another currency (set aside at import).
        Few or none: found through the partial index of entries set aside."""
        rows = self.db.query(
            "SELECT b.file_id, b.seq, b.kind, b.end_to_end_id, b.amount, b.currency, "
            "b.booking_date FROM bank_entries b JOIN payments p ON p.payment_id = b.end_to_end_id "
            "WHERE b.aside = 'currency' AND p.period = ? ORDER BY b.file_id, b.seq",
            (str(period),),
        )
        return [
            ForeignEntry(f, int(s), k, e, None if a is None else int(a), cur, as_date(b))
            for f, s, k, e, a, cur, b in rows
        ]

    def _views_of(self, period: Period, entries: Sequence[ForeignEntry]) -> dict[str, PaymentView]:
        ids = sorted({e.payment_id for e in entries})
        return {v.payment_id: v for v in self._views(period, ids)} if ids else {}

    # -- the finding workflow ----------------------------------------------------------------

    def _finding(self, fid: str) -> Finding:
        try:
            return self.app.repository.get(finding_aggregate_id(fid))
        except AggregateNotFoundError:
            raise NotFound(f"no finding {fid!r}") from None

    def assign(self, fid: str, *, to: str, by: str | Actor) -> None:
        """A supervisor assigns the finding (duties in `Finding.assign`)."""
        self.sync()
        finding = self._finding(fid)
        finding.assign(self.actor(by), to=self.actor(to), parties=self._parties(finding))
        self._save(finding)

    def comment(self, fid: str, *, text: str, by: str | Actor) -> None:
        self.sync()
        finding = self._finding(fid)
        finding.comment(self.actor(by), text=text)
        self._save(finding)

    def resolve(self, fid: str, *, resolution: str, comment: str, by: str | Actor) -> None:
        """Resolve with a reason (duties in `Finding.resolve`)."""
        self.sync()
        finding = self._finding(fid)
        case_id = finding.raised.case_id
        finding.resolve(
            self.actor(by),
            resolution=resolution,
            comment=comment,
            parties=self._parties(finding),
            deciders=self.case_deciders(case_id) if case_id else frozenset(),
        )
        self._save(finding)

    def _parties(self, finding: Finding) -> Parties:
        """The people and accounts of the finding's case and payment, as their events say."""
        from ledger.payment import payment_aggregate_id

        raised = finding.raised
        parties = Parties()
        if raised.case_id:
            parties = self.case_parties(raised.case_id)
        if raised.payment_id:
            try:
                payment: Payment = self.app.repository.get(payment_aggregate_id(raised.payment_id))
            except AggregateNotFoundError:
                return parties
            parties = parties.plus(Parties.of_payment(payment.instructed))
        return parties

    def _save(self, finding: Finding) -> None:
        self.app.save(finding)
        self.sync()

    def findings(
        self,
        *,
        period: str,
        viewer: Viewer,
        type_: str | None = None,
        status: str = "open",
        region: str | None = None,
        severity: str | None = None,
    ) -> list[dict[str, Any]]:
        """`list_findings` as ``viewer`` sees it (masked by role, `ledger.masking`), the
        listing recorded in the access log with the cases it shows (`ledger.access`)."""
        rows = list_findings(
            self.db, period=period, type_=type_, status=status, region=region, severity=severity
        )
        shown = masked_rows(rows, viewer.actor, reason=viewer.reason)
        filters = ", ".join(
            f"{k}={v}"
            for k, v in (
                ("type", type_),
                ("status", status),
                ("region", region),
                ("severity", severity),
            )
            if v
        )
        self.record_view(
            viewer,
            kind="findings",
            subject=f"findings {period} ({filters})",
            case_ids=sorted({r["case_id"] for r in rows if r["case_id"]}),
        )
        return shown

    def history(self, fid: str) -> list[dict[str, Any]]:
        from ledger.history import event_record

        return [event_record(e) for e in self.app.events.get(finding_aggregate_id(fid))]  # type: ignore[arg-type]


#: A finding as listed: what was raised, then its workflow state (the order is the JSON order).
_FINDING_SELECT = (*FINDING_COLUMNS[:-2], "status", "assigned_to", "resolution", "raised_at")
#: The JSON names: the comparison limit's column (``limit_value``) shown as ``limit``.
FINDING_FIELDS = tuple("limit" if c == "limit_value" else c for c in _FINDING_SELECT)


#: What ``findings --status`` takes.
FINDING_STATUSES = ("open", "resolved", "all")


def list_findings(
    db: Database,
    *,
    period: str,
    type_: str | None = None,
    status: str = "open",
    region: str | None = None,
    severity: str | None = None,
) -> list[dict[str, Any]]:
    """Findings of a period as JSON-ready records (amounts as "1234.50"), with the name of the
    bank file that showed each (``file_name``) where there is one: of one type, status
    (open, resolved or all), severity, and region (a prefix of the region code); refused
    while an import is open."""
    from ledger.errors import InvalidValue

    if status not in FINDING_STATUSES:
        raise InvalidValue(f"status must be one of {', '.join(FINDING_STATUSES)}")
    where = ["f.period = ?"]
    params: list[Any] = [period]
    if type_:
        where.append("f.type = ?")
        params.append(type_)
    if status != "all":
        where.append("f.status = ?")
        params.append(status)
    if severity:
        where.append("f.severity = ?")
        params.append(severity)
    if region:
        if not (region.isascii() and region.isdigit()):
            raise InvalidValue("region must be digits: a region code or its first digits")
        where.append("f.region_code LIKE ?")
        params.append(region + "%")
    refuse_while_importing(db)
    return _finding_rows(db, " AND ".join(where), params)


def finding_record(db: Database, finding_id: str) -> dict[str, Any] | None:
    """One finding as `list_findings` lists it, or None."""
    rows = _finding_rows(db, "f.finding_id = ?", [finding_id])
    return rows[0] if rows else None


def _finding_rows(db: Database, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    from ledger.money import format_fen

    columns = ", ".join(f"f.{c}" for c in _FINDING_SELECT)
    sql = (
        f"SELECT {columns}, b.filename FROM findings f "
        f"LEFT JOIN bank_files b ON b.file_id = f.file_id WHERE {where} "
        "ORDER BY f.type, f.case_id, f.finding_id"
    )
    out = []
    for row in db.query(sql, params):
        record = dict(zip((*FINDING_FIELDS, "file_name"), row, strict=True))
        record["source_ref"] = db.sealer.open_optional(record["source_ref"])
        for money in ("amount", "instructed_amount", "bank_amount"):
            if record[money] is not None:
                record[money] = format_fen(int(record[money]))
        out.append(record)
    return out
