"""Tamper-evident log: every stored event is chained to the one before it by a SHA-256 hash.

    link(n) = sha256(link(n-1) || originator_id (16 bytes) || version (8 bytes, big-endian)
                     || len(topic) (4 bytes) || topic (UTF-8) || state (as stored))

with link(0) = 32 zero bytes. The links live in ``aidledger_chain`` (seq 1, 2, 3, … with the
notification id of the event each one covers). The recorders (``ledger.recorders``) append the
links of a batch in the transaction that inserts its events, while they hold the lock that
orders the log (PostgreSQL: the events table in EXCLUSIVE mode; SQLite: the write lock), so the
chain follows the notification order exactly.

``verify`` walks the events and the chain together and names the first event that was edited,
deleted, reordered, or inserted behind the application's back. Someone able to rewrite the whole
table could recompute every link; the head hash printed by ``verify``, ``payout approve`` and
``report payouts`` is what anchors the chain outside the database (``verify --head`` checks an
anchored hash is still in the chain).

What the chain alone cannot show (nothing secret goes into a link): someone with write access
who deletes the newest events together with their links, or appends events with correctly
computed links, or rewrites everything after some point and recomputes it. Each of those
changes the head, which is why the head is printed for anchoring outside: compare it, or pass
it to ``verify --head``, and any of them is caught back to the last anchor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.store import copy_binary

CHAIN_TABLE = "aidledger_chain"
GENESIS = bytes(32)


def link(prev: bytes, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The hash of one event chained to the previous link (pure)."""
    t = topic.encode()
    return hashlib.sha256(
        b"".join(
            (
                prev,
                originator_id.bytes,
                version.to_bytes(8, "big", signed=True),
                len(t).to_bytes(4, "big"),
                t,
                state,
            )
        )
    ).digest()


def links(prev: bytes, stored_events: Iterable[StoredEvent]) -> list[bytes]:
    """The links of a batch of events after ``prev``, in order."""
    chained = Links(prev)
    for _ in chained.through(stored_events):
        pass
    return chained.hashes


class Links:
    """The links of a batch after ``start``, computed as its events go by: a recorder hashes
    each event while the database takes in the one before (`through`)."""

    def __init__(self, start: bytes) -> None:
        self.start = start
        self.hashes: list[bytes] = []

    def through(self, stored_events: Iterable[StoredEvent]) -> Iterator[StoredEvent]:
        prev = self.hashes[-1] if self.hashes else self.start
        for s in stored_events:
            oid = s.originator_id
            prev = link(
                prev,
                oid if isinstance(oid, UUID) else UUID(str(oid)),
                s.originator_version,
                s.topic,
                s.state,
            )
            self.hashes.append(prev)
            yield s


def _rows(
    head: tuple[int, bytes] | None,
    ids: Sequence[int],
    stored_events: Sequence[StoredEvent],
    linked: Links | None = None,
) -> list[tuple[int, int, bytes]]:
    if len(ids) != len(stored_events):
        raise RuntimeError(
            f"chain: {len(stored_events)} events written but {len(ids)} notification ids found"
        )
    seq, prev = head if head is not None else (0, GENESIS)
    if linked is not None and linked.start == prev and len(linked.hashes) == len(ids):
        hashes = linked.hashes
    else:
        hashes = links(prev, stored_events)
    return [(seq + 1 + i, nid, h) for i, (nid, h) in enumerate(zip(ids, hashes, strict=True))]


def head_postgres(curs: Any) -> tuple[int, bytes] | None:
    """(seq, hash) of the newest link, read in the writer's transaction (None: no chain yet)."""
    curs.execute(f"SELECT seq, hash FROM {CHAIN_TABLE} ORDER BY seq DESC LIMIT 1")
    row = curs.fetchone()
    return (_values(row)[0], bytes(_values(row)[1])) if row is not None else None


def append_postgres(
    curs: Any,
    events_table: str,
    stored_events: Sequence[StoredEvent],
    linked: Links | None = None,
) -> None:
    """Chain a batch just inserted on PostgreSQL (``curs`` is in its transaction, under the
    EXCLUSIVE lock, so the batch's events are the highest notification ids). ``linked``: the
    batch's links if they were computed as it was written (after the same head)."""
    if not stored_events:
        return
    n = len(stored_events)
    newest = f"(SELECT notification_id FROM {events_table} ORDER BY notification_id DESC LIMIT {n})"
    curs.execute(f"SELECT MIN(notification_id), MAX(notification_id) FROM {newest} AS b")
    low, high = _values(curs.fetchone())
    if high - low + 1 == n:  # the usual case: the batch's ids are consecutive
        ids: list[int] = list(range(low, high + 1))
    else:  # a gap (a rolled-back insert took some): read them
        curs.execute(f"SELECT notification_id FROM {newest} AS b")
        ids = sorted(_values(r)[0] for r in curs.fetchall())
    rows = _rows(head_postgres(curs), ids, stored_events, linked)
    if len(rows) >= 64:
        sql = f"COPY {CHAIN_TABLE} (seq, notification_id, hash) FROM STDIN (FORMAT BINARY)"
        copy_binary(curs, sql, ("int8", "int8", "bytea"), rows)
    else:
        curs.executemany(
            f"INSERT INTO {CHAIN_TABLE} (seq, notification_id, hash) VALUES (%s, %s, %s)", rows
        )


