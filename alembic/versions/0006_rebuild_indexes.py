"""Faster rebuilds and case lookups: indexes set aside during a rebuild; cases by aggregate;
the source (file, content hash, line) of each register row's latest decision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A projection rebuild drops the read models' secondary indexes and builds them again at
    # the end (one sort instead of a million random inserts); their definitions wait here, so
    # a rebuild that crashes gets them back from the next catch-up.
    op.execute(
        "CREATE TABLE aidledger_deferred_indexes (name TEXT PRIMARY KEY, definition TEXT NOT NULL)"
    )
    # Decisions on existing cases are applied by aggregate id (a monthly changes file).
    op.execute("CREATE INDEX cases_aggregate_idx ON cases (aggregate_id)")
    # Where each row's latest event came from ("cases.csv@<sha256 prefix>:<line>"): a rerun of
    # an import killed half-way counts the rows the killed run wrote as this file's own.
    for table in ("cases", "staff", "deaths"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN source TEXT")


def downgrade() -> None:
    for table in ("cases", "staff", "deaths"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN source")
    op.execute("DROP INDEX cases_aggregate_idx")
    op.execute("DROP TABLE aidledger_deferred_indexes")
