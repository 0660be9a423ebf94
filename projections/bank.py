"""Read models of bank results: files, entries, and each payment's status as the bank reports it."""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import date
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
    "currency",
    "status",
    "aside",
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
    """``bank_files``, ``bank_entries`` and ``payment_results`` (each payment's bank status)."""

    name: ClassVar[str] = "bank_results"
    tables: ClassVar[tuple[str, ...]] = ("bank_files", "bank_entries", "payment_results")
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

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        page = ResultsPage()
        for e in events:
            if isinstance(e, Payment.Executed):
                page.executed(
                    e.payment_id,
                    e.originator_version,
                    e.file_id,
                    e.entry_seq,
                    e.entry_ref,
                    e.amount,
                    e.booking_date,
                    e.creditor_name,
                    e.creditor_account,
                )
            elif isinstance(e, Payment.Rejected | Payment.Returned):
                if isinstance(e, Payment.Returned):
                    kind, amount, day = "returned", e.amount, e.booking_date
                else:
                    kind, amount, day = "rejected", None, e.reported_on
                page.failed(
                    e.payment_id,
                    e.originator_version,
                    e.file_id,
                    e.entry_seq,
                    e.entry_ref,
                    kind,
                    amount,
                    day or e.timestamp.date(),
                    e.reason_code,
                    e.reason_text,
                )
            elif isinstance(e, Payment.StatusReported):
                pid, version = e.payment_id, e.originator_version
                page.accepted(pid, version, e.file_id, e.entry_seq, e.entry_ref, e.status)
            elif isinstance(e, Payment.Reissued | Payment.Refunded):
                row = page.row(e.payment_id)
                row[1] = e.originator_version
                row[2] = "reissued" if isinstance(e, Payment.Reissued) else "refunded"
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
                # The entries of a file that are no payment's result: those naming no payment,
                # and those set aside (``aside``), which may name one (``matched``). An entry
                # without a booking day is shown in the month of the day it was recorded
                # (``reported_on``), so that one naming no payment is still reported.
                page.entries.extend(
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
                        1 if x.get("matched") else 0,
                        _month_text(x.get("booking_date") or x.get("reported_on")),
                        x.get("currency"),
                        x.get("status"),
                        x.get("aside"),
                    )
                    for x in e.entries
                )
        page.write(tx)


