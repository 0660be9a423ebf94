"""The batched, exactly-once projection runner.

It reads the notification log a page at a time, applies the page to each read model and
advances that model's tracking record in the same transaction. The tracking update is a
compare-and-set (``WHERE notification_id = <the position we started from>``), so two
processes catching up at once cannot both apply a page: the loser rolls back and re-reads.
A crash between pages loses nothing; a crash inside a page rolls the page back.

While a page is applied, the next one is read and decoded on a second thread (the database
does the first's writes meanwhile). A rebuild sets the read models' secondary indexes aside
and builds them again once the models reach the head of the log.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import ClassVar, cast

from ledger.events import LedgerEvent
from ledger.sealing import Sealer
from ledger.store import (
    Database,
    EventBatch,
    LedgerApp,
    Tx,
    gc_paused,
    is_pg_error,
    log_head_in,
)

TRACKING_TABLE = "aidledger_tracking"
DEFERRED_INDEXES = "aidledger_deferred_indexes"


class ReadModel(ABC):
    """A read model: tables it owns, the event topics it reads, and how a page applies."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    topics: ClassVar[frozenset[str]]

    @abstractmethod
    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        """Apply a page of events (in log order) to this model's tables."""

    def reset(self, tx: Tx) -> None:
        """Empty this model's tables (before a rebuild)."""
        for table in self.tables:
            tx.execute(f"{'TRUNCATE' if tx.dialect == 'postgresql' else 'DELETE FROM'} {table}")


class ConcurrentCatchUp(Exception):
    """Another process advanced a read model while this one was applying the same page."""


def positions(db: Database, models: Sequence[ReadModel]) -> dict[str, int]:
    """Each model's position in the notification log (0 when it has read nothing)."""
    with db.transaction(write=False) as tx:
        return _positions_in(tx, [m.name for m in models])


def _positions_in(tx: Tx, names: Sequence[str], *, lock: bool = False) -> dict[str, int]:
    """The positions of the models named ``names``, read in ``tx``; with ``lock``, their rows
    held until it ends (PostgreSQL; a writing SQLite transaction holds the whole store)."""
    held = " FOR UPDATE" if lock and tx.dialect == "postgresql" else ""
    sql = f"SELECT application_name, notification_id FROM {TRACKING_TABLE}{held}"
    rows = dict(tx.execute(sql).fetchall())
    return {name: int(rows.get(name, 0)) for name in names}


def _advance(tx: Tx, read: Mapping[str, int], to_position: int) -> None:
    """Move the models named in ``read`` (each name: the position it had read to) to
    ``to_position``: one statement for all that had read to the same place (a console page's
    catch-up moves sixteen models past one event), refused (`ConcurrentCatchUp`) if another
    process moved any of them first."""
    by_position: dict[int, list[str]] = {}
    for name, position in read.items():
        by_position.setdefault(position, []).append(name)
    for name in by_position.get(0, ()):
        tx.execute(
            f"INSERT INTO {TRACKING_TABLE} (application_name, notification_id) VALUES (?, 0) "
            "ON CONFLICT (application_name) DO NOTHING",
            (name,),
        )
    for position, names in by_position.items():
        tx.execute(
            f"UPDATE {TRACKING_TABLE} SET notification_id = ? "
            f"WHERE notification_id = ? AND application_name IN ({', '.join('?' * len(names))})",
            (to_position, position, *names),
        )
        if tx.rowcount != len(names):
            raise ConcurrentCatchUp(", ".join(names))


def catch_up(
    app: LedgerApp,
    db: Database,
    models: Sequence[ReadModel],
    *,
    page_size: int = 5000,
    on_page: Callable[[int, int], None] | None = None,
    standing: Standing | None = None,
) -> int:
    """Bring every model up to the head of the log. Returns the number of events applied.

    ``on_page(position, head)`` is called after each committed page (for progress bars).
    ``standing``: where the models stood, as `behind` just read it (not read again).
    """
    with gc_paused():
        return _catch_up(app, db, models, page_size, on_page, standing)


#: Where read models stand: the position each has read the log to, and the log's head.
Standing = tuple[dict[str, int], int]


def behind(db: Database, names: Sequence[str]) -> Standing | None:
    """Where the models named ``names`` stand, read in one transaction; None if they have all
    read the log to its head (nothing to apply: the caller need not even build them), and
    then any index a rebuild set aside is built again first, as `catch_up` does at the head."""
    with db.transaction(write=False) as tx:
        head = log_head_in(tx)
        read = _positions_in(tx, names)
    if any(position < head for position in read.values()):
        return read, head
    restore_indexes(db)
    return None


Page = tuple[int, list[tuple[int, LedgerEvent]]]


