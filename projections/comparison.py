"""Comparison records as imported, and the one home of their SQL.

``comparison_records``: one row per record of a comparison file (`ledger.comparison`),
copied from its events a chunk at a time (COPY on PostgreSQL). `compare` reads a month's
cases' people's records through `records_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any, ClassVar

from eligibility.comparison import Record
from ledger.comparison import ComparisonFile
from ledger.events import LedgerEvent
from ledger.sealing import CLEAR, Sealer
from ledger.store import Database, LedgerApp, Tx, as_date, param_chunks, pool_query, read_ahead
from projections.runner import DEFERRED_INDEXES, ReadModel, restore_indexes, set_indexes_aside

COLUMNS = (
    "file_id",
    "line",
    "source",
    "id_number",
    "source_ref",
    "as_of",
    "value",
    "amount",
    "detail",
    "until",
)


class ComparisonModel(ReadModel):
    """``comparison_records``: every record of every comparison file."""

    name: ClassVar[str] = "comparison"
    tables: ClassVar[tuple[str, ...]] = ("comparison_records",)
    topics: ClassVar[frozenset[str]] = frozenset({ComparisonFile.RecordsAdded.TOPIC})

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        rows: list[tuple[Any, ...]] = []
        day = date.fromisoformat
        for e in events:
            if isinstance(e, ComparisonFile.RecordsAdded):
                # Each record as `ComparisonRecord.as_list` wrote it, read without building
                # one: a chunk is thousands of records.
                file_id, source = e.file_id, e.source_name
                rows += [
                    (
                        file_id,
                        int(v[0]),
                        source,
                        v[1],
                        v[2],
                        day(v[3]),
                        v[4],
                        None if v[5] is None else int(v[5]),
                        v[6],
                        None if v[7] is None else day(v[7]),
                    )
                    for v in e.records
                ]
        tx.copy_rows("comparison_records", COLUMNS, tx.sealer.seal_rows(rows, (3, 4)))


#: The person index through which `case_records` joins a chunk of cases' people to their
#: records (on PostgreSQL it covers the compared columns: migration 0023).
PERSON_INDEX = "comparison_records_id_idx"
#: A comparison file of at least this many records, and at least a quarter as many as the
#: table holds, is written without the person index (`defer_person_index`).
DEFER_INDEX_AT = 100_000
#: The job that builds the person index again (`runner.restore_indexes`).
BUILT_BY = "compare"


def defer_person_index(db: Database, records: int) -> bool:
    """Set the person index aside before writing a large comparison file (``records`` of
    them); the next `compare` builds it again (`ensure_person_index`), not the catch-up at
    the end of the import: a province's files come one after another, one per source, and
    the index is built once over all of them. True if it was set aside.

    A file comes in its source's order, so every record written through the index is an
    insert at a random place of it; built over the whole table it is one sort. A small file
    next to a large table keeps the index: its inserts cost less than building it again."""
    if records < DEFER_INDEX_AT or _waiting(db):
        return False  # small, or set aside by an earlier file: no need to count the table
    held = int(db.query("SELECT COUNT(*) FROM comparison_records")[0][0])
    if records * 4 < held:
        return False
    with db.transaction() as tx:
        return bool(
            set_indexes_aside(tx, ("comparison_records",), names={PERSON_INDEX}, built_by=BUILT_BY)
        )


def _waiting(db: Database) -> bool:
    """Whether the person index is set aside, waiting for the compare."""
    return bool(db.query(f"SELECT 1 FROM {DEFERRED_INDEXES} WHERE name = ?", (PERSON_INDEX,)))


def ensure_person_index(db: Database) -> bool:
    """Build the person index if a large import set it aside (`defer_person_index`); True
    if built."""
    return restore_indexes(db, built_by=BUILT_BY) > 0


def records_of(db: Database, id_numbers: Sequence[str], as_of: date) -> list[Record]:
    """The records about these people known as of ``as_of`` (``as_of`` on or before it)."""
    out: list[Record] = []
    for chunk in param_chunks(sorted(set(db.sealer.seal_all(id_numbers)))):
        marks = ", ".join("?" * len(chunk))
        out += [
            _record(v, db.sealer)
            for v in db.query(
                "SELECT source, id_number, source_ref, as_of, value, amount, detail, until "
                f"FROM comparison_records WHERE id_number IN ({marks}) AND as_of <= ?",
                [*chunk, as_of],
            )
        ]
    return out


def as_of_day(value: Any) -> date:
    day = as_date(value)
    if day is None:
        raise ValueError("a comparison record without as_of")
    return day


def people_with_records(db: Database) -> set[str]:
    """Every id number some comparison record is about (a month's compare asks only for the
    cases of these people)."""
    rows = db.query("SELECT DISTINCT id_number FROM comparison_records")
    return {db.sealer.open(r[0]) for r in rows}


#: Cases per chunk of `case_record_chunks`.
CASES_PER_CHUNK = 50_000


def case_record_chunks(
    db: Database,
    first: date,
    last: date,
    as_of: date,
    size: int | None = None,
    *,
    app: LedgerApp | None = None,
) -> Iterator[list[tuple[str, str, str, Record]]]:
    """`case_records` a chunk of ``size`` cases in effect at a time (by case id; default
    `CASES_PER_CHUNK`; a chunk without records is left out), so that a province's ten
    million records are never held at once.
    With the store's ``app`` on PostgreSQL, the next chunk's records are read (on a
    connection of the event store's pool) while the caller judges this one (`read_ahead`):
    the join is the database's work, the judging Python's, on two cores."""
    size = size or CASES_PER_CHUNK
    ids = [
        r[0]
        for r in db.query(
            f"SELECT case_id FROM cases WHERE {_IN_EFFECT} ORDER BY case_id", (last, first)
        )
    ]
    bounds = [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]
    pool = app if db.dialect == "postgresql" else None

    def read(within: tuple[str, str]) -> list[Any]:
        sql, params = _case_records_query(first, last, as_of, within)
        return pool_query(pool, sql, params) if pool is not None else db.query(sql, params)

    for _, rows in read_ahead(bounds, read, threaded=pool is not None):
        if rows:  # a chunk none of whose cases has a record is no chunk
            yield _case_rows(rows, db.sealer)


#: A case in effect some day from ``first`` to ``last`` (parameters: last, first).
_IN_EFFECT = "start_date <= ? AND (effective_to IS NULL OR effective_to >= ?)"


def case_records(
    db: Database,
    first: date,
    last: date,
    as_of: date,
    *,
    within: tuple[str, str] | None = None,
) -> list[tuple[str, str, str, Record]]:
    """Every record known on ``as_of`` about a person of a case in effect some day from
    ``first`` to ``last`` (its holder, or a member in effect on ``first``):
    ``(case_id, program, region_code, record)``, by case; ``within``: only the cases whose
    ids are from the first to the second. The join is the database's: a province's month
    reads only the records about its cases' people."""
    return _case_rows(db.query(*_case_records_query(first, last, as_of, within)), db.sealer)


def _case_records_query(
    first: date, last: date, as_of: date, within: tuple[str, str] | None
) -> tuple[str, tuple[Any, ...]]:
    bounds = " AND case_id BETWEEN ? AND ?" if within else ""
    sql = (
        "WITH live AS (SELECT case_id, program, region_code, id_number FROM cases "
        f"WHERE {_IN_EFFECT}{bounds}), "
        "people AS (SELECT case_id, id_number FROM live UNION SELECT m.case_id, "
        "m.member_id_number FROM household_members m JOIN live l ON l.case_id = m.case_id "
        "WHERE m.date_from <= ? AND (m.date_to IS NULL OR m.date_to >= ?)) "
        "SELECT p.case_id, l.program, l.region_code, r.source, r.id_number, r.source_ref, "
        "r.as_of, r.value, r.amount, r.detail, r.until FROM people p "
        "JOIN comparison_records r ON r.id_number = p.id_number "
        "JOIN live l ON l.case_id = p.case_id WHERE r.as_of <= ? ORDER BY p.case_id"
    )
    return sql, (last, first, *(within or ()), first, first, as_of)


def _case_rows(rows: Iterable[Sequence[Any]], sealer: Sealer) -> list[tuple[str, str, str, Record]]:
    return [(r[0], r[1], r[2], _record(r[3:], sealer)) for r in rows]


def _record(v: Sequence[Any], sealer: Sealer = CLEAR) -> Record:
    source, id_number, ref, day, value, amount, detail, until = v
    # PostgreSQL gives dates and integers; SQLite ISO text (and integers).
    return Record(
        source,
        sealer.open(id_number),
        sealer.open(ref),
        day if type(day) is date else as_of_day(day),
        value,
        amount,
        detail,
        until if until is None or type(until) is date else as_date(until),
    )
