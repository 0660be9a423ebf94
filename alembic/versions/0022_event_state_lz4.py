"""Event payloads compressed with lz4 on PostgreSQL, where the server has it.

An event's state over about 2 kB is compressed by PostgreSQL as it is written (TOAST). Most
events are a few hundred bytes, but a comparison file is written a chunk of 5,000 records an
event (~350 kB of JSON): with the default compression (pglz) PostgreSQL spent 11.7 ms writing
each such event, with lz4 2.1 ms (same machine, same event; lz4 keeps it ~25% larger). The
import's writes are the database's work, on the core beside the reading and checking, so this
is time off a province's ten million records. Values already stored stay as they are (both
methods are read alike); SQLite stores are untouched.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _lz4_available() -> bool:
    """Whether this server was built with lz4 (PostgreSQL 14 and later, ``--with-lz4``)."""
    row = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        .fetchone()
    )
    return row is not None and "lz4" in (row[0] or [])


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and _lz4_available():
        op.execute("ALTER TABLE aidledger_events ALTER COLUMN state SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and _lz4_available():
        op.execute("ALTER TABLE aidledger_events ALTER COLUMN state SET COMPRESSION pglz")
