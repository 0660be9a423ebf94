"""Staff duties, the programs config in the store, and runs that pay what was approved.

- ``staff_terms``: each staff member's roles and region from a date on (duties are judged on
  the date of the act, or a decision's effective date); ``relatives``: staff members'
  registered relatives (回避).
- ``config_versions``: which programs config is in force from which day.
- ``runs``: whether the prepare finished (``complete``) and the log position it is up to date
  with (``prepared_through``), held amounts, cancellation, approved and exported batches.
- ``payments``: ``batch`` (the approval that covers it: 1 the run's, later ones for payments
  released after it; NULL while a release waits for approval), ``cancelled``, ``released``
  (the hold types a release lifted).
- ``recoveries``: what was collected, and the status (open, collected, waived, withdrawn).
- ``aidledger_store``: facts about the store itself (whether its events are encrypted, and a
  fingerprint of the key), so a store is never written with and without a key.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ADDED = {
    "runs": (
        "complete INTEGER NOT NULL DEFAULT 0",
        "prepared_through {big} NOT NULL DEFAULT 0",
        "held_amount {big} NOT NULL DEFAULT 0",
        "recovery_amount {big} NOT NULL DEFAULT 0",
        "approved_batch INTEGER NOT NULL DEFAULT 0",
        "exported_batch INTEGER NOT NULL DEFAULT 0",
        "cancelled_by TEXT",
        "cancelled_at TEXT",
        "cancel_reason TEXT",
    ),
    "payments": (
        "batch INTEGER DEFAULT 1",
        "cancelled INTEGER NOT NULL DEFAULT 0",
        "released TEXT NOT NULL DEFAULT ''",
    ),
    "recoveries": (
        "version INTEGER NOT NULL DEFAULT 1",
        "collected {big} NOT NULL DEFAULT 0",
        "status TEXT NOT NULL DEFAULT 'open'",
    ),
}


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    date, big = ("DATE", "BIGINT") if pg else ("TEXT", "INTEGER")
    op.execute(
        "CREATE TABLE staff_terms ("
        f" staff_id TEXT NOT NULL, version INTEGER NOT NULL, since {date} NOT NULL,"
        " roles TEXT NOT NULL, region_code TEXT NOT NULL, PRIMARY KEY (staff_id, version))"
    )
    op.execute(
        "CREATE TABLE relatives ("
        " staff_id TEXT NOT NULL, id_number TEXT NOT NULL, version INTEGER NOT NULL,"
        " relation TEXT NOT NULL, source TEXT, PRIMARY KEY (staff_id, id_number))"
    )
    op.execute("CREATE INDEX relatives_id_number_idx ON relatives (id_number)")
    op.execute(
        "CREATE TABLE config_versions ("
        f" aggregate_id TEXT PRIMARY KEY, effective_from {date} NOT NULL, sha256 TEXT NOT NULL,"
        " filename TEXT NOT NULL, applied_by TEXT NOT NULL, recorded_at TEXT NOT NULL)"
    )
    for table, columns in _ADDED.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {column.format(big=big)}")
    op.execute("CREATE INDEX recoveries_status_idx ON recoveries (status)")
    op.execute("CREATE TABLE aidledger_store (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


def downgrade() -> None:
    op.execute("DROP INDEX recoveries_status_idx")
    for table, columns in _ADDED.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column.split()[0]}")
    for table in ("aidledger_store", "config_versions", "relatives", "staff_terms"):
        op.execute(f"DROP TABLE {table}")
