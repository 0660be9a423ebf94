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

The PostgreSQL recorder is in ``ledger.recorders_pg``: a command on an SQLite store never
loads the PostgreSQL driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from ledger import chain
from ledger.store import Tx

#: Below this many events a batch is INSERTed (on PostgreSQL) rather than COPYed.
COPY_THRESHOLD = 64

#: ``insert_events(events, around=...)``: a context manager entered with the writing
#: transaction (under the lock) before the events are written and left after them, for work
#: that must commit with them (`projections.runner.written_through`).
Around = Callable[[Tx], AbstractContextManager[object]]


def entered_around(around: Around | None, tx: Tx) -> AbstractContextManager[object]:
    return around(tx) if around is not None else nullcontext()


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
        with entered_around(around, Tx(c.sqlite_cursor, "sqlite")):
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
