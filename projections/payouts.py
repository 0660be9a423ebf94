"""Read models of the money: runs, payments, recoveries, findings, approved monthly payouts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ledger.events import LedgerEvent
from ledger.ids import county_of
from ledger.payment import Finding, Payment, PayoutRun, Recovery
from ledger.store import Tx, param_chunks
from projections.runner import ReadModel

#: Run statuses whose payments count as paid (a payment counts once its run is approved; the
#: bank result comes later and is reconciled on its own).
APPROVED_STATUSES = "('approved', 'exported')"


def approved_run(alias: str = "") -> str:
    """SQL condition: the payment (``alias``: ``"p."`` or empty) belongs to an approved run."""
    return f"{alias}run_id IN (SELECT run_id FROM runs WHERE status IN {APPROVED_STATUSES})"


def paid(alias: str = "") -> str:
    """SQL condition: the payment counts as paid. Its run is approved, and the payment is not
    held, not cancelled, and covered by an approval (a payment released after its run's
    approval waits, ``batch`` NULL, for one of its own)."""
    a = alias
    return f"{a}held = '' AND {a}cancelled = 0 AND {a}batch IS NOT NULL AND {approved_run(a)}"


def standing(alias: str = "") -> str:
    """SQL condition: the payment stands (not cancelled, nor its run): a case is never
    instructed twice for a month and kind while one stands."""
    return (
        f"{alias}cancelled = 0 AND {alias}run_id NOT IN "
        "(SELECT run_id FROM runs WHERE status = 'cancelled')"
    )


#: SQL condition on ``payments p JOIN runs r``: the payment was sent (in an exported bank file
#: of its approved run). Whether the bank returned or rejected it is `projections.bank`'s.
SENT = (
    "p.held = '' AND p.cancelled = 0 AND p.batch IS NOT NULL "
    f"AND r.status IN {APPROVED_STATUSES} AND p.batch <= r.exported_batch"
)

#: Kept for readers that only ask whether the run is approved.
APPROVED_RUN = approved_run()

PAYMENT_COLUMNS = (
    "payment_id",
    "run_id",
    "case_id",
    "program",
    "department",
    "region_code",
    "county",
    "period",
    "kind",
    "amount",
    "payment_date",
    "creditor_account",
    "creditor_name",
    "id_number",
    "held",
    "reissue_of",
)
_RECOVERY_COLUMNS = (
    "recovery_id",
    "run_id",
    "case_id",
    "program",
    "department",
    "region_code",
    "county",
    "period",
    "amount",
    "paid",
    "owed",
    "reason",
)
#: The columns a raised finding fills (the workflow adds assigned_to, resolution, ...).
FINDING_COLUMNS = (
    "finding_id",
    "type",
    "severity",
    "period",
    "program",
    "department",
    "region_code",
    "case_id",
    "payment_id",
    "amount",
    "detail",
    "instructed_amount",
    "bank_amount",
    "bank_name",
    "file_id",
    "source",
    "source_ref",
    "value",
    "limit_value",
    "status",
    "raised_at",
)


#: Where ``PAYMENT_COLUMNS`` hold personal values (sealed with a key: `ledger.sealing`).
PAYMENT_PERSONAL = tuple(
    PAYMENT_COLUMNS.index(c) for c in ("creditor_account", "creditor_name", "id_number")
)


def _payment_row(e: Payment.Instructed | Payment.Reinstructed) -> tuple[Any, ...]:
    return (
        e.payment_id,
        e.run_id,
        e.case_id,
        e.program,
        e.department,
        e.region_code,
        county_of(e.region_code),
        e.period,
        e.kind,
        e.amount,
        e.payment_date,
        e.creditor_account,
        e.creditor_name,
        e.id_number,
        ",".join(e.held),
        e.reissue_of,
    )


class PayoutsModel(ReadModel):
    """``runs``, ``payments``, ``recoveries``, ``payouts_monthly`` (approved, by kind)."""

    name: ClassVar[str] = "payouts"
    tables: ClassVar[tuple[str, ...]] = ("runs", "payments", "recoveries", "payouts_monthly")
    topics: ClassVar[frozenset[str]] = frozenset(
        cls.TOPIC
        for cls in (
            Payment.Instructed,
            Payment.Reinstructed,
            Payment.Amended,
            Payment.Cancelled,
            Payment.Released,
            PayoutRun.Prepared,
            PayoutRun.PaymentsAdded,
            PayoutRun.PaymentsRevised,
            PayoutRun.Completed,
            PayoutRun.Approved,
            PayoutRun.ReleasesApproved,
            PayoutRun.Exported,
            PayoutRun.Cancelled,
            Recovery.Raised,
            Recovery.Revised,
            Recovery.Withdrawn,
            Recovery.Collected,
            Recovery.Waived,
        )
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        new_payments: list[tuple[Any, ...]] = []
        for e in events:
            if isinstance(e, Payment.Instructed):
                new_payments.append(_payment_row(e))
                continue
            # Everything else may read or update payments: write the pending ones first.
            tx.copy_rows(
                "payments", PAYMENT_COLUMNS, tx.sealer.seal_rows(new_payments, PAYMENT_PERSONAL)
            )
            new_payments = []
            self._apply_one(tx, e)
        tx.copy_rows(
            "payments", PAYMENT_COLUMNS, tx.sealer.seal_rows(new_payments, PAYMENT_PERSONAL)
        )

    def _apply_one(self, tx: Tx, e: LedgerEvent) -> None:
        if isinstance(e, Payment.Reinstructed):
            tx.execute(
                f"UPDATE payments SET {', '.join(f'{c} = ?' for c in PAYMENT_COLUMNS[1:])}, "
                "version = ?, batch = 1, cancelled = 0, released = '' WHERE payment_id = ?",
                (
                    *tx.sealer.seal_rows([_payment_row(e)], PAYMENT_PERSONAL)[0][1:],
                    e.originator_version,
                    e.payment_id,
                ),
            )
        elif isinstance(e, Payment.Amended):
            tx.execute(
                # As the aggregate: a release stands unless the amendment changes the holds
                # (the right-hand sides read the row as it was).
                "UPDATE payments SET amount = ?, creditor_account = ?, creditor_name = ?, "
                "id_number = ?, region_code = ?, county = ?, held = ?, "
                "released = CASE WHEN held = ? THEN released ELSE '' END, "
                "payment_date = COALESCE(?, payment_date), "
                "version = ? WHERE payment_id = ?",
                (
                    e.amount,
                    tx.sealer.seal(e.creditor_account),
                    tx.sealer.seal(e.creditor_name),
                    tx.sealer.seal(e.id_number),
                    e.region_code,
                    county_of(e.region_code),
                    ",".join(e.held),
                    ",".join(e.held),
                    e.payment_date,
                    e.originator_version,
                    e.payment_id,
                ),
            )
        elif isinstance(e, Payment.Cancelled):
            tx.execute(
                "UPDATE payments SET cancelled = 1, version = ? WHERE payment_id = ?",
                (e.originator_version, e.payment_id),
            )
        elif isinstance(e, Payment.Released):
            self._release(tx, e)
        elif isinstance(e, PayoutRun.Prepared):
            tx.execute(
                "INSERT INTO runs (run_id, period, scope, seq, status, prepared_by, payments, "
                "amount, held, recoveries, prepared_at) VALUES (?, ?, ?, ?, 'prepared', ?, 0, 0, "
                "0, 0, ?)",
                (e.run_id, e.period, e.scope, e.seq, e.by, e.timestamp.isoformat()),
            )
        elif isinstance(e, PayoutRun.PaymentsAdded | PayoutRun.PaymentsRevised):
            tx.execute(
                "UPDATE runs SET payments = payments + ?, amount = amount + ?, held = held + ?, "
                "held_amount = held_amount + ?, recoveries = recoveries + ?, "
                "recovery_amount = recovery_amount + ?, complete = 0 WHERE run_id = ?",
                (
                    e.payments,
                    e.amount,
                    e.held,
                    e.held_amount,
                    e.recoveries,
                    e.recovery_amount,
                    e.run_id,
                ),
            )
        elif isinstance(e, PayoutRun.Completed):
            tx.execute(
                "UPDATE runs SET complete = 1, prepared_through = ?, payments = ?, amount = ? "
                "WHERE run_id = ?",
                (e.through, e.payments, e.amount, e.run_id),
            )
        elif isinstance(e, PayoutRun.Approved):
            self._approve(tx, e)
        elif isinstance(e, PayoutRun.ReleasesApproved):
            for chunk in param_chunks(list(e.payment_ids)):
                marks = ", ".join("?" * len(chunk))
                tx.execute(
                    f"UPDATE payments SET batch = ? WHERE payment_id IN ({marks})",
                    (e.batch, *chunk),
                )
                self._add_monthly(
                    tx,
                    "SELECT period, program, department, county, kind, COUNT(*), SUM(amount) "
                    f"FROM payments WHERE payment_id IN ({marks}) "
                    "GROUP BY period, program, department, county, kind",
                    chunk,
                )
            tx.execute("UPDATE runs SET approved_batch = ? WHERE run_id = ?", (e.batch, e.run_id))
        elif isinstance(e, PayoutRun.Exported):
            tx.execute(
                "UPDATE runs SET status = 'exported', exported_at = ?, "
                "exported_batch = CASE WHEN exported_batch > ? THEN exported_batch ELSE ? END "
                "WHERE run_id = ?",
                (e.timestamp.isoformat(), e.batch, e.batch, e.run_id),
            )
        elif isinstance(e, PayoutRun.Cancelled):
            tx.execute(
                "UPDATE runs SET status = 'cancelled', cancelled_by = ?, cancelled_at = ?, "
                "cancel_reason = ? WHERE run_id = ?",
                (e.by, e.timestamp.isoformat(), e.reason, e.run_id),
            )
        elif isinstance(e, Recovery.Raised):
            tx.execute(
                f"INSERT INTO recoveries ({', '.join(_RECOVERY_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_RECOVERY_COLUMNS))})",
                (
                    e.recovery_id,
                    e.run_id,
                    e.case_id,
                    e.program,
                    e.department,
                    e.region_code,
                    county_of(e.region_code),
                    e.period,
                    e.amount,
                    e.paid,
                    e.owed,
                    e.reason,
                ),
            )
        elif isinstance(e, Recovery.Revised):
            tx.execute(
                "UPDATE recoveries SET run_id = ?, amount = ?, paid = ?, owed = ?, reason = ?, "
                "status = 'open', version = ? WHERE recovery_id = ?",
                (
                    e.run_id,
                    e.amount,
                    e.paid,
                    e.owed,
                    e.reason,
                    e.originator_version,
                    e.recovery_id,
                ),
            )
        elif isinstance(e, Recovery.Withdrawn):
            tx.execute(
                "UPDATE recoveries SET status = 'withdrawn', version = ? WHERE recovery_id = ?",
                (e.originator_version, e.recovery_id),
            )
        elif isinstance(e, Recovery.Collected):
            tx.execute(
                "UPDATE recoveries SET collected = collected + ?, version = ?, "
                "status = CASE WHEN collected + ? >= amount THEN 'collected' ELSE status END "
                "WHERE recovery_id = ?",
                (e.amount, e.originator_version, e.amount, e.recovery_id),
            )
        elif isinstance(e, Recovery.Waived):
            tx.execute(
                "UPDATE recoveries SET status = 'waived', version = ? WHERE recovery_id = ?",
                (e.originator_version, e.recovery_id),
            )

    @staticmethod
    def _release(tx: Tx, e: Payment.Released) -> None:
        if not e.complete:  # a first release of a critical hold: still held
            tx.execute(
                "UPDATE payments SET version = ? WHERE payment_id = ?",
                (e.originator_version, e.payment_id),
            )
            return
        tx.execute(
            "UPDATE runs SET held = held - 1, held_amount = held_amount - "
            "(SELECT amount FROM payments WHERE payment_id = ?) "
            "WHERE run_id = (SELECT run_id FROM payments WHERE payment_id = ?)",
            (e.payment_id, e.payment_id),
        )
        # Released after its run's approval: it waits (batch NULL) for an approval of its own.
        tx.execute(
            "UPDATE payments SET held = '', released = ?, version = ?"
            + (", batch = NULL" if e.needs_approval else "")
            + " WHERE payment_id = ?",
            (",".join(e.hold), e.originator_version, e.payment_id),
        )

    @staticmethod
    def _approve(tx: Tx, e: PayoutRun.Approved) -> None:
        tx.execute(
            "UPDATE runs SET status = 'approved', approved_by = ?, approved_at = ?, "
            "override_reason = ?, approved_batch = 1 WHERE run_id = ?",
            (e.by, e.timestamp.isoformat(), e.override_reason, e.run_id),
        )
        PayoutsModel._add_monthly(
            tx,
            "SELECT period, program, department, county, kind, COUNT(*), SUM(amount) "
            "FROM payments WHERE run_id = ? AND held = '' AND cancelled = 0 "
            "GROUP BY period, program, department, county, kind "
            "UNION ALL "
            "SELECT period, program, department, county, 'recovery', COUNT(*), SUM(amount) "
            "FROM recoveries WHERE run_id = ? AND status <> 'withdrawn' "
            "GROUP BY period, program, department, county",
            (e.run_id, e.run_id),
        )

    @staticmethod
    def _add_monthly(tx: Tx, select: str, params: Sequence[Any]) -> None:
        """Add the (period, program, department, county, kind, items, amount) rows selected."""
        totals = tx.execute(select, params).fetchall()
        tx.executemany(
            "INSERT INTO payouts_monthly (period, program, department, county, kind, items, "
            "amount) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (period, program, department, county, kind) DO UPDATE SET "
            "items = payouts_monthly.items + excluded.items, "
            "amount = payouts_monthly.amount + excluded.amount",
            totals,
        )


class FindingsModel(ReadModel):
    """``findings``: every finding with its current status, assignee and resolution."""

    name: ClassVar[str] = "findings"
    tables: ClassVar[tuple[str, ...]] = ("findings",)
    topics: ClassVar[frozenset[str]] = frozenset(
        {
            Finding.Raised.TOPIC,
            Finding.Assigned.TOPIC,
            Finding.Commented.TOPIC,
            Finding.PaymentReleased.TOPIC,
            Finding.Resolved.TOPIC,
            Finding.Reopened.TOPIC,
        }
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        raised = [e for e in events if isinstance(e, Finding.Raised)]
        if len(raised) == len(events):
            self._insert(tx, raised)
            return
        for e in events:  # workflow events update rows raised earlier: keep log order
            if isinstance(e, Finding.Raised):
                self._insert(tx, [e])
                continue
            at = e.timestamp.isoformat()
            if isinstance(e, Finding.Assigned):
                tx.execute(
                    "UPDATE findings SET assigned_to = ?, updated_at = ? WHERE finding_id = ?",
                    (e.assignee, at, e.finding_id),
                )
            elif isinstance(e, Finding.PaymentReleased):
                tx.execute(
                    "UPDATE findings SET updated_at = ? WHERE finding_id = ?", (at, e.finding_id)
                )
            elif isinstance(e, Finding.Commented):
                tx.execute(
                    "UPDATE findings SET comments = comments + 1, updated_at = ? "
                    "WHERE finding_id = ?",
                    (at, e.finding_id),
                )
            elif isinstance(e, Finding.Resolved):
                tx.execute(
                    "UPDATE findings SET status = 'resolved', resolution = ?, "
                    "updated_at = ? WHERE finding_id = ?",
                    (e.resolution, at, e.finding_id),
                )
            elif isinstance(e, Finding.Reopened):
                tx.execute(
                    "UPDATE findings SET status = 'open', resolution = NULL, "
                    "updated_at = ? WHERE finding_id = ?",
                    (at, e.finding_id),
                )

    @staticmethod
    def _insert(tx: Tx, events: Sequence[Finding.Raised]) -> None:
        rows = [
            (
                e.finding_id,
                e.type,
                e.severity,
                e.period,
                e.program,
                e.department,
                e.region_code,
                e.case_id,
                e.payment_id,
                e.amount,
                e.detail,
                e.instructed_amount,
                e.bank_amount,
                e.bank_name,
                e.file_id,
                e.source,
                tx.sealer.seal_optional(e.source_ref),  # another department's reference
                e.value,
                e.limit,
                "open",
                e.timestamp.isoformat(),
            )
            for e in events
        ]
        tx.copy_rows("findings", FINDING_COLUMNS, rows)
