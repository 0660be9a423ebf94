"""Households and data comparison (核对).

- ``household_members``: one row per member of a case's household (``aidledger import
  households``), keyed by case and member, indexed by the member's id number (interest,
  duplicates, deaths and comparison look members up by person).
- ``comparison_records``: other departments' records (``aidledger import comparison``), one
  row per record, keyed by the file (the start of its content hash) and line; indexed by id
  number (a household's records) and by source.
- ``findings`` gains what explains a comparison finding: ``source``, ``source_ref``, ``value``
  and ``limit_value`` (shown as ``limit``).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-20
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    day, big = ("DATE", "BIGINT") if pg else ("TEXT", "INTEGER")
    op.execute(
        "CREATE TABLE household_members ("
        " case_id TEXT NOT NULL, member_id_number TEXT NOT NULL, aggregate_id TEXT NOT NULL,"
        " version INTEGER NOT NULL, member_name TEXT NOT NULL, relation TEXT NOT NULL,"
        f" date_from {day} NOT NULL, date_to {day}, source TEXT NOT NULL,"
        " PRIMARY KEY (case_id, member_id_number))"
    )
    op.execute("CREATE INDEX household_members_id_idx ON household_members (member_id_number)")
    op.execute(
        "CREATE TABLE comparison_records ("
        " file_id TEXT NOT NULL, line INTEGER NOT NULL, source TEXT NOT NULL,"
        f" id_number TEXT NOT NULL, source_ref TEXT NOT NULL, as_of {day} NOT NULL,"
        f" value TEXT NOT NULL, amount {big}, detail TEXT NOT NULL, until {day},"
        " PRIMARY KEY (file_id, line))"
    )
    op.execute("CREATE INDEX comparison_records_id_idx ON comparison_records (id_number)")
    for column in ("source", "source_ref", "value", "limit_value"):
        op.execute(f"ALTER TABLE findings ADD COLUMN {column} TEXT")


def downgrade() -> None:
    for column in ("source", "source_ref", "value", "limit_value"):
        op.execute(f"ALTER TABLE findings DROP COLUMN {column}")
    op.execute("DROP TABLE comparison_records")
    op.execute("DROP TABLE household_members")
