"""The recoveries register (追回): money sent that was not owed, collected or waived.

A recovery is raised by a prepare (`disbursement.runs`) for a month whose money was sent and is
now owed less; it is owed once its run is approved. Finance records what is collected (in part
or whole, never above what is outstanding); a supervisor may waive the rest, with a reason.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.duties import Actor
from ledger.errors import AidLedgerError, NotFound
from ledger.money import format_fen
from ledger.payment import Recovery, recovery_aggregate_id
from ledger.service import LedgerService
from projections.payouts import APPROVED_STATUSES

#: Columns of ``aidledger recoveries`` (and its JSON), in order.
RECOVERY_FIELDS = (
    "recovery_id",
    "case_id",
    "program",
    "period",
    "reason",
    "amount",
    "collected",
    "outstanding",
    "status",
)
STATUS_CHOICES = ("open", "collected", "waived", "all")


class Recoveries(LedgerService):
    """Listing, collecting and waiving recoveries."""

    def list(self, *, case_id: str | None = None, status: str = "open") -> list[dict[str, Any]]:
        """Recoveries of approved runs (those of unapproved runs are not owed yet)."""
        if status not in STATUS_CHOICES:
            raise AidLedgerError(f"--status must be one of {', '.join(STATUS_CHOICES)}")
        sql = (
            "SELECT rc.recovery_id, rc.case_id, rc.program, rc.period, rc.reason, rc.amount, "
            "rc.collected, rc.status FROM recoveries rc JOIN runs r ON r.run_id = rc.run_id "
            f"WHERE r.status IN {APPROVED_STATUSES} AND rc.status <> 'withdrawn'"
        )
        params: list[Any] = []
        if case_id:
            sql += " AND rc.case_id = ?"
            params.append(case_id)
        if status != "all":
            sql += " AND rc.status = ?"
            params.append(status)
        out = []
        for rid, case, program, period, reason, amount, collected, st in self.db.query(
            sql + " ORDER BY rc.period, rc.case_id, rc.recovery_id", params
        ):
            outstanding = 0 if st == "waived" else int(amount) - int(collected)
            out.append(
                {
                    "recovery_id": rid,
                    "case_id": case,
                    "program": program,
                    "period": period,
                    "reason": reason,
                    "amount": format_fen(int(amount)),
                    "collected": format_fen(int(collected)),
                    "outstanding": format_fen(outstanding),
                    "status": st,
                }
            )
        return out

    def collect(self, rid: str, *, amount: int, by: str | Actor, reason: str) -> Recovery:
        """Record money collected on a recovery (finance)."""
        self.sync()
        recovery = self._recovery(rid)
        recovery.collect(
            self.actor(by),
            amount=amount,
            reason=reason,
            run_approved=self._approved(recovery),
            parties=self.case_parties(recovery.raised.case_id),
        )
        self.app.save(recovery)
        self.sync()
        return recovery

    def waive(self, rid: str, *, by: str | Actor, reason: str) -> Recovery:
        """Waive what is outstanding (supervisor)."""
        self.sync()
        recovery = self._recovery(rid)
        recovery.waive(
            self.actor(by),
            reason=reason,
            run_approved=self._approved(recovery),
            parties=self.case_parties(recovery.raised.case_id),
        )
        self.app.save(recovery)
        self.sync()
        return recovery

    def _recovery(self, rid: str) -> Recovery:
        try:
            return self.app.repository.get(recovery_aggregate_id(rid))
        except AggregateNotFoundError:
            raise NotFound(f"no recovery {rid!r} (aidledger recoveries lists them)") from None

    def _approved(self, recovery: Recovery) -> bool:
        rows = self.db.query("SELECT status FROM runs WHERE run_id = ?", (recovery.raised.run_id,))
        return bool(rows) and rows[0][0] in ("approved", "exported")
