"""Read models of the money: runs, payments, recoveries, findings, approved monthly payouts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ledger.events import LedgerEvent
from ledger.ids import county_of
from ledger.payment import Finding, Payment, PayoutRun, Recovery
from ledger.store import Tx
from projections.runner import ReadModel

#: SQL condition: the payment belongs to an approved (or exported) run. A payment counts as
#: paid once its run is approved; there is no per-payment flag to update.
APPROVED_RUN = "run_id IN (SELECT run_id FROM runs WHERE status <> 'prepared')"

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
    "status",
    "raised_at",
)


def _payment_row(e: Payment.Instructed) -> tuple[Any, ...]:
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
            Payment.Released,
            PayoutRun.Prepared,
            PayoutRun.PaymentsAdded,
            PayoutRun.Approved,
            PayoutRun.Exported,
            Recovery.Raised,
        )
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        new_payments: list[tuple[Any, ...]] = []
        for e in events:
            if isinstance(e, Payment.Instructed):
                new_payments.append(_payment_row(e))
                continue
            # Everything else may read or update payments: write the pending ones first.
            tx.copy_rows("payments", PAYMENT_COLUMNS, new_payments)
            new_payments = []
            self._apply_one(tx, e)
        tx.copy_rows("payments", PAYMENT_COLUMNS, new_payments)

    def _apply_one(self, tx: Tx, e: LedgerEvent) -> None:
        if isinstance(e, Payment.Released):
            tx.execute(
                "UPDATE payments SET held = '', version = ? WHERE payment_id = ?",
                (e.originator_version, e.payment_id),
            )
            self._add_monthly(
                tx,
                "SELECT period, program, department, county, kind, 1, amount "
                f"FROM payments WHERE payment_id = ? AND {APPROVED_RUN}",
                (e.payment_id,),
            )
        elif isinstance(e, PayoutRun.Prepared):
            tx.execute(
                "INSERT INTO runs (run_id, period, scope, seq, status, prepared_by, payments, "
                "amount, held, recoveries, prepared_at) VALUES (?, ?, ?, ?, 'prepared', ?, 0, 0, "
                "0, 0, ?)",
                (e.run_id, e.period, e.scope, e.seq, e.by, e.timestamp.isoformat()),
            )
        elif isinstance(e, PayoutRun.PaymentsAdded):
            tx.execute(
                "UPDATE runs SET payments = payments + ?, amount = amount + ?, held = held + ?, "
                "recoveries = recoveries + ? WHERE run_id = ?",
                (e.payments, e.amount, e.held, e.recoveries, e.run_id),
            )
        elif isinstance(e, PayoutRun.Approved):
            self._approve(tx, e)
        elif isinstance(e, PayoutRun.Exported):
            tx.execute(
                "UPDATE runs SET status = 'exported', exported_at = ? WHERE run_id = ?",
                (e.timestamp.isoformat(), e.run_id),
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

    @staticmethod
    def _approve(tx: Tx, e: PayoutRun.Approved) -> None:
        tx.execute(
            "UPDATE runs SET status = 'approved', approved_by = ?, approved_at = ?, "
            "override_reason = ? WHERE run_id = ?",
            (e.by, e.timestamp.isoformat(), e.override_reason, e.run_id),
        )
        PayoutsModel._add_monthly(
            tx,
            "SELECT period, program, department, county, kind, COUNT(*), SUM(amount) "
            "FROM payments WHERE run_id = ? AND held = '' "
            "GROUP BY period, program, department, county, kind "
            "UNION ALL "
            "SELECT period, program, department, county, 'recovery', COUNT(*), SUM(amount) "
            "FROM recoveries WHERE run_id = ? GROUP BY period, program, department, county",
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
                "open",
                e.timestamp.isoformat(),
            )
            for e in events
        ]
        tx.executemany(
            f"INSERT INTO findings ({', '.join(FINDING_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(FINDING_COLUMNS))})",
            rows,
        )
