"""Recording a bank return file: results become events on the payments they name.

The whole file is parsed first (a malformed file records nothing). Entries are matched by
``EndToEndId`` to the payments the ledger instructed; each match becomes a result event on that
payment (executed, rejected, returned, or a status report) carrying the file and entry it came
from, so an auditor sees it in the case's history. Entries that name no payment are kept on the
file's own aggregate for the ``unknown_payment`` check. Group-level pain.002 statuses apply to
every payment of the message (run) or payment-information block they name.

Result events are appended at the version the payments read model knows (a large file touches
a million payments; loading each aggregate would take minutes). The read models are brought up
to date first, and a stale version fails the batch's transaction rather than writing twice.
A file is recorded once (its id is its content hash); an import that crashed is completed by
running it again: entries already recorded from that file are skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ledger.errors import InputRefused, Problem
from ledger.payment import (
    BankFile,
    Payment,
    bank_file_aggregate_id,
    bank_file_id,
    payment_aggregate_id,
)
from ledger.service import LedgerService
from ledger.store import EventBatch, gc_paused
from reconciliation.entries import (
    REASON_CODES,
    BankEntry,
    BankFileRefused,
    GroupStatus,
)


@dataclass
class BankImportSummary:
    filename: str
    file_id: str
    kind: str = ""
    profile: str | None = None
    entries: int = 0
    matched: int = 0
    unmatched: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    already_imported: bool = False


def parse_bank_file(
    data: bytes, profile: str | None = None
) -> tuple[str, str | None, list[BankEntry | GroupStatus]]:
    """Detect the kind of a bank file and parse all of it: (kind, profile name, entries)."""
    from reconciliation import camt054, csvreturn, pain002  # parsers load lxml/profiles
    from reconciliation.detect import detect_kind

    kind = detect_kind(data)
    if kind == "camt054":
        return kind, None, list(camt054.parse(data))
    if kind == "pain002":
        return kind, None, list(pain002.parse(data))
    chosen = csvreturn.load_profile(profile) if profile else csvreturn.detect_profile(data)
    if chosen is None:
        raise BankFileRefused(
            "a CSV return file needs a bank profile: none matched its header; name one with "
            f"--profile ({', '.join(csvreturn.list_profiles())})"
        )
    return kind, chosen.name, list(csvreturn.parse(data, chosen))


class BankImports(LedgerService):
    """Imports bank return files into one ledger."""

    def import_file(
        self, path: Path, *, profile: str | None = None, by: str = "bank", today: date | None = None
    ) -> BankImportSummary:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        fid = bank_file_id(sha)
        summary = BankImportSummary(filename=path.name, file_id=fid)
        try:
            kind, profile_name, parsed = parse_bank_file(data, profile)
        except BankFileRefused as e:
            raise InputRefused(str(path), [Problem(0, "", str(e))]) from None
        summary.kind, summary.profile = kind, profile_name
        self.sync()
        if self.db.query("SELECT 1 FROM bank_files WHERE file_id = ?", (fid,)):
            summary.already_imported = True
            return summary
        entries = self._expand(parsed)
        summary.entries = len(entries)
        done = {
            int(r[0])
            for r in self.db.query("SELECT seq FROM bank_entries WHERE file_id = ?", (fid,))
        }
        payments = self._payments({e.end_to_end_id for e in entries if e.end_to_end_id})
        seen = self._seen_refs(
            [e for e in entries if e.end_to_end_id in payments and payments[e.end_to_end_id][1]]
        )
        unmatched: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        with gc_paused(), EventBatch(self.app, self.batch_events) as batch:
            for entry in entries:
                known = payments.get(entry.end_to_end_id or "")
                if known is None:
                    unmatched.append(_entry_record(entry))
                    continue
                summary.matched += 1
                counts[entry.kind] = counts.get(entry.kind, 0) + 1
                if entry.seq in done or (entry.end_to_end_id, entry.entry_ref, entry.kind) in seen:
                    continue  # recorded already: by this file before a crash, or another file
                known[0] += 1
                batch.add(_result_event(entry, entry.end_to_end_id or "", known[0], fid, by, today))
        summary.unmatched = len(unmatched)
        summary.by_kind = counts
        record = BankFile._create(
            BankFile.Imported,
            id=bank_file_aggregate_id(fid),
            by=by,
            file_id=fid,
            kind=kind,
            filename=path.name,
            sha256=sha,
            profile=profile_name,
            entries=len(entries),
            matched=summary.matched,
            unmatched=len(unmatched),
        )
        for i in range(0, len(unmatched), 1000):
            record.trigger_event(
                BankFile.EntriesUnmatched,
                by=by,
                file_id=fid,
                entries=tuple(unmatched[i : i + 1000]),
            )
        self.app.save(record)
        self.sync()
        return summary

    def _seen_refs(self, entries: Sequence[BankEntry]) -> set[tuple[str | None, str | None, str]]:
        """(payment, bank reference, kind) already recorded from other files.

        Banks repeat an entry in daily and monthly statements: the same reference for the
        same payment is one execution, not two.
        """
        refs = sorted({e.entry_ref for e in entries if e.entry_ref})
        seen: set[tuple[str | None, str | None, str]] = set()
        for i in range(0, len(refs), 500):
            chunk = refs[i : i + 500]
            seen.update(
                (pid, ref, kind)
                for pid, ref, kind in self.db.query(
                    "SELECT end_to_end_id, entry_ref, kind FROM bank_entries WHERE entry_ref IN "
                    f"({', '.join('?' * len(chunk))})",
                    chunk,
                )
            )
        return seen

    def _payments(self, ids: Iterable[str]) -> dict[str, list[int]]:
        """Payment id -> [current version, has a result already] (the version counts up)."""
        wanted = sorted(ids)
        out: dict[str, list[int]] = {}
        periods = sorted({f"{i[:4]}-{i[4:6]}" for i in wanted if len(i) >= 6 and i[:6].isdigit()})
        if len(wanted) > 5000 and periods:
            # Big files: read the named months' payments in one pass, not id by id.
            marks = ", ".join("?" * len(periods))
            wanted_set = set(wanted)
            for pid, version, status in self.db.query(
                f"SELECT payment_id, version, status FROM payments WHERE period IN ({marks})",
                periods,
            ):
                if pid in wanted_set:
                    out[pid] = [int(version), int(status != "instructed")]
            return out
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            for pid, version, status in self.db.query(
                f"SELECT payment_id, version, status FROM payments WHERE payment_id IN "
                f"({', '.join('?' * len(chunk))})",
                chunk,
            ):
                out[pid] = [int(version), int(status != "instructed")]
        return out

    def _expand(self, parsed: Sequence[BankEntry | GroupStatus]) -> list[BankEntry]:
        """Group statuses become one entry per payment of the message or block they name."""
        out: list[BankEntry] = []
        next_seq = max((p.seq for p in parsed), default=0) + 1
        explicit = {p.end_to_end_id for p in parsed if isinstance(p, BankEntry)}
        for item in parsed:
            if isinstance(item, BankEntry):
                out.append(item)
                continue
            if item.status != "RJCT":
                continue  # an accepted group changes nothing; its transactions report later
            for pid in self._payments_of(item):
                if pid in explicit:
                    continue  # a transaction status overrides its group's
                out.append(
                    BankEntry(
                        seq=next_seq,
                        kind="rejected",
                        end_to_end_id=pid,
                        reason_code=item.reason_code,
                        reason_text=item.reason_text,
                        status=item.status,
                    )
                )
                next_seq += 1
        return out

    def _payments_of(self, group: GroupStatus) -> list[str]:
        from disbursement.export import run_lines  # the file the bank is answering

        run_id = group.original_message_id
        lines = run_lines(self.db, run_id)
        if group.scope == "message":
            return [x.payment_id for x in lines]
        blocks: dict[str, list[str]] = {}
        n = 0
        last: tuple[str, date] | None = None
        for x in lines:
            if (x.program, x.payment_date) != last:
                n, last = n + 1, (x.program, x.payment_date)
            blocks.setdefault(f"{run_id}-{n:03d}", []).append(x.payment_id)
        return blocks.get(group.original_payment_information_id or "", [])


def _entry_record(e: BankEntry) -> dict[str, Any]:
    record = {k: v for k, v in asdict(e).items() if v is not None}
    for k in ("booking_date", "value_date"):
        if k in record:
            record[k] = record[k].isoformat()
    return record


def _result_event(
    e: BankEntry, pid: str, version: int, fid: str, by: str, today: date | None
) -> Payment.BankResult:
    common: dict[str, Any] = {
        "originator_id": payment_aggregate_id(pid),
        "originator_version": version,
        "timestamp": Payment.Executed.create_timestamp(),
        "by": by,
        "payment_id": pid,
        "file_id": fid,
        "entry_seq": e.seq,
        "entry_ref": e.entry_ref,
    }
    reason_text = e.reason_text or (
        REASON_CODES.get(e.reason_code or "") if e.reason_code else None
    )
    if e.kind == "executed":
        return Payment.Executed(
            **common,
            amount=e.amount,
            booking_date=e.booking_date,
            value_date=e.value_date,
            creditor_name=e.creditor_name,
            creditor_account=e.creditor_account,
        )
    if e.kind == "returned":
        return Payment.Returned(
            **common,
            amount=e.amount,
            booking_date=e.booking_date,
            reason_code=e.reason_code,
            reason_text=reason_text,
        )
    if e.kind == "rejected":
        return Payment.Rejected(
            **common,
            reason_code=e.reason_code,
            reason_text=reason_text,
            reported_on=e.booking_date or today,
        )
    return Payment.StatusReported(**common, status=e.status)
