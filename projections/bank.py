"""Read models of bank results: files, entries, and each payment's status as the bank reports it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    if day is None:
        return None
    month = _MONTHS.get(day)
    if month is None:
        month = _MONTHS[day] = str(Period.of(day))
    return month


_MONTHS: dict[Any, str] = {}  # a month's file has a few dozen distinct days


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
        # Per payment, what the page leaves on its row: each column as the last event that
        # writes it left it, as if the events were applied one by one (so a rebuild, which
        # pages the log differently, gives the same rows).
        rows: dict[str, list[Any]] = {}
        for e in events:
            if isinstance(e, Payment.Executed):
                pid = e.payment_id
                row = rows.get(pid) or _new_row(rows, pid)
                row[1] = "executed"
                row[2] += 1
                row[3:7] = e.amount, e.booking_date, e.creditor_account, e.creditor_name
                row[10] = e.originator_version
                entries.append(
                    (
                        e.file_id,
                        e.entry_seq,
                        "executed",
                        pid,
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
                pid = e.payment_id
                row = rows.get(pid) or _new_row(rows, pid)
                row[1] = kind
                row[7:11] = 1, day, e.reason_code or e.reason_text, e.originator_version
                entries.append(
                    (
                        e.file_id,
                        e.entry_seq,
                        kind,
                        pid,
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
                row = rows.get(e.payment_id) or _new_row(rows, e.payment_id)
                row[10] = e.originator_version
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
                row = rows.get(e.payment_id) or _new_row(rows, e.payment_id)
                row[1] = "reissued" if isinstance(e, Payment.Reissued) else "refunded"
                row[10] = e.originator_version
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
        # One joined UPDATE per page, not one statement per payment (a month is ~1M rows), in
        # the order the page names the payments (the importer writes them in disk order).
        with _index_joins(tx):
            tx.update_from("payments", "payment_id", _ROW_COLUMNS, list(rows.values()), _ROW_SET)
        # In payment order: the entries' index by payment then takes them leaf by leaf.
        entries.sort(key=_by_payment)
        tx.copy_rows("bank_entries", ENTRY_COLUMNS, entries)


#: A page's row of one payment: (payment_id, then these), see `_new_row`.
_ROW_COLUMNS = (
    ("status", "TEXT"),  # 1: the last status an event set, NULL if none did
    ("n", "INTEGER"),  # 2: executions in the page
    ("amount", "BIGINT"),  # 3-6: the last execution's amount, day, account and name
    ("day", "DATE"),
    ("account", "TEXT"),
    ("name", "TEXT"),
    ("failed", "INTEGER"),  # 7-9: 1 if rejected or returned, with the last one's day, reason
    ("result_day", "DATE"),
    ("reason", "TEXT"),
    ("version", "INTEGER"),  # 10: the payment's version after the page
)
_ROW_SET = (
    "status = COALESCE(u.status, payments.status), "
    "executions = payments.executions + u.n, "
    "executed_amount = CASE WHEN u.n > 0 THEN u.amount ELSE payments.executed_amount END, "
    "executed_on = CASE WHEN u.n > 0 THEN u.day ELSE payments.executed_on END, "
    "reported_account = CASE WHEN u.n > 0 THEN u.account ELSE payments.reported_account END, "
    "reported_name = CASE WHEN u.n > 0 THEN u.name ELSE payments.reported_name END, "
    "result_on = CASE WHEN u.failed = 1 THEN u.result_day ELSE payments.result_on END, "
    "result_reason = CASE WHEN u.failed = 1 THEN u.reason ELSE payments.result_reason END, "
    "version = u.version"
)


def _by_payment(row: tuple[Any, ...]) -> str:
    return str(row[3] or "")


def _new_row(rows: dict[str, list[Any]], pid: str) -> list[Any]:
    row = rows[pid] = [pid, None, 0, None, None, None, None, 0, None, None, 0]
    return row


@contextmanager
def _index_joins(tx: Tx) -> Iterator[None]:
    """On PostgreSQL, join a page's rows to ``payments`` through its primary key.

    Left to itself the planner hashes the whole ``payments`` table for every page (a month
    is a million rows, and a page 20 thousand), which made the bank results' projection
    quadratic in the size of the table. The settings are put back for the other models.
    """
    if tx.dialect != "postgresql":
        yield
        return
    saved = tx.execute(
        "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')"
    ).fetchone()
    tx.execute("SET LOCAL enable_hashjoin = off")
    tx.execute("SET LOCAL enable_mergejoin = off")
    yield
    assert saved is not None
    tx.execute(
        "SELECT set_config('enable_hashjoin', ?, true), set_config('enable_mergejoin', ?, true)",
        saved,
    )


def _month_text(day: str | None) -> str | None:
    return day[:7] if day else None
