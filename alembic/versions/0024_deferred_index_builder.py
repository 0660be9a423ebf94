"""An index set aside may wait for the job that reads through it.

``aidledger_deferred_indexes`` kept the indexes a rebuild set aside until the next catch-up
reached the head of the log. A large comparison import sets aside the records' person index
(`projections.comparison.defer_person_index`) and the next ``compare`` builds it: ``built_by``
names that job ("compare"); NULL is the catch-up, as before.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE aidledger_deferred_indexes ADD COLUMN built_by TEXT")


def downgrade() -> None:
    # The indexes waiting for a job are then built by the next catch-up.
    op.execute("ALTER TABLE aidledger_deferred_indexes DROP COLUMN built_by")
