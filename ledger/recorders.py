"""Faster event writers for big batches, behind the eventsourcing library's recorder interface.

The library inserts on PostgreSQL with one INSERT of a composite-type array (measured ~13k
events/s here) and on SQLite one INSERT per event. A monthly run writes hundreds of thousands
of events, so large batches go through ``COPY`` (PostgreSQL, binary format) or one
``executemany`` (SQLite) in one transaction. On PostgreSQL the table is locked in EXCLUSIVE
mode first, exactly as the library does, so notification ids are committed in order and a
reader tailing the log never skips an event. Small batches use the library's own path.

Both paths also append the batch's links to the tamper-evident chain (``ledger.chain``) in the
same transaction, under the same lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from ledger import chain

#: Below this many events a batch goes through the library's own INSERT.
COPY_THRESHOLD = 64


class CopyPostgresRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder that COPYs large batches."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if len(stored_events) < COPY_THRESHOLD:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        table = f"{self.datastore.schema}.{self.events_table_name}"
        copy_sql = SQL(
            "COPY {0}.{1} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            with curs.copy(copy_sql) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for s in stored_events:
                    copy.write_row((s.originator_id, s.originator_version, s.topic, s.state))
            chain.append_postgres(curs, table, stored_events)
        # The ids are not needed by aidledger (Application.save then returns no recordings).
        return None

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The library's INSERT path: still in its transaction, under its EXCLUSIVE lock.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        chain.append_postgres(
            curs, f"{self.datastore.schema}.{self.events_table_name}", stored_events
        )
        return ids


class BatchSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder that inserts a batch with one executemany."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **_: Any
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
