"""One-off relief (临时救助): the grants as recorded.

- ``grants``: one row per grant (``aidledger import grants``), with its aggregate version and
  source; indexed by grantee (repeats within a window) and by program and day (what the next
  payout run pays).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-15
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    day, big = ("DATE", "BIGINT") if pg else ("TEXT", "INTEGER")
    op.execute(
        "CREATE TABLE grants ("
        " grant_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL,"
        " program TEXT NOT NULL, region_code TEXT NOT NULL, name TEXT NOT NULL,"
        " id_number TEXT NOT NULL, household_size INTEGER NOT NULL,"
        f" amount {big} NOT NULL, decided_on {day} NOT NULL, reason TEXT NOT NULL,"
        " bank_account TEXT NOT NULL, account_name TEXT NOT NULL, decided_by TEXT NOT NULL,"
        " approved_by TEXT NOT NULL, county TEXT NOT NULL, source TEXT NOT NULL)"
    )
    op.execute("CREATE INDEX grants_id_number_idx ON grants (id_number)")
    op.execute("CREATE INDEX grants_program_day_idx ON grants (program, decided_on)")


def downgrade() -> None:
    op.execute("DROP TABLE grants")
