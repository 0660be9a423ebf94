"""Recording a bank return file: results become events on the payments they name.

Entries are matched by ``EndToEndId`` to the payments the ledger instructed; each match becomes a
result event on that payment (executed, rejected, returned, or a status report) carrying the
file and entry it came from, so an auditor sees it in the case's history. Entries that name no
payment are kept on the file's own aggregate for the ``unknown_payment`` check. Group-level
pain.002 statuses apply to every payment of the message (run) or payment-information block they
name.

Only what moved the payment's money counts. An entry the parser set aside (`BankEntry.aside`:
not booked, or a credit that is no return) and an entry naming a payment in a currency other
than the payment's (every payment is in CNY; `entries.PAYMENT_CURRENCY`) become no result:
they are kept on the file's aggregate with the entries that name no payment, with their
status, currency and reason (``bank_entries.aside``), counted in the summary's ``set_aside``
and, when they name a payment, among the matched as ``not counted (...)``. A foreign-currency
entry is not refused: the file is the bank's record of what happened, and its other entries
are good; reconciliation raises ``amount_mismatch`` for it, naming the currency, and the
payment stays unpaid until a result in CNY comes (``missing_result`` if none does). An
entry kept aside that names no payment raises no ``unknown_payment`` (nothing was booked, or
the money came in); a foreign-currency one naming no payment does. An entry with no booking
day at all (a 回盘 row with an empty date) is shown in the month of the import's ``today``.

All or nothing, in one transaction. The file is streamed from disk (a province's camt.054 is
some 800 MB) and parsed to the end first: a malformed file, or one bad amount or date anywhere,
refuses the file before anything is written. Then every event of the file, the file's own
record (`BankFile.Imported`) last, goes to the event store in ONE transaction (one ``COPY`` on
PostgreSQL): a process killed half-way leaves nothing of the file, and running the import again
records it whole. A file is recorded once (its id is its content hash); importing it again
changes nothing.

Result events are appended at the version the payments read model knows (a large file touches
a million payments; loading each aggregate would take minutes). The read models are brought up
to date first, and a stale version fails the transaction rather than writing twice. Matching,
versions and the write order come from one query: the file's ids go into a temporary table
joined with ``payments`` and ordered by payment, so that the bank-results read model is written
front to back instead of at random. The events of one payment keep the file's order.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, cast, overload
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic
from pydantic import TypeAdapter

from ledger.duties import Actor
from ledger.errors import InputRefused, Problem
from ledger.payment import (
    BankFile,
    Payment,
    bank_file_aggregate_id,
    bank_file_id,
    payment_aggregate_id,
)
from ledger.sealing import Sealer
from ledger.service import LedgerService, PhaseClock
from ledger.store import Tx, gc_paused
from projections.bank import RESULTS_JOIN, VERSION, BankResultsModel, ResultsPage
from projections.runner import written_through
from reconciliation.entries import (
    PAYMENT_CURRENCY,
    REASON_CODES,
    BankEntry,
    BankFileRefused,
    GroupStatus,
)

#: Entries that are no payment's result per `BankFile.EntriesUnmatched` event.
UNMATCHED_PER_EVENT = 1000
#: Temporary tables: the entries' ids; the payments among them with a result already.
_IDS, _SETTLED = "bank_import_ids", "bank_import_settled"


@dataclass
class BankImportSummary:
    filename: str
    file_id: str
    kind: str = ""
    profile: str | None = None
    entries: int = 0
    matched: int = 0
    unmatched: int = 0
    #: Entries naming a payment, by kind of result; those set aside as ``not counted (why)``.
    by_kind: dict[str, int] = field(default_factory=dict)
    #: Every entry kept with the file and counted as nothing, by why (named or not).
    set_aside: dict[str, int] = field(default_factory=dict)
    already_imported: bool = False
    #: Wall-clock seconds per phase (parse, match, build, write, project), for benchmarks.
    seconds: dict[str, float] = field(default_factory=dict)


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def parse_bank_file(
    source: bytes | Path, profile: str | None = None
) -> tuple[str, str | None, list[BankEntry | GroupStatus]]:
    """Detect the kind of a bank file and parse all of it: (kind, profile name, entries)."""
    kind, chosen, entries = _reader(source, profile)
    return kind, chosen, list(entries)


def _reader(
    source: bytes | Path, profile: str | None
) -> tuple[str, str | None, Iterator[BankEntry | GroupStatus]]:
    """The kind of a bank file, its CSV profile, and its entries (read as they are iterated)."""
    from reconciliation import camt054, csvreturn, pain002  # parsers load lxml/profiles
    from reconciliation.detect import detect_kind

    kind = detect_kind(source)
    if kind == "camt054":
        return kind, None, camt054.parse(source, processes=_processes_for(source))
    if kind == "pain002":
        return kind, None, pain002.parse(source)
    chosen = csvreturn.load_profile(profile) if profile else csvreturn.detect_profile(source)
    if chosen is None:
        raise BankFileRefused(
            "a CSV return file needs a bank profile: none matched its header; name one with "
            f"--profile ({', '.join(csvreturn.list_profiles())})"
        )
    return kind, chosen.name, csvreturn.parse(source, chosen)


#: Files from this size are read by several processes at once (a process takes ~0.3 s to start).
SHARED_READ_BYTES = 16 * 2**20


def _processes_for(source: bytes | Path) -> int:
    """How many processes read a file: up to 4 for a big file on disk, one per usable core."""
    if not isinstance(source, Path) or source.stat().st_size < SHARED_READ_BYTES:
        return 1
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return max(1, min(4, len(usable) if usable else os.cpu_count() or 1))


class BankImports(LedgerService):
    """Imports bank return files into one ledger."""

    def import_file(
        self,
        path: Path,
        *,
        profile: str | None = None,
        by: str | Actor,
        today: date | None = None,
    ) -> BankImportSummary:
        clock = PhaseClock()
        actor = self.actor(by)
        actor.require("finance", to="import a bank file")
        by = actor.staff_id
        today = today or self.today
        sha = file_sha256(path)
        fid = bank_file_id(sha)
        summary = BankImportSummary(filename=path.name, file_id=fid)
        try:
            kind, profile_name, reader = _reader(path, profile)
            summary.kind, summary.profile = kind, profile_name
            self.sync()
            if self.db.query("SELECT 1 FROM bank_files WHERE file_id = ?", (fid,)):
                summary.already_imported = True
                return summary
            with gc_paused():  # a million small objects: the collector's scans cost minutes
                parsed = list(reader)  # to the end: a refusal comes before anything is written
        except BankFileRefused as e:
            raise InputRefused(str(path), [Problem(e.line, "", e.reason)]) from None
        clock.lap("parse")
        with gc_paused():
            entries = self._expand(parsed)
            del parsed
            summary.entries = len(entries)
            results, with_rows, kept = self._results(entries, fid, by, today, summary)
            clock.lap("match")
            record = BankFile._create(
                BankFile.Imported,
                id=bank_file_aggregate_id(fid),
                by=by,
                file_id=fid,
                kind=kind,
                filename=path.name,
                sha256=sha,
                profile=profile_name,
                entries=summary.entries,
                matched=summary.matched,
                unmatched=summary.unmatched,
            )
            # What is no payment's result stays on the file's record: entries naming no
            # payment (for unknown_payment), and entries set aside, named or not.
            day = today or datetime.now(UTC).date()
            kept_records = [
                _entry_record(e, i in kept, day) for i, e in enumerate(entries) if e is not None
            ]
            del entries
            for x in kept_records:
                if "aside" in x:
                    why = _aside_label(x["aside"], x.get("status"), x.get("currency"))
                    summary.set_aside[why] = summary.set_aside.get(why, 0) + 1
            for i in range(0, len(kept_records), UNMATCHED_PER_EVENT):
                record.trigger_event(
                    BankFile.EntriesUnmatched,
                    by=by,
                    file_id=fid,
                    entries=tuple(kept_records[i : i + UNMATCHED_PER_EVENT]),
                )
            make = _StoredResults(self.app.mapper, fid, by, today)
            records = record.collect_events()
            stored = _LazyEvents(results, make, records, self.app.mapper)
            projected = _WriteThrough(results, make, records, with_rows, self.db.sealer)
            del results
            # One transaction: every result and the file's record, or nothing; with them, if
            # the read models had read the whole log, their rows of the file. The events are
            # built while the first are copied (PostgreSQL works on them meanwhile).
            self.app.recorder.insert_events(stored, around=projected)
            del stored
        clock.lap("write")
        if not projected.done:
            self.sync()  # another writer came first: the file is read back from the log
        clock.lap("project")
        # The rows written through were written in the write phase: they count as projection.
        clock.laps["write"] = round(clock.laps["write"] - projected.seconds, 3)
        clock.laps["project"] = round(clock.laps["project"] + projected.seconds, 3)
        summary.seconds = clock.laps
        return summary

    def _results(
        self,
        entries: list[BankEntry | None],
        fid: str,
        by: str,
        today: date | None,
        summary: BankImportSummary,
    ) -> tuple[list[_Result | None], set[str], set[int]]:
        """The result event to record for each entry that names a payment, by payment; the
        payments that have a row of results already; and the positions of the entries that
        name a payment and count as nothing (set aside, in ``entries`` with their reason).
        Each other entry that names a payment (recorded already, or to be) is set to None in
        ``entries``: what is left names none, or is set aside."""
        named = ((i, e.end_to_end_id) for i, e in enumerate(entries) if e and e.end_to_end_id)
        with self.db.transaction() as tx, _temporary(tx, _IDS, ("idx", "id"), named):
            done = {int(r[0]) for r in tx.execute(_DONE_SQL, (fid,)).fetchall()}
            matches = tx.execute(_MATCH_SQL).fetchall()
            settled = {_e2e(entries[idx]) for idx, _, has_result, _ in matches if has_result}
            with_rows = {_e2e(entries[idx]) for idx, _, _, has_row in matches if has_row}
            with _temporary(tx, _SETTLED, ("id",), [(pid,) for pid in settled]):
                seen = set(tx.execute(_SEEN_SQL).fetchall())
        results: list[_Result | None] = []
        counts: dict[str, int] = {}
        kept: set[int] = set()
        last_pid, version = "", 0
        for idx, known_version, _, _ in matches:
            entry = cast(BankEntry, entries[idx])  # matched entries are kept until written
            aside = entry.aside or (None if entry.currency in _PAYMENTS_CURRENCY else "currency")
            if aside is not None and entry.seq not in done:
                entries[idx] = entry if aside == entry.aside else entry._replace(aside=aside)
                kept.add(idx)
                why = f"not counted ({_aside_label(aside, entry.status, entry.currency)})"
                counts[why] = counts.get(why, 0) + 1
                continue
            entries[idx] = None
            pid = _e2e(entry)
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
            if entry.seq in done or (pid, entry.entry_ref, entry.kind) in seen:
                continue  # recorded already: by this file before a crash, or another file
            # Rows come grouped by payment, in file order within one payment.
            version = version + 1 if pid == last_pid else int(known_version) + 1
            last_pid = pid
            results.append((entry, pid, version))
        summary.matched = len(matches)
        summary.unmatched = summary.entries - len(matches)
        summary.by_kind = counts
        return results, with_rows, kept

    def _expand(self, parsed: Sequence[BankEntry | GroupStatus]) -> list[BankEntry | None]:
        """Group statuses become one entry per payment of the message or block they name."""
        if all(isinstance(p, BankEntry) for p in parsed):  # camt.054 and CSV: no groups
            return cast(list[BankEntry | None], list(parsed))
        out: list[BankEntry | None] = []
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


# Entries of this file recorded already: by an import interrupted before imports were one
# transaction (a file is never half-recorded since).
_DONE_SQL = "SELECT seq FROM bank_entries WHERE file_id = ?"
# (entry index, version, whether the payment has a result, and a row of results) of every
# entry naming a known payment, by payment then in the file's order: `payment_results` and the
# entries' index by payment are then written front to back (appended to, for a new month's).
_MATCH_SQL = (
    f"SELECT t.idx, {VERSION}, pr.status IS NOT NULL, pr.version IS NOT NULL FROM {_IDS} t "
    f"JOIN payments p ON p.payment_id = t.id {RESULTS_JOIN} ORDER BY p.payment_id, t.idx"
)
# (payment, bank reference, kind) recorded from other files, for payments that have a result
# already: banks repeat an entry in daily and monthly statements, and the same reference for the
# same payment is one execution, not two. (By payment: bank_entries is indexed by it.) Not the
# entries set aside: the pending entry of a daily statement does not make its booking a repeat.
_SEEN_SQL = (
    "SELECT b.end_to_end_id, b.entry_ref, b.kind FROM bank_entries b "
    f"JOIN {_SETTLED} s ON b.end_to_end_id = s.id WHERE b.aside IS NULL"
)
#: The currencies an entry can state and still be a result of one of our payments (None: the
#: file states none, as a pain.002 status without the original amount).
_PAYMENTS_CURRENCY = frozenset({None, PAYMENT_CURRENCY})


@contextmanager
def _temporary(
    tx: Tx, name: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> Iterator[None]:
    """A temporary table of ``rows`` (``idx`` columns are integers, others text), for joins."""
    types = ", ".join(f"{c} {'INTEGER' if c == 'idx' else 'TEXT'} NOT NULL" for c in columns)
    tx.execute(f"CREATE TEMP TABLE {name} ({types})")
    rows = iter(rows)
    while chunk := list(islice(rows, 100_000)):  # a million rows need not be in memory twice
        tx.copy_rows(name, columns, chunk)
    if tx.dialect == "postgresql":
        tx.execute(f"ANALYZE {name}")  # its size, so that joins with it are planned for it
    yield
    tx.execute(f"DROP TABLE {name}")


#: An entry to record as a result event on a payment: (entry, payment id, version).
_Result = tuple[BankEntry, str, int]


class _LazyEvents(Sequence[StoredEvent]):
    """The stored events of a file's results, then of its own record: built one by one as
    they are first read (PostgreSQL works on the first while the next are built), their
    parts kept for the second read (the tamper-evident chain hashes them after the copy).
    Keeping the parts rather than the `StoredEvent` objects saves some 300 bytes an event."""

    def __init__(
        self,
        results: list[_Result | None],
        make: Callable[[BankEntry, str, int], StoredEvent],
        record: Sequence[Any],
        mapper: Mapper[UUID],
    ) -> None:
        self._results = results
        self._make = make
        self._record = record
        self._to_stored = mapper.to_stored_event
        self._size = len(results) + len(record)
        self._ids: list[UUID | str] = []
        self._versions: list[int] = []
        self._topics: list[str] = []
        self._states: list[bytes] = []

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[StoredEvent]:
        for i in range(self._size):
            yield self[i] if i < len(self._states) else self._build_next()

    @overload
    def __getitem__(self, i: int) -> StoredEvent: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[StoredEvent]: ...
    def __getitem__(self, i: int | slice) -> StoredEvent | Sequence[StoredEvent]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._size))]
        while len(self._states) <= i:
            self._build_next()
        return StoredEvent(self._ids[i], self._versions[i], self._topics[i], self._states[i])

    def _build_next(self) -> StoredEvent:
        n = len(self._states)
        if n < len(self._results):
            result = self._results[n]
            self._results[n] = None  # the entry is not needed once its event is built
            stored = self._make(*cast(_Result, result))
        else:
            stored = self._to_stored(self._record[n - len(self._results)])
        self._ids.append(stored.originator_id)
        self._versions.append(stored.originator_version)
        self._topics.append(stored.topic)
        self._states.append(stored.state)
        return stored


class _WriteThrough:
    """The bank-results read model's rows of a file, written in the transaction that records
    the file (`projections.runner.written_through`) straight from its entries: reading a
    million events back from the log and decoding them would take longer than recording them.
    The rows are the ones the model makes of the events (a test compares the two)."""

    def __init__(
        self,
        results: list[_Result | None],
        make: _StoredResults,
        records: Sequence[Any],
        with_rows: set[str],
        sealer: Sealer,
    ) -> None:
        self.results = results
        self.sealer = sealer  # the recorder's transaction knows nothing of the read models' key
        self.with_rows = with_rows  # the payments that have a row of results already
        self.make = make
        self.records = records
        self.topics = {get_topic(type(e)) for e in records} | set(make.topics.values())
        self.calls = 0
        self.done = False
        self.seconds = 0.0  # spent writing the rows

    @contextmanager
    def __call__(self, tx: Tx) -> Iterator[None]:
        from projections.registers import all_models  # the models import this package's peers

        self.calls += 1
        tx.sealer = self.sealer
        # A retried transaction finds results already turned into events (and let go of):
        # it leaves the rows to the catch-up.
        models = all_models() if self.calls == 1 else []
        model = next((m for m in models if isinstance(m, BankResultsModel)), None)
        appliers = {model.name: partial(self._apply, tx, model)} if model is not None else {}
        with written_through(tx, models, self.topics, appliers) as ready:
            yield
        self.done = ready

    def _apply(self, tx: Tx, model: BankResultsModel) -> None:
        started = time.perf_counter()
        page = ResultsPage()
        fid, today, day_recorded = self.make.fid, self.make.today, self.make.timestamp.date()
        for result in self.results:
            if result is None:  # only a retried transaction sees results let go of
                raise RuntimeError("bank import: results already turned into events")
            e, pid, version = result
            kind, seq, ref = e.kind, e.seq, e.entry_ref
            if kind == "executed":
                page.executed(
                    pid,
                    version,
                    fid,
                    seq,
                    ref,
                    e.amount,
                    e.booking_date,
                    e.creditor_name,
                    e.creditor_account,
                )
            elif kind == "accepted":
                page.accepted(pid, version, fid, seq, ref, e.status)
            else:
                returned = kind == "returned"
                page.failed(
                    pid,
                    version,
                    fid,
                    seq,
                    ref,
                    kind,
                    e.amount if returned else None,
                    (e.booking_date if returned else _reported_on(e, today)) or day_recorded,
                    e.reason_code,
                    _reason_text(e),
                )
        page.write(tx, existing=self.with_rows)
        model.apply(tx, self.records)
        self.seconds = time.perf_counter() - started


#: The result event of each kind of entry.
_RESULT_CLASSES: dict[str, type[Payment.BankResult]] = {
    "executed": Payment.Executed,
    "returned": Payment.Returned,
    "rejected": Payment.Rejected,
    "accepted": Payment.StatusReported,
}


class _StoredResults:
    """Stored result events, their JSON written by orjson without building pydantic models
    (they cost some 5 µs each, a million times per file).

    The first event of each kind is also built the ordinary way, through the event class and
    the application's mapper; the direct JSON is used for that kind only if its bytes are the
    same. With a cipher or compressor configured, every event goes the ordinary way."""

    def __init__(self, mapper: Mapper[UUID], fid: str, by: str, today: date | None) -> None:
        self.mapper = mapper
        self.fid, self.by, self.today = fid, by, today
        # The file's results are recorded at one moment, read from the events' own clock.
        self.timestamp = Payment.Executed.create_timestamp()
        self.ts = TypeAdapter(datetime).dump_python(self.timestamp, mode="json")
        self.topics = {kind: get_topic(cls) for kind, cls in _RESULT_CLASSES.items()}
        plain = mapper.cipher is None and mapper.compressor is None
        #: kind -> whether the direct JSON is used (checked on the kind's first event).
        self.fast: dict[str, bool] = {} if plain else dict.fromkeys(_RESULT_CLASSES, False)

    def __call__(self, e: BankEntry, pid: str, version: int) -> StoredEvent:
        kind = e.kind
        fast = self.fast.get(kind)
        if fast:
            # A copy: orjson's bytes keep its 4 KiB buffer (a million of them would be 4 GiB).
            state = bytes(memoryview(self._json(e, pid)))
            return StoredEvent(payment_aggregate_id(pid), version, self.topics[kind], state)
        stored = self.mapper.to_stored_event(
            _result_event(e, pid, version, self.fid, self.by, self.today, self.timestamp)
        )
        if fast is None:
            self.fast[kind] = stored.state == self._json(e, pid)
        return stored

    def _json(self, e: BankEntry, pid: str) -> bytes:
        """The event's state as the mapper writes it: fields in the class's order, dates ISO."""
        kind = e.kind
        if kind == "executed":
            return orjson.dumps(
                {
                    "timestamp": self.ts,
                    "by": self.by,
                    "payment_id": pid,
                    "file_id": self.fid,
                    "entry_seq": e.seq,
                    "entry_ref": e.entry_ref,
                    "amount": e.amount,
                    "booking_date": e.booking_date,
                    "value_date": e.value_date,
                    "creditor_name": e.creditor_name,
                    "creditor_account": e.creditor_account,
                }
            )
        head = {
            "timestamp": self.ts,
            "by": self.by,
            "payment_id": pid,
            "file_id": self.fid,
            "entry_seq": e.seq,
            "entry_ref": e.entry_ref,
        }
        if kind == "accepted":
            return orjson.dumps({**head, "status": e.status})
        reason_text = _reason_text(e)
        if kind == "returned":
            return orjson.dumps(
                {
                    **head,
                    "amount": e.amount,
                    "booking_date": e.booking_date,
                    "reason_code": e.reason_code,
                    "reason_text": reason_text,
                }
            )
        return orjson.dumps(
            {
                **head,
                "reason_code": e.reason_code,
                "reason_text": reason_text,
                "reported_on": _reported_on(e, self.today),
            }
        )


def _reason_text(e: BankEntry) -> str | None:
    """A failure's reason as the event keeps it: the bank's words, else the code's meaning."""
    return e.reason_text or (REASON_CODES.get(e.reason_code) if e.reason_code else None)