def append_sqlite(c: Any, events_table: str, stored_events: Sequence[StoredEvent]) -> None:
    """Chain a batch just inserted on SQLite (inside its write transaction)."""
    if not stored_events:
        return
    c.execute(
        f"SELECT rowid FROM {events_table} ORDER BY rowid DESC LIMIT ?", (len(stored_events),)
    )
    ids = sorted(r[0] for r in c.fetchall())
    c.execute(f"SELECT seq, hash FROM {CHAIN_TABLE} ORDER BY seq DESC LIMIT 1")
    row = c.fetchone()
    head = (row[0], bytes(row[1])) if row is not None else None
    c.executemany(
        f"INSERT INTO {CHAIN_TABLE} (seq, notification_id, hash) VALUES (?, ?, ?)",
        _rows(head, ids, stored_events),
    )


def _values(row: Any) -> tuple[Any, ...]:
    # The library's PostgreSQL cursors return dict rows; plain cursors return tuples.
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


@dataclass(frozen=True)
class Head:
    seq: int
    notification_id: int
    hash: bytes

    def __str__(self) -> str:
        return f"event #{self.notification_id} (link {self.seq}) sha256:{self.hash.hex()}"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    events: int
    head: Head | None
    problem: str | None = None
    notification_id: int | None = None
    anchor_found: bool | None = None


def _events_sql(dialect: str) -> str:
    from ledger.store import events_table, notification_column

    nid = notification_column(dialect)
    return (
        f"SELECT {nid}, originator_id, originator_version, topic, state "
        f"FROM {events_table(dialect)} WHERE {nid} <= ? ORDER BY {nid}"
    )


def head(db: Any) -> Head | None:
    """The newest link of the chain (what to anchor outside the database)."""
    rows = db.query(
        f"SELECT seq, notification_id, hash FROM {CHAIN_TABLE} ORDER BY seq DESC LIMIT 1"
    )
    if not rows:
        return None
    seq, nid, h = rows[0]
    return Head(int(seq), int(nid), bytes(h))


def check(
    events: Iterator[tuple[Any, ...]],
    chain: Iterator[tuple[Any, ...]],
    anchor: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> Verdict:
    """Walk the events (notification order) and the chain (seq order) together (pure)."""
    prev, expected_seq, count = GENESIS, 1, 0
    last: Head | None = None
    found = None if anchor is None else False
    ev = next(events, None)
    ln = next(chain, None)

    def bad(problem: str, nid: int | None) -> Verdict:
        return Verdict(False, count, last, problem, nid, found)

    while ev is not None or ln is not None:
        if ln is None:
            ev = cast(tuple[Any, ...], ev)  # the loop runs while either is left
            return bad(
                f"event #{ev[0]} is not in the chain (written behind the application's back)", ev[0]
            )
        seq, lnid, stored = int(ln[0]), int(ln[1]), bytes(ln[2])
        if seq != expected_seq:
            after = f"after event #{last.notification_id}" if last else "at the start of the log"
            return bad(
                f"chain link {expected_seq} is missing {after} (an event and its link deleted)",
                lnid,
            )
        if ev is None or lnid < int(ev[0]):
            return bad(f"event #{lnid} was deleted (its chain link {seq} remains)", lnid)
        nid, oid, version, topic, state = ev
        nid = int(nid)
        if nid < lnid:
            return bad(
                f"event #{nid} is not in the chain (written behind the application's back)", nid
            )
        uid = oid if isinstance(oid, UUID) else UUID(str(oid))
        if isinstance(oid, str) and oid != uid.hex:
            # SQLite keeps ids as text and looks events up by that exact text: another
            # spelling of the same UUID would hash alike but hide the event from its aggregate.
            return bad(f"event #{nid}'s aggregate id was rewritten ({oid!r})", nid)
        # A value edited by hand may come back as text: hashed as UTF-8, it cannot match.
        raw = state.encode() if isinstance(state, str) else bytes(state)
        if link(prev, uid, int(version), str(topic), raw) != stored:
            kind = str(topic).rsplit(":", 1)[-1]
            return bad(
                f"event #{nid} (aggregate {uid}, version {version}, {kind}) "
                "does not match its chain link: edited, or moved from another position",
                nid,
            )
        if anchor is not None and stored == anchor:
            found = True
        prev, expected_seq, count = stored, expected_seq + 1, count + 1
        if progress is not None and count % 10000 == 0:
            progress(10000)
        last = Head(seq, nid, stored)
        ev = next(events, None)
        ln = next(chain, None)
    return Verdict(True, count, last, None, None, found)


def verify(
    db: Any, anchor: bytes | None = None, progress: Callable[[int], None] | None = None
) -> Verdict:
    """Recompute the whole chain from the stored events (streamed, constant memory).

    Bounded by the head read first: events and links commit together, so everything up to the
    head is complete on both sides even while new batches are being written.
    """
    # The newest event first, then the head: a batch committed in between is then covered by
    # the head, and events written behind the application's back after it are still checked.
    from ledger.store import log_head

    bound = log_head(db)
    top = head(db)
    limit_nid = max(top.notification_id if top else 0, bound)
    limit_seq = top.seq if top else 0
    events: Generator[tuple[Any, ...], None, None] = db.stream(
        _events_sql(db.dialect), (limit_nid,), size=5000
    )
    chain = _chain_stream(db, limit_seq)
    try:
        return check(events, chain, anchor, progress)
    finally:
        events.close()
        chain.close()


def _chain_stream(db: Any, limit_seq: int) -> Generator[tuple[Any, ...], None, None]:
    # A second cursor beside the events stream: a separate connection of the same store.
    from ledger.store import Database

    other = Database(db.store)
    try:
        yield from other.stream(
            f"SELECT seq, notification_id, hash FROM {CHAIN_TABLE} WHERE seq <= ? ORDER BY seq",
            (limit_seq,),
            size=5000,
        )
    finally:
        other.close()
