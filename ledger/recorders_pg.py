"""The PostgreSQL event writer: ``COPY`` for big batches, under the library's lock, with the
batch's chain links in the same transaction (see ``ledger.recorders``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import InterfaceError, OperationalError
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger import chain
from ledger.recorders import COPY_THRESHOLD, Around, entered_around
from ledger.store import SESSION_OPTIONS, Tx, copy_binary


class CopyPostgresRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder: every batch in one transaction of ours, under the
    library's EXCLUSIVE lock, with its chain links; large batches by ``COPY``.

    The library's own insert path is not used: it catches exceptions inside its transaction
    and re-raises them after the commit, so an error while chaining would leave events
    committed without links.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        # The library's pool opens its connections in the constructor below (to register
        # its types): they are to have the settings of every aidledger session.
        pool_kwargs = datastore.pool.kwargs
        if isinstance(pool_kwargs, dict):
            pool_kwargs["options"] = SESSION_OPTIONS
        super().__init__(datastore, **kwargs)

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
                entered_around(around, Tx(ours, "postgresql")),
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