def _reported_on(e: BankEntry, today: date | None) -> date | None:
    """The day a rejection was reported: the file's, else the import's ``today``."""
    return e.booking_date or today


def _e2e(entry: BankEntry | None) -> str:
    """The end-to-end id of an entry matched to a payment (so it has one)."""
    return cast(str, cast(BankEntry, entry).end_to_end_id)


def _entry_record(e: BankEntry, matched: bool, day: date) -> dict[str, Any]:
    """An entry that is no payment's result, as the file's aggregate keeps it: what the file
    said, whether it names one of our payments (``matched``), and, if the file gave it no
    booking day, the day it was recorded (``reported_on``: the month it is reported in)."""
    record = {k: v for k, v in e._asdict().items() if v is not None}
    for k in ("booking_date", "value_date"):
        if k in record:
            record[k] = record[k].isoformat()
    if matched:
        record["matched"] = True
    if e.booking_date is None:
        record["reported_on"] = day.isoformat()
    return record


def _aside_label(aside: str, status: str | None, currency: str | None) -> str:
    """Why an entry counts as nothing, in the words of the import summary."""
    if aside == "not_booked":
        return f"not booked: {status}"
    if aside == "currency":
        return f"in {currency}"
    return "credit without return information"


def _result_event(
    e: BankEntry,
    pid: str,
    version: int,
    fid: str,
    by: str,
    today: date | None,
    timestamp: datetime,
) -> Payment.BankResult:
    oid = payment_aggregate_id(pid)
    kind = e.kind
    if kind == "executed":
        return Payment.Executed(
            originator_id=oid,
            originator_version=version,
            timestamp=timestamp,
            by=by,
            payment_id=pid,
            file_id=fid,
            entry_seq=e.seq,
            entry_ref=e.entry_ref,
            amount=e.amount,
            booking_date=e.booking_date,
            value_date=e.value_date,
            creditor_name=e.creditor_name,
            creditor_account=e.creditor_account,
        )
    common: dict[str, Any] = {
        "originator_id": oid,
        "originator_version": version,
        "timestamp": timestamp,
        "by": by,
        "payment_id": pid,
        "file_id": fid,
        "entry_seq": e.seq,
        "entry_ref": e.entry_ref,
    }
    reason_text = _reason_text(e)
    if kind == "returned":
        return Payment.Returned(
            **common,
            amount=e.amount,
            booking_date=e.booking_date,
            reason_code=e.reason_code,
            reason_text=reason_text,
        )
    if kind == "rejected":
        return Payment.Rejected(
            **common,
            reason_code=e.reason_code,
            reason_text=reason_text,
            reported_on=_reported_on(e, today),
        )
    return Payment.StatusReported(**common, status=e.status)
