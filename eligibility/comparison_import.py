"""Importing a comparison file (核对): all or nothing, once, a chunk of records per event.

The file is read as the other imports read theirs (`ledger.imports`): a first reading checks
every row (every problem, by line, refuses the whole file before anything is written); a
second converts the lines checked without checking them again
(`ledger.validation.checked_comparison_records`) and writes the records,
`ledger.comparison.CHUNK` to an event, a few events to a transaction, each transaction's
records copied into ``comparison_records`` in that same transaction
(`projections.runner.WrittenThroughBatch`). A large file is written without the records'
person index, which the next ``compare`` builds again (`projections.comparison.defer_person_index`).
The same content imported again (under any name) records nothing. An import killed half-way
stays open (other commands refuse to read until it completes): run again, it writes the
chunks the killed run did not (a chunk's number is its event's version, and the chunks of a
file are always cut the same way).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
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
from ledger.csvfile import InputFile, reread_values
from ledger.csvparts import count_checked
from ledger.imports import DryBatch, Importer, ImportSummary, Progress, RowReport
from ledger.registry import FileImport, ImportedFile
from ledger.service import PhaseClock
from ledger.store import EventBatch, batched, events_table, gc_paused
from ledger.validation import checked_comparison_records, count_comparison_rows
from projections.comparison import ComparisonModel, defer_person_index
from projections.runner import WrittenThroughBatch

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
            # A large file's halves checked in two processes at once (`ledger.csvparts`).
            rows, problems = count_checked(file, columns, count_comparison_rows, source, str(today))
            problems.refuse_if_any(str(file.path))
            clock.lap("validate")

            written = self._chunks_written(sha) if resuming else 0
            if report is None:
                defer_person_index(self.db, rows)
            if not resuming and report is None:
                # The opening events in a transaction of their own, projected at once: the
                # chunks' transactions are then written through (`_written_through`).
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
                DryBatch(self.app, EVENTS_PER_TRANSACTION)
                if report is not None
                else self._written_through(progress)
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

    def _written_through(self, progress: Progress | None) -> WrittenThroughBatch:
        """The chunks' transactions, each copying its records into ``comparison_records``
        itself: ten million records are some two thousand events of five thousand records,
        and reading them back from the log to decode them took as long as writing them."""

        def flushed(events: Sequence[Any]) -> None:
            if progress is not None:
                progress(sum(len(e.records) for e in events))

        return self.written_through(
            ComparisonModel, limit=EVENTS_PER_TRANSACTION, after_flush=flushed
        )

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
