"""Imports that were reverted: who undid a file's decisions, when, and why.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLUMNS = ("reverted_by TEXT", "reverted_at TEXT", "revert_reason TEXT")


def upgrade() -> None:
    for column in _COLUMNS:
        op.execute(f"ALTER TABLE imported_files ADD COLUMN {column}")


def downgrade() -> None:
    for column in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE imported_files DROP COLUMN {column.split()[0]}")
