"""Importing a comparison file (核对): all or nothing, once, a chunk of records per event.

The file is read as the other imports read theirs (`ledger.imports`): a first reading checks
every row (every problem, by line, refuses the whole file before anything is written); a
second converts the lines checked without checking them again
(`ledger.validation.checked_comparison_records`) and writes the records,
`ledger.comparison.CHUNK` to an event, a few events to a transaction, each transaction's
records copied into ``comparison_records`` in that same transaction (`_WrittenThrough`).
The same content imported again (under any name) records nothing. An import killed half-way
stays open (other commands refuse to read until it completes): run again, it writes the
chunks the killed run did not (a chunk's number is its event's version, and the chunks of a
file are always cut the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from ledger.comparison import (
    ComparisonFile,
    ComparisonRecord,
    check_source,
    columns_of,
    comparison_file_aggregate_id,
)
from ledger.comparison_terms import CHUNK
from ledger.csvfile import InputFile, iter_rows, reread_values
from ledger.errors import Problems
from ledger.imports import Importer, ImportSummary, Progress, RowReport, _DryBatch
from ledger.registry import FileImport, ImportedFile
from ledger.service import PhaseClock
from ledger.store import EventBatch, Tx, batched, events_table, gc_paused
from ledger.validation import checked_comparison_records, comparison_rows
from projections.comparison import ComparisonModel
from projections.runner import written_through

KIND = "comparison"
#: Chunk events per transaction (each carries `CHUNK` records).
EVENTS_PER_TRANSACTION = 4


class ComparisonImporter(Importer):
    """``aidledger import comparison FILE --source SOURCE``: caseworker."""

    def import_comparison(
        self,
        path: Path,
        *,
        source: str,
        by: str,
        today: date | None = None,
        progress: Progress | None = None,
        report: RowReport | None = None,
    ) -> ImportSummary:
        """Import one comparison file of ``source``. Raises InputRefused (nothing recorded),
        NotAuthorised, ImportIncomplete (another import is open), InvalidValue (a source not
        known).

        With ``report`` it is a dry run: every check as for the import, then each record the
        import would write handed to ``report`` (`record_report`) as its chunk is built, and
        nothing recorded."""
        check_source(source)
        clock = PhaseClock()
        today = today or self.today
        with InputFile(path, max_bytes=self.max_input_bytes) as file:
            sha, name = file.sha256, file.path.name
            summary = ImportSummary(
                kind=KIND, filename=name, sha256=sha, dry_run=report is not None
            )
            self.sync()
            directory = self.directory()
            directory.actor(by, today).require("caseworker", to="import a comparison file")
            previous = self._previous_import(KIND, sha)
            if previous is not None:
                summary.already_imported = True
                summary.previously = previous
                return summary
            resuming = self._refuse_while_another_import_is_open(KIND, sha, name)

            columns = columns_of(source)
            problems = Problems()
            rows = 0
            for _ in comparison_rows(iter_rows(file, columns, problems), source, today, problems):
                rows += 1
            problems.refuse_if_any(str(file.path))
            clock.lap("validate")

            written = self._chunks_written(sha) if resuming else 0
            if not resuming and report is None:
                # The opening events in a transaction of their own, projected at once: the
                # chunks' transactions are then written through (`_WrittenThrough`).
                self.app.events.put(
                    [
                        *FileImport.start(
                            kind=KIND, filename=name, sha256=sha, by=by
                        ).collect_events(),
                        *ComparisonFile.open(
                            source=source, filename=name, sha256=sha, by=by
                        ).collect_events(),
                    ]
                )
                self.sync()
            records = checked_comparison_records(reread_values(file, columns), source)
            if report is not None:
                records = _reported(records, report)
            batch: EventBatch = (
                _DryBatch(self.app, EVENTS_PER_TRANSACTION)
                if report is not None
                else _WrittenThrough(self.app, EVENTS_PER_TRANSACTION, after_flush=progress)
            )
            with gc_paused(), batch:
                for n, chunk in enumerate(batched(records, CHUNK)):
                    version = n + 2  # the file's opening event is version 1
                    if version <= written:
                        continue  # written by a killed run of this same import
                    batch.add(
                        ComparisonFile.chunk_event(
                            sha256=sha, source=source, version=version, records=chunk, by=by
                        )
                    )
            if not resuming:
                batch.written += 2  # the opening events (a dry run: would be)
            clock.lap("write")
            summary.rows = summary.new = rows
            summary.events = batch.written
            if report is not None:
                return summary  # a dry run: nothing recorded
            self.app.save(
                ImportedFile.record(
                    kind=KIND,
                    filename=name,
                    sha256=sha,
                    by=by,
                    rows=rows,
                    new=rows,
                    changed=0,
                    unchanged=0,
                )
            )
            self.sync()
            clock.lap("project")
            summary.seconds = clock.laps
            return summary

    def _chunks_written(self, sha: str) -> int:
        """The version of the file's aggregate a killed run of this import reached (0: none)."""
        uid = comparison_file_aggregate_id(sha)
        rows = self.db.query(
            f"SELECT MAX(originator_version) FROM {events_table(self.db.dialect)} "
            "WHERE originator_id = ?",
            (uid.hex if self.db.dialect == "sqlite" else uid,),
        )
        return int(rows[0][0] or 0) if rows else 0


def record_report(record: ComparisonRecord) -> dict[str, Any]:
    """What a dry run reports of a record: ``{"line", "key", "outcome", "changes"}`` as the
    other imports' dry runs do (`ledger.imports.RowReport`), the key its person's id number,
    the changes each field the record is written with as ``[None, value]``."""
    fields = {
        "id_number": record.id_number,
        "source_ref": record.source_ref,
        "as_of": record.as_of.isoformat(),
        "value": record.value,
        "detail": record.detail,
        "until": None if record.until is None else record.until.isoformat(),
    }
    return {
        "line": record.line,
        "key": record.id_number,
        "outcome": "new",
        "changes": {k: [None, v] for k, v in fields.items()},
    }


def _reported(records: Iterable[ComparisonRecord], report: RowReport) -> Iterator[ComparisonRecord]:
    for record in records:
        report(record_report(record))
        yield record


class _WrittenThrough(EventBatch):
    """A comparison file's chunk events, each transaction's records copied into the read
    model in that transaction (`projections.runner.written_through`) by the model's own
    `ComparisonModel.apply`, instead of read back from the log and decoded: ten million
    records are some two thousand events of five thousand records each, and decoding them
    again took as long as writing them. A test compares the rows with a rebuild's. Once a
    transaction finds a read model behind (another process catching up, say), that one and
    the rest are left to the catch-up."""

    def __init__(self, app: Any, limit: int, *, after_flush: Callable[[int], None] | None) -> None:
        from projections.registers import all_models  # the models import this package's peers

        super().__init__(app, limit)
        self.progress = after_flush
        self.models = all_models()
        self.model = next(m for m in self.models if isinstance(m, ComparisonModel))
        self.through = True

    def flush(self) -> None:
        events = self.events
        if not events:
            return
        self.app.events.put(events, around=partial(self._projected, events=events))
        self.written += len(events)
        if self.progress:
            self.progress(sum(len(e.records) for e in events))
        self.events, self.items = [], 0

    @contextmanager
    def _projected(self, tx: Tx, *, events: list[Any]) -> Iterator[None]:
        models = self.models if self.through else []
        appliers = {self.model.name: partial(self.model.apply, tx, events)}
        with written_through(tx, models, self.model.topics, appliers) as ready:
            yield
        self.through = ready
