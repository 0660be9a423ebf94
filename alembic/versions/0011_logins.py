"""Logins: attempts, lockouts and sessions (operational state, not ledger data).

The logins themselves (password hashes, TOTP secrets) are events of the `Login` aggregate;
these tables hold what happens at each login, which no auditor replays and a projection
rebuild leaves alone:

- ``login_attempts``: every attempt on a registered staff member's account, with its outcome
  (never the password, nor what was typed as a staff id that is not one).
- ``login_lockouts``: per staff member, the failed logins in a row, the end of a lock, and
  the last TOTP time step used (a code is accepted once).
- ``login_sessions``: sessions and personal tokens, by the SHA-256 of the token (never the
  token), with their expiry, end, and whether the password must be changed first.

Times are fixed-width ISO text in UTC (``2026-12-15T08:00:00.000000+00:00``), ordered as text.

Self-contained: it creates only these three tables, and needs nothing of 0010 but its place
in the chain (if another migration lands as 0011 first, renumber this one after it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-16
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    serial = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    op.execute(
        f"CREATE TABLE login_attempts (id {serial}, staff_id TEXT NOT NULL,"
        " at TEXT NOT NULL, outcome TEXT NOT NULL)"
    )
    op.execute("CREATE INDEX login_attempts_staff_idx ON login_attempts (staff_id, at)")
    op.execute(
        "CREATE TABLE login_lockouts (staff_id TEXT PRIMARY KEY,"
        " failures INTEGER NOT NULL DEFAULT 0, locked_until TEXT, last_totp_step BIGINT)"
    )
    op.execute(
        "CREATE TABLE login_sessions (token_hash TEXT PRIMARY KEY, staff_id TEXT NOT NULL,"
        " created_at TEXT NOT NULL, expires_at TEXT NOT NULL, ended_at TEXT,"
        " must_change_password INTEGER NOT NULL DEFAULT 0)"
    )
    op.execute("CREATE INDEX login_sessions_staff_idx ON login_sessions (staff_id)")
    op.execute("CREATE INDEX login_sessions_expiry_idx ON login_sessions (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE login_sessions")
    op.execute("DROP TABLE login_lockouts")
    op.execute("DROP TABLE login_attempts")
