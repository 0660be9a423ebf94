"""The money trail: findings say what explains them, and are found by case.

- ``findings``: ``instructed_amount``, ``bank_amount`` (fen), ``bank_name`` (masked) and
  ``file_id`` (the bank file that showed it), for the finding types they explain.
- an index of findings by case: a case's history reads its findings.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big = "BIGINT" if op.get_bind().dialect.name == "postgresql" else "INTEGER"
    for column in (
        f"instructed_amount {big}",
        f"bank_amount {big}",
        "bank_name TEXT",
        "file_id TEXT",
    ):
        op.execute(f"ALTER TABLE findings ADD COLUMN {column}")
    op.execute("CREATE INDEX findings_case_idx ON findings (case_id)")


def downgrade() -> None:
    op.execute("DROP INDEX findings_case_idx")
    for column in ("file_id", "bank_name", "bank_amount", "instructed_amount"):
        op.execute(f"ALTER TABLE findings DROP COLUMN {column}")
