"""Imports under way: ``import_runs``, one row per import that writes in batches.

An import records that it started (``aidledger.ImportStarted``) in its first transaction and
ends with its file's record (``aidledger.FileImported``); ``completed_at`` stays NULL in
between, and while any row has it NULL, payout runs, reconciliation and reports refuse
(``projections.registers.refuse_while_importing``). Keyed like ``imported_files`` (the file's
kind and content), so the file's record closes its row.

Self-contained: one new table, nothing else changed. No backfill: imports recorded before
this revision were complete (the start event did not exist), and the read model's position
in the log is kept, so no replay is needed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE import_runs ("
        " file_id TEXT PRIMARY KEY, kind TEXT NOT NULL, filename TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, started_by TEXT NOT NULL, started_at TEXT NOT NULL,"
        " completed_at TEXT)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE import_runs")
