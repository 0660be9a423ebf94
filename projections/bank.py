"""Read models of bank results: files, entries, and each payment's status as the bank reports it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ledger.events import LedgerEvent
from ledger.payment import BankFile, Payment
from ledger.period import Period
from ledger.store import Tx
from projections.runner import ReadModel

ENTRY_COLUMNS = (
    "file_id",
    "seq",
    "kind",
    "end_to_end_id",
    "amount",
    "booking_date",
    "creditor_name",
    "creditor_account",
    "reason_code",
    "reason_text",
    "entry_ref",
    "matched",
    "period",
)


def _month(day: Any) -> str | None:
    return str(Period.of(day)) if day is not None else None


class BankResultsModel(ReadModel):
    """``bank_files``, ``bank_entries`` and the result columns of ``payments``."""

    name: ClassVar[str] = "bank_results"
    tables: ClassVar[tuple[str, ...]] = ("bank_files", "bank_entries")
    topics: ClassVar[frozenset[str]] = frozenset(
        cls.TOPIC
        for cls in (
            Payment.Executed,
            Payment.Rejected,
            Payment.Returned,
            Payment.StatusReported,
            Payment.Reissued,
            Payment.Refunded,
            BankFile.Imported,
            BankFile.EntriesUnmatched,
        )
    )

    def reset(self, tx: Tx) -> None:
        super().reset(tx)
        tx.execute(
            "UPDATE payments SET status = 'instructed', executions = 0, executed_amount = NULL, "
            "executed_on = NULL, reported_account = NULL, reported_name = NULL, "
            "result_on = NULL, result_reason = NULL"
        )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        entries: list[tuple[Any, ...]] = []
        executed: list[tuple[Any, ...]] = []
        failed: list[tuple[Any, ...]] = []
        versions: list[tuple[Any, ...]] = []
        settled: list[tuple[Any, ...]] = []
        for e in events:
            if isinstance(e, Payment.Executed):
                executed.append(
                    (
                        e.amount,
                        e.booking_date,
                        e.creditor_account,
                        e.creditor_name,
                        e.originator_version,
                        e.payment_id,
                    )
                )
                entries.append(
                    (
                        e.file_id,
                        e.entry_seq,
                        "executed",
                        e.payment_id,
                        e.amount,
                        e.booking_date,
                        e.creditor_name,
                        e.creditor_account,
                        None,
                        None,
                        e.entry_ref,
                        1,
                        _month(e.booking_date),
                    )
                )
            elif isinstance(e, Payment.Rejected | Payment.Returned):
                kind = "rejected" if isinstance(e, Payment.Rejected) else "returned"
                day = e.reported_on if isinstance(e, Payment.Rejected) else e.booking_date
                day = day or e.timestamp.date()
                amount = e.amount if isinstance(e, Payment.Returned) else None
                failed.append(
                    (kind, day, e.reason_code or e.reason_text, e.originator_version, e.payment_id)
                )
                entries.append(
                    (
                        e.file_id,
                        e.entry_seq,
                        kind,
                        e.payment_id,
                        amount,
                        day,
                        None,
                        None,
                        e.reason_code,
                        e.reason_text,
                        e.entry_ref,
                        1,
                        _month(day),
                    )
                )
            elif isinstance(e, Payment.StatusReported):
                versions.append((e.originator_version, e.payment_id))
                entries.append(
                    (
                        e.file_id,
                        e.entry_seq,
                        "accepted",
                        e.payment_id,
                        None,
                        None,
                        None,
                        None,
                        None,
                        e.status,
                        e.entry_ref,
                        1,
                        None,
                    )
                )
            elif isinstance(e, Payment.Reissued | Payment.Refunded):
                status = "reissued" if isinstance(e, Payment.Reissued) else "refunded"
                settled.append((status, e.originator_version, e.payment_id))
            elif isinstance(e, BankFile.Imported):
                tx.execute(
                    "INSERT INTO bank_files (file_id, kind, filename, sha256, profile, entries, "
                    "matched, unmatched, imported_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?)",
                    (
                        e.file_id,
                        e.kind,
                        e.filename,
                        e.sha256,
                        e.profile,
                        e.entries,
                        e.matched,
                        e.unmatched,
                        e.by,
                        e.timestamp.isoformat(),
                    ),
                )
            elif isinstance(e, BankFile.EntriesUnmatched):
                entries.extend(
                    (
                        e.file_id,
                        x["seq"],
                        x["kind"],
                        x.get("end_to_end_id"),
                        x.get("amount"),
                        x.get("booking_date"),
                        x.get("creditor_name"),
                        x.get("creditor_account"),
                        x.get("reason_code"),
                        x.get("reason_text"),
                        x.get("entry_ref"),
                        0,
                        _month_text(x.get("booking_date")),
                    )
                    for x in e.entries
                )
        # One joined UPDATE per page, not one statement per payment (a month is ~1M rows).
        runs: dict[str, list[Any]] = {}
        for amount, day, account, name, version, pid in executed:
            seen = runs.get(pid)
            runs[pid] = [pid, (seen[1] if seen else 0) + 1, amount, day, account, name, version]
        tx.update_from(
            "payments",
            "payment_id",
            [
                ("n", "INTEGER"),
                ("amount", "BIGINT"),
                ("day", "DATE"),
                ("account", "TEXT"),
                ("name", "TEXT"),
                ("version", "INTEGER"),
            ],
            list(runs.values()),
            "status = 'executed', executions = executions + u.n, executed_amount = u.amount, "
            "executed_on = u.day, reported_account = u.account, reported_name = u.name, "
            "version = u.version",
        )
        last_failure = {
            pid: [pid, kind, day, reason, version] for kind, day, reason, version, pid in failed
        }
        tx.update_from(
            "payments",
            "payment_id",
            [("kind", "TEXT"), ("day", "DATE"), ("reason", "TEXT"), ("version", "INTEGER")],
            list(last_failure.values()),
            "status = u.kind, result_on = u.day, result_reason = u.reason, version = u.version",
        )
        tx.executemany("UPDATE payments SET version = ? WHERE payment_id = ?", versions)
        tx.executemany("UPDATE payments SET status = ?, version = ? WHERE payment_id = ?", settled)
        tx.copy_rows("bank_entries", ENTRY_COLUMNS, entries)


def _month_text(day: str | None) -> str | None:
    return day[:7] if day else None