def _read_page(app: LedgerApp, start: int, page_size: int, wanted: frozenset[str]) -> Page | None:
    """Notifications from ``start``, decoded (only the topics some model reads)."""
    notifications = app.recorder.select_notifications(start=start, limit=page_size)
    if not notifications:
        return None
    decoded = [
        (n.id, cast(LedgerEvent, app.mapper.to_domain_event(n)))
        for n in notifications
        if n.topic in wanted
    ]
    return notifications[-1].id, decoded


def _catch_up(
    app: LedgerApp,
    db: Database,
    models: Sequence[ReadModel],
    page_size: int,
    on_page: Callable[[int, int], None] | None,
    standing: Standing | None = None,
) -> int:
    wanted = frozenset().union(*(m.topics for m in models))
    readers = {topic: [m for m in models if topic in m.topics] for topic in wanted}
    applied = 0
    if standing is not None and set(standing[0]) == {m.name for m in models}:
        pos, head = dict(standing[0]), standing[1]
    else:
        pos = positions(db, models)
        head = app.recorder.max_notification_id() or 0
    # The next page is read on a thread while one is written: a thread started only when
    # there is a next page (a console page's catch-up has one event to read).
    reader: ThreadPoolExecutor | None = None
    try:
        ahead: tuple[int, Future[Page | None]] | None = None
        while pos and min(pos.values()) < head:
            start = min(pos.values()) + 1
            if ahead is not None and ahead[0] == start:
                page = ahead[1].result()
            else:
                page = _read_page(app, start, page_size, wanted)
            ahead = None
            if page is None:
                break
            last, decoded = page
            if last < head:  # read the next page while this one is written
                if reader is None:
                    reader = ThreadPoolExecutor(1, thread_name_prefix="log-reader")
                ahead = (last + 1, reader.submit(_read_page, app, last + 1, page_size, wanted))
            # Route each event to the models that read its topic, in one pass over the page.
            routed: dict[str, list[LedgerEvent]] = {m.name: [] for m in models}
            for nid, event in decoded:
                for model in readers[event.TOPIC]:
                    if nid > pos[model.name]:
                        routed[model.name].append(event)
            behind = [model for model in models if pos[model.name] < last]
            try:
                with db.transaction() as tx:
                    # Claim the page first: a process that lost the race stops here (and
                    # re-reads) instead of running into the winner's rows.
                    _advance(tx, {m.name: pos[m.name] for m in behind}, last)
                    for model in behind:
                        model.apply(tx, routed[model.name])
                        applied += len(routed[model.name])
            except ConcurrentCatchUp:
                pos = positions(db, models)
                continue
            pos = {name: max(p, last) for name, p in pos.items()}
            if on_page is not None:
                on_page(last, head)
        if ahead is not None:
            ahead[1].cancel()
    finally:
        if reader is not None:
            reader.shutdown()
    if pos and min(pos.values()) >= head:
        restore_indexes(db)
    return applied


@contextmanager
def written_through(
    tx: Tx,
    models: Sequence[ReadModel],
    topics: Collection[str],
    appliers: Mapping[str, Callable[[], None]],
) -> Iterator[bool]:
    """Around the recording of events of ``topics`` in ``tx``, under the store's write lock:
    project them in the same transaction instead of reading them back from the log.

    If every model has read the log to its head, and every model that reads one of ``topics``
    has an applier (``appliers[model.name]()`` writes that model's rows of the events being
    recorded, in ``tx``), the appliers run and, once the events are recorded, every model moves
    past them. Yields whether that happens; if not (a model is behind: another process is
    catching up, say), nothing is applied and the next catch-up reads the events as any other.
    """
    before = log_head_in(tx)
    read = _positions_in(tx, [m.name for m in models], lock=True)
    readers = [m for m in models if m.topics.intersection(topics)]
    ready = (
        bool(models)
        and all(p == before for p in read.values())
        and all(m.name in appliers for m in readers)
    )
    if ready:
        for model in readers:
            appliers[model.name]()
    yield ready
    if ready:
        _advance(tx, dict.fromkeys((m.name for m in models), before), log_head_in(tx))


