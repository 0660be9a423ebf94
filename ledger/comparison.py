"""Data comparison (核对): other departments' records about the people of our cases.

A comparison file (``aidledger import comparison FILE --source SOURCE``) holds one source's
records: vehicles, registered businesses, real estate, deposits, income, social insurance,
household registration (户籍), or other departments' benefits. Each record says what the
source knew of one id number on a date (``as_of``); `eligibility.comparison` judges a case's
household against its program's limits with them.

How they are recorded. A province's sources hold some ten million records a month; one event
(and one aggregate) per record would be written at the event store's ~14k events a second, a
quarter of an hour, and read back by the projection one by one. A file is instead one
aggregate (`ComparisonFile`, id derived from the file's content) whose events each carry a
chunk of up to `CHUNK` records (`ComparisonFile.RecordsAdded`): still in the log, chained,
encrypted with the store's key, rebuilt into the ``comparison_records`` read model by
``projections rebuild``; written a chunk a transaction, and copied into the read model a chunk
at a time (COPY on PostgreSQL). A chunk's records are never changed: a later file with newer
``as_of`` dates is how a source corrects itself.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, NamedTuple, Self
from uuid import UUID

from ledger.comparison_terms import COMPARISON_COLUMNS, OTHER_BENEFIT_COLUMNS, SOURCES
from ledger.errors import InvalidValue
from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id


def columns_of(source: str) -> tuple[str, ...]:
    return OTHER_BENEFIT_COLUMNS if source == "other_benefit" else COMPARISON_COLUMNS


def check_source(source: str) -> str:
    if source not in SOURCES:
        raise InvalidValue(f"unknown comparison source {source!r} (known: {', '.join(SOURCES)})")
    return source


class ComparisonRecord(NamedTuple):
    """One record of a source about one person, as the source knew it on ``as_of``.

    ``value`` as the file said it (a money value normalised to "1234.50"); ``amount`` its fen
    for a money source. For ``other_benefit``: ``source_ref`` is ``department:benefit``,
    ``as_of`` the benefit's first day, ``until`` its last (None: still paid), ``amount`` the
    monthly amount. A named tuple (immutable, and built in a third of a frozen dataclass's
    time: an import of ten million records builds each twice)."""

    line: int
    id_number: str
    source_ref: str
    as_of: date
    value: str
    amount: int | None
    detail: str
    until: date | None = None

    def as_list(self) -> list[Any]:
        return [
            self.line,
            self.id_number,
            self.source_ref,
            self.as_of.isoformat(),
            self.value,
            self.amount,
            self.detail,
            None if self.until is None else self.until.isoformat(),
        ]

    @classmethod
    def from_list(cls, v: list[Any]) -> ComparisonRecord:
        return cls(
            int(v[0]),
            v[1],
            v[2],
            date.fromisoformat(v[3]),
            v[4],
            None if v[5] is None else int(v[5]),
            v[6],
            None if v[7] is None else date.fromisoformat(v[7]),
        )


def comparison_file_aggregate_id(sha256: str) -> UUID:
    return derived_id("comparison_file", sha256)


class ComparisonFile(LedgerAggregate):
    """One imported comparison file: its source, then its records a chunk per event."""

    class Imported(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.ComparisonFileImported"
        source_name: str  # the comparison source (vehicle, business, …)
        filename: str
        sha256: str

    class RecordsAdded(LedgerAggregate.Event):
        """A chunk of the file's records, each ``ComparisonRecord.as_list``."""

        TOPIC: ClassVar[str] = "aidledger.ComparisonRecordsAdded"
        source_name: str
        file_id: str
        records: list[list[Any]]

    @classmethod
    def open(cls, *, source: str, filename: str, sha256: str, by: str) -> Self:
        return cls._create(
            cls.Imported,
            id=comparison_file_aggregate_id(sha256),
            by=by,
            source_name=source,
            filename=filename,
            sha256=sha256,
        )

    @classmethod
    def chunk_event(
        cls, *, sha256: str, source: str, version: int, records: list[ComparisonRecord], by: str
    ) -> ComparisonFile.RecordsAdded:
        """The event of the file's chunk number ``version - 1`` (built directly: a file's
        chunks are written without loading the aggregate)."""
        return cls.RecordsAdded(
            originator_id=comparison_file_aggregate_id(sha256),
            originator_version=version,
            timestamp=cls.RecordsAdded.create_timestamp(),
            by=by,
            source_name=source,
            file_id=sha256[:12],
            records=[r.as_list() for r in records],
        )


register_event_topics(ComparisonFile, "aidledger.ComparisonFile")
