"""Faster event writers for big batches, behind the eventsourcing library's recorder interface.

The library inserts on PostgreSQL with one INSERT of a composite-type array (measured ~13k
events/s here) and on SQLite one INSERT per event. A monthly run writes hundreds of thousands
of events, so large batches go through ``COPY`` (PostgreSQL, binary format) or one
``executemany`` (SQLite) in one transaction. On PostgreSQL the table is locked in EXCLUSIVE
mode first, exactly as the library does, so notification ids are committed in order and a
reader tailing the log never skips an event. Small batches are INSERTed (PostgreSQL) or go
through the library's own path (SQLite).

Every batch also appends the batch's links to the tamper-evident chain (``ledger.chain``) in the
same transaction, under the same lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import retry
from psycopg import InterfaceError, OperationalError
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger import chain
from ledger.store import Tx, copy_binary

#: Below this many events a batch is INSERTed (on PostgreSQL) rather than COPYed.
COPY_THRESHOLD = 64

#: ``insert_events(events, around=...)``: a context manager entered with the writing
#: transaction (under the lock) before the events are written and left after them, for work
#: that must commit with them (`projections.runner.written_through`).
Around = Callable[[Tx], AbstractContextManager[object]]


def _around(around: Around | None, tx: Tx) -> AbstractContextManager[object]:
    return around(tx) if around is not None else nullcontext()


class CopyPostgresRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder: every batch in one transaction of ours, under the
    library's EXCLUSIVE lock, with its chain links; large batches by ``COPY``.

    The library's own insert path is not used: it catches exceptions inside its transaction
    and re-raises them after the commit, so an error while chaining would leave events
    committed without links.
    """

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, around: Around | None = None, **_: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            with (
                conn.cursor(row_factory=tuple_row) as ours,
                _around(around, Tx(ours, "postgresql")),
            ):
                self._insert(curs, stored_events)
        # The ids are not needed by aidledger (Application.save then returns no recordings).
        return None

    def _insert(self, curs: Any, stored_events: Sequence[StoredEvent]) -> None:
        schema, name = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        head = chain.head_postgres(curs)
        linked = chain.Links(head[1] if head else chain.GENESIS)
        rows = (
            (s.originator_id, s.originator_version, s.topic, s.state)
            for s in linked.through(stored_events)
        )
        if len(stored_events) < COPY_THRESHOLD:
            curs.executemany(
                SQL(
                    "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state) "
                    "VALUES (%s, %s, %s, %s)"
                ).format(schema, name),
                list(rows),
            )
        else:
            copy_sql = SQL(
                "COPY {0}.{1} (originator_id, originator_version, topic, state) "
                "FROM STDIN (FORMAT BINARY)"
            ).format(schema, name)
            # Row by row as they are read: a lazy sequence builds each event meanwhile, and
            # each is hashed into the chain while PostgreSQL takes in the one before.
            copy_binary(curs, copy_sql, ("uuid", "int8", "text", "bytea"), rows)
        chain.append_postgres(
            curs, f"{self.datastore.schema}.{self.events_table_name}", stored_events, linked
        )


class BatchSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder that inserts a batch with one executemany."""

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        around: Around | None = None,
        **_: Any,
    ) -> Sequence[int] | None:
        with _around(around, Tx(c.sqlite_cursor, "sqlite")):
            return self._insert(c, stored_events)

    def _insert(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]
    ) -> Sequence[int] | None:
        if len(stored_events) < COPY_THRESHOLD:
            ids = super()._insert_events(c, stored_events)
            chain.append_sqlite(c, self.events_table_name, stored_events)
            return ids
        c.executemany(
            self.insert_events_statement,
            [
                (
                    s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for s in stored_events
            ],
        )
        chain.append_sqlite(c, self.events_table_name, stored_events)
        return None
