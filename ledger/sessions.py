"""Login attempts, lockouts, sessions and personal tokens: the one home of their tables' SQL.

Operational state, not ledger data (migration 0011): nothing here is an event, and a
projection rebuild leaves it alone. A session or personal token is kept only as the SHA-256
of the token: the token itself is shown once, to the person who logged in, and a copy of
the database lets nobody log in as anyone.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.logins import Lockout
from ledger.store import Database, Tx

#: Bytes of randomness in a session or personal token.
TOKEN_BYTES = 32


def stamp(at: datetime) -> str:
    """A timestamp as the tables keep it: fixed-width ISO text in UTC, so that text order is
    time order (``isoformat`` drops zero microseconds, which would break that)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def unstamp(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


def new_token() -> str:
    """A fresh session or personal token (shown once; the store keeps its hash)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the store keeps of a token. A plain SHA-256 suffices: a token is 256 random bits,
    not a password a person chose, so there is nothing to guess it from."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- attempts and lockouts ---------------------------------------------------------------------


def record_attempt(tx: Tx, staff_id: str, at: datetime, outcome: str) -> None:
    """Note one login attempt on a registered staff member's account and what it came to."""
    tx.execute(
        "INSERT INTO login_attempts (staff_id, at, outcome) VALUES (?, ?, ?)",
        (staff_id, stamp(at), outcome),
    )


def attempts(db: Database, staff_id: str) -> list[tuple[datetime, str]]:
    """A staff member's login attempts, oldest first: (when, outcome)."""
    rows = db.query(
        "SELECT at, outcome FROM login_attempts WHERE staff_id = ? ORDER BY id", (staff_id,)
    )
    return [(datetime.fromisoformat(at), str(outcome)) for at, outcome in rows]


@dataclass(frozen=True)
class LockoutRow:
    """A staff member's lockout state and the last TOTP time step their logins used."""

    lockout: Lockout
    last_totp_step: int | None


def lockout_for_update(tx: Tx, staff_id: str) -> LockoutRow:
    """The staff member's lockout row, held until ``tx`` ends (PostgreSQL: the row's lock, so
    that two attempts on one account are judged one after the other; SQLite: a writing
    transaction holds the whole store)."""
    tx.execute(
        "INSERT INTO login_lockouts (staff_id) VALUES (?) ON CONFLICT (staff_id) DO NOTHING",
        (staff_id,),
    )
    held = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    row = tx.execute(
        "SELECT failures, locked_until, last_totp_step FROM login_lockouts "
        f"WHERE staff_id = ?{held}",
        (staff_id,),
    ).fetchone()
    if row is None:  # inserted just above, in this transaction
        return LockoutRow(Lockout(), None)
    failures, locked_until, step = row
    return LockoutRow(
        Lockout(int(failures), unstamp(locked_until)), None if step is None else int(step)
    )


def save_lockout(tx: Tx, staff_id: str, row: LockoutRow) -> None:
    until = row.lockout.locked_until
    tx.execute(
        "UPDATE login_lockouts SET failures = ?, locked_until = ?, last_totp_step = ? "
        "WHERE staff_id = ?",
        (
            row.lockout.failures,
            None if until is None else stamp(until),
            row.last_totp_step,
            staff_id,
        ),
    )


def lockout_of(db: Database, staff_id: str) -> Lockout:
    """The staff member's lockout state (no lock held)."""
    rows = db.query(
        "SELECT failures, locked_until FROM login_lockouts WHERE staff_id = ?", (staff_id,)
    )
    if not rows:
        return Lockout()
    return Lockout(int(rows[0][0]), unstamp(rows[0][1]))


# -- sessions and personal tokens ----------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    """A session (or personal token) as the store keeps it: never the token."""

    token_hash: str
    staff_id: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    must_change_password: bool

    def valid(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


def insert_session(
    tx: Tx,
    hashed: str,
    staff_id: str,
    *,
    created_at: datetime,
    expires_at: datetime,
    must_change_password: bool,
) -> None:
    tx.execute(
        "INSERT INTO login_sessions (token_hash, staff_id, created_at, expires_at, "
        "must_change_password) VALUES (?, ?, ?, ?, ?)",
        (hashed, staff_id, stamp(created_at), stamp(expires_at), int(must_change_password)),
    )


def session_row(db: Database, hashed: str) -> SessionRow | None:
    rows = db.query(
        "SELECT token_hash, staff_id, created_at, expires_at, ended_at, must_change_password "
        "FROM login_sessions WHERE token_hash = ?",
        (hashed,),
    )
    if not rows:
        return None
    hashed_, staff_id, created, expires, ended, must_change = rows[0]
    return SessionRow(
        str(hashed_),
        str(staff_id),
        datetime.fromisoformat(created),
        datetime.fromisoformat(expires),
        unstamp(ended),
        bool(must_change),
    )


def end_session(tx: Tx, hashed: str, at: datetime) -> None:
    tx.execute(
        "UPDATE login_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
        (stamp(at), hashed),
    )


def end_sessions_of(tx: Tx, staff_id: str, at: datetime, *, keep: str | None = None) -> int:
    """End every open session of a staff member (but ``keep``'s); returns how many."""
    tx.execute(
        "UPDATE login_sessions SET ended_at = ? WHERE staff_id = ? AND ended_at IS NULL "
        "AND token_hash <> ?",
        (stamp(at), staff_id, keep or ""),
    )
    return tx.rowcount


def password_changed(tx: Tx, hashed: str) -> None:
    """The session's temporary password was changed: it may do everything now."""
    tx.execute("UPDATE login_sessions SET must_change_password = 0 WHERE token_hash = ?", (hashed,))


def purge_sessions(tx: Tx, before: datetime) -> None:
    """Forget sessions that expired before ``before`` (their hashes serve nobody)."""
    tx.execute("DELETE FROM login_sessions WHERE expires_at < ?", (stamp(before),))
