"""Bank results: payment status columns, bank files and entries, the finding workflow.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    date, big = ("DATE", "BIGINT") if pg else ("TEXT", "INTEGER")
    for column in (
        "version INTEGER NOT NULL DEFAULT 1",
        "status TEXT NOT NULL DEFAULT 'instructed'",
        "executions INTEGER NOT NULL DEFAULT 0",
        f"executed_amount {big}",
        f"executed_on {date}",
        "reported_account TEXT",
        "reported_name TEXT",
        f"result_on {date}",
        "result_reason TEXT",
    ):
        op.execute(f"ALTER TABLE payments ADD COLUMN {column}")
    op.execute("CREATE INDEX payments_status_idx ON payments (status)")
    op.execute(
        "CREATE TABLE bank_files ("
        " file_id TEXT PRIMARY KEY, kind TEXT NOT NULL, filename TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, profile TEXT, entries INTEGER NOT NULL, matched INTEGER NOT NULL,"
        " unmatched INTEGER NOT NULL, imported_by TEXT NOT NULL, recorded_at TEXT NOT NULL)"
    )
    op.execute(
        "CREATE TABLE bank_entries ("
        " file_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, end_to_end_id TEXT,"
        f" amount {big}, booking_date {date}, creditor_name TEXT, creditor_account TEXT,"
        " reason_code TEXT, reason_text TEXT, entry_ref TEXT, matched INTEGER NOT NULL,"
        " period TEXT, PRIMARY KEY (file_id, seq))"
    )
    op.execute("CREATE INDEX bank_entries_e2e_idx ON bank_entries (end_to_end_id)")
    op.execute("CREATE INDEX bank_entries_period_idx ON bank_entries (period, matched)")
    for column in (
        "assigned_to TEXT",
        "resolution TEXT",
        "updated_at TEXT",
        "comments INTEGER NOT NULL DEFAULT 0",
    ):
        op.execute(f"ALTER TABLE findings ADD COLUMN {column}")


def downgrade() -> None:
    op.execute("DROP TABLE bank_entries")
    op.execute("DROP TABLE bank_files")
