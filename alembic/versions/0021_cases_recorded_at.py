"""When each case's latest decision was recorded (``cases.recorded_at``).

A month's movements (增减变动) read each case as the ledger knew it when the month began and
ended; a case ended before the month as known now can have been in effect then only if a
decision recorded since ended it. With the time of each case's latest event, the report reads
only the cases in effect on or after the month's first day and those decided since it began,
not every case ever started. Rows written before this revision have none (NULL: read, as
before) until the next ``projections rebuild``.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-16
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE cases ADD COLUMN recorded_at TEXT")


def downgrade() -> None:
    op.execute("ALTER TABLE cases DROP COLUMN recorded_at")