class ResultsPage:
    """What a page of bank results writes: a row of ``bank_entries`` per entry, and per payment
    the ``payment_results`` row the page leaves, each column as the last event that writes it
    left it, as if the events were applied one by one (so a rebuild, which pages the log
    differently, gives the same rows).

    Fed from decoded events by `BankResultsModel.apply`, or by the bank import straight from
    the entries it records (`reconciliation.bank`), in the transaction that records them.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []
        #: payment id -> (payment_id, version, then `_RESULT_COLUMNS`' values).
        self.rows: dict[str, list[Any]] = {}

    def row(self, pid: str) -> list[Any]:
        row = self.rows.get(pid)
        if row is None:
            row = self.rows[pid] = [pid, 0, None, 0, None, None, None, None, None, None]
        return row

    def executed(
        self,
        pid: str,
        version: int,
        file_id: str,
        seq: int,
        ref: str | None,
        amount: int | None,
        day: date | None,
        name: str | None,
        account: str | None,
    ) -> None:
        row = self.row(pid)
        row[1:8] = version, "executed", row[3] + 1, amount, day, account, name
        self.entries.append(
            (file_id, seq, "executed", pid, amount, day, name, account, None, None, ref, 1,
             _month(day), None, None, None)
        )  # fmt: skip

    def failed(
        self,
        pid: str,
        version: int,
        file_id: str,
        seq: int,
        ref: str | None,
        kind: str,
        amount: int | None,
        day: date,
        code: str | None,
        text: str | None,
    ) -> None:
        row = self.row(pid)
        row[1], row[2] = version, kind
        row[8:10] = day, code or text
        self.entries.append(
            (file_id, seq, kind, pid, amount, day, None, None, code, text, ref, 1, _month(day),
             None, None, None)
        )  # fmt: skip

    def accepted(
        self, pid: str, version: int, file_id: str, seq: int, ref: str | None, status: str | None
    ) -> None:
        self.row(pid)[1] = version
        self.entries.append(
            (file_id, seq, "accepted", pid, None, None, None, None, None, status, ref, 1, None,
             None, status, None)
        )  # fmt: skip

    def write(self, tx: Tx, existing: Container[str] | None = None) -> None:
        """Write the page. ``existing``: the payments known to have a row of results already
        (None: unknown). The others' rows are copied in as they are; the rest are merged with
        what is there, in one statement, not one per payment (a month is ~1M rows)."""
        seal = tx.sealer.seal_rows
        rows, self.rows = seal(list(self.rows.values()), _RESULT_PERSONAL), {}
        if existing is not None:
            new = [r for r in rows if r[0] not in existing]
            rows = [r for r in rows if r[0] in existing]
            tx.copy_rows("payment_results", ("payment_id", *_NAMES), new)
            del new
        tx.upsert_from("payment_results", "payment_id", _RESULT_COLUMNS, rows, _RESULT_SET)
        del rows
        # In payment order: the entries' index by payment then takes them leaf by leaf.
        entries, self.entries = self.entries, []
        entries.sort(key=_by_payment)
        tx.copy_rows("bank_entries", ENTRY_COLUMNS, seal(entries, _ENTRY_PERSONAL))


#: A payment's row of ``payment_results`` after ``payment_id``. A page's row carries what the
#: page did: its executions, the last execution's values, the last failure's day and reason
#: (a failure always has a day), NULL status if no event set one.
_RESULT_COLUMNS = (
    ("version", "INTEGER"),
    ("status", "TEXT"),
    ("executions", "INTEGER"),
    ("executed_amount", "BIGINT"),
    ("executed_on", "DATE"),
    ("reported_account", "TEXT"),
    ("reported_name", "TEXT"),
    ("result_on", "DATE"),
    ("result_reason", "TEXT"),
)
_NAMES = tuple(name for name, _ in _RESULT_COLUMNS)
#: Where the rows written hold personal values (sealed with a key: `ledger.sealing`).
_RESULT_PERSONAL = tuple(1 + _NAMES.index(c) for c in ("reported_account", "reported_name"))
_ENTRY_PERSONAL = tuple(ENTRY_COLUMNS.index(c) for c in ("creditor_name", "creditor_account"))
_RESULT_SET = ", ".join(
    [
        "version = excluded.version",
        "status = COALESCE(excluded.status, payment_results.status)",
        "executions = payment_results.executions + excluded.executions",
        *(
            f"{c} = CASE WHEN excluded.executions > 0 THEN excluded.{c} "
            f"ELSE payment_results.{c} END"
            for c in ("executed_amount", "executed_on", "reported_account", "reported_name")
        ),
        "result_on = COALESCE(excluded.result_on, payment_results.result_on)",
        "result_reason = CASE WHEN excluded.result_on IS NOT NULL THEN excluded.result_reason "
        "ELSE payment_results.result_reason END",
    ]
)

#: How readers see a payment's bank status: ``payments p`` LEFT JOINed with its results ``pr``.
RESULTS_JOIN = "LEFT JOIN payment_results pr ON pr.payment_id = p.payment_id"
#: The payment's status, executions and version through `RESULTS_JOIN`.
STATUS = "COALESCE(pr.status, 'instructed')"
EXECUTIONS = "COALESCE(pr.executions, 0)"
VERSION = "CASE WHEN pr.version > p.version THEN pr.version ELSE p.version END"


def _by_payment(row: tuple[Any, ...]) -> str:
    return str(row[3] or "")


def _month_text(day: str | None) -> str | None:
    return day[:7] if day else None