class WrittenThroughBatch(EventBatch):
    """An `EventBatch` of events one read model reads, each transaction's events applied to
    that model (its own ``apply``) in that same transaction (`written_through`) instead of
    read back from the log and decoded: for bulk work whose events are many or large (a
    comparison file's chunks of records, a comparison's findings). ``models`` are all the
    read models; the events' topics must be read by ``model`` alone; ``sealer`` is the
    store's (`Database.sealer`). Once a transaction finds a model behind (another process
    catching up, say), that one and the rest are left to the catch-up (the caller's `sync`
    after)."""

    def __init__(
        self,
        app: LedgerApp,
        limit: int,
        models: Sequence[ReadModel],
        model: ReadModel,
        *,
        sealer: Sealer,
        after_flush: Callable[[Sequence[LedgerEvent]], None] | None = None,
        overlap: bool = False,
    ) -> None:
        super().__init__(app, limit, overlap=overlap)
        self.models, self.model = models, model
        # The recorder's transaction knows nothing of the read models' key: the store's.
        self.sealer = sealer
        self.flushed = after_flush
        #: Whether every transaction so far was written through.
        self.through = True

    def _put(self, events: Sequence[LedgerEvent]) -> None:
        self.app.events.put(events, around=partial(self._projected, events=events))

    def _written(self, events: Sequence[LedgerEvent], items: int) -> None:
        super()._written(events, items)
        if self.flushed:
            self.flushed(events)

    @contextmanager
    def _projected(self, tx: Tx, *, events: Sequence[LedgerEvent]) -> Iterator[None]:
        tx.sealer = self.sealer
        models = self.models if self.through else []
        appliers = {self.model.name: partial(self.model.apply, tx, events)}
        with written_through(tx, models, self.model.topics, appliers) as ready:
            yield
        self.through = ready


def lag(app: LedgerApp, db: Database, models: Sequence[ReadModel]) -> int:
    """How many notifications the slowest read model is behind the head of the log."""
    head = app.recorder.max_notification_id() or 0
    pos = positions(db, models)
    return max(0, head - min(pos.values(), default=head))


def reset(db: Database, models: Sequence[ReadModel], *, defer_indexes: bool = True) -> None:
    """Empty the models and their tracking rows, in one transaction (before a rebuild).

    With ``defer_indexes`` their secondary (non-unique) indexes are dropped too, their
    definitions kept in ``aidledger_deferred_indexes`` until a catch-up reaches the head.
    """
    tables = [t for m in models for t in m.tables]
    with db.transaction() as tx:
        for model in models:
            model.reset(tx)
            tx.execute(f"DELETE FROM {TRACKING_TABLE} WHERE application_name = ?", (model.name,))
        if defer_indexes:
            set_indexes_aside(tx, tables)


def set_indexes_aside(
    tx: Tx, tables: Sequence[str], *, names: Collection[str] = (), built_by: str | None = None
) -> list[str]:
    """Drop the secondary (non-unique) indexes of ``tables`` (only those in ``names`` if
    given), keeping their definitions in ``aidledger_deferred_indexes``: bulk writes are
    then one sort when the index is built again instead of a random insert per row. Built
    again by the next catch-up that reaches the head of the log, or, ``built_by`` a job, by
    that job (`restore_indexes`). Returns the names dropped."""
    dropped = []
    for name, definition in _secondary_indexes(tx, tx.dialect, tables):
        if names and name not in names:
            continue
        tx.execute(
            f"INSERT INTO {DEFERRED_INDEXES} (name, definition, built_by) VALUES (?, ?, ?)",
            (name, definition, built_by),
        )
        tx.execute(f"DROP INDEX {name}")
        dropped.append(name)
    return dropped


def _secondary_indexes(tx: Tx, dialect: str, tables: Sequence[str]) -> list[tuple[str, str]]:
    marks = ", ".join("?" * len(tables))
    if dialect == "sqlite":
        sql = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})"
        )
    else:
        sql = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            f"AND tablename IN ({marks})"
        )
    rows = tx.execute(sql, tables).fetchall()
    return [(n, d) for n, d in rows if not str(d).upper().startswith("CREATE UNIQUE")]


def restore_indexes(db: Database, *, built_by: str | None = None) -> int:
    """Build the indexes set aside (`set_indexes_aside`) for the catch-up, or with
    ``built_by`` those waiting for that job (a no-op when there are none)."""
    waiting = "built_by IS NULL" if built_by is None else "built_by = ?"
    select = f"SELECT name, definition FROM {DEFERRED_INDEXES} WHERE {waiting} ORDER BY name"
    params = () if built_by is None else (built_by,)
    pending = db.query(select, params)
    if not pending:
        return 0
    try:
        with db.transaction() as tx:
            if tx.dialect == "postgresql":
                # The sort of millions of keys in memory rather than in temporary files.
                tx.execute("SET LOCAL maintenance_work_mem = '256MB'")
            # Whoever deletes the rows first builds the indexes; another process restoring at
            # the same moment finds nothing left to do.
            for name, definition in tx.execute(select, params).fetchall():
                tx.execute(f"DELETE FROM {DEFERRED_INDEXES} WHERE name = ?", (name,))
                if tx.rowcount == 1:
                    tx.execute(
                        str(definition).replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
                    )
    except Exception as e:
        if isinstance(e, sqlite3.IntegrityError) or is_pg_error(e, "UniqueViolation"):
            return 0  # built by another process in the same moment (both transactions are whole)
        raise
    return len(pending)
