"""An index on ``payments.reissue_of``: each prepare asks, of every returned or rejected
payment, whether a reissue of it stands; without the index SQLite scanned every payment for
each (a prepare of 40,000 payments took minutes).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX payments_reissue_of_idx ON payments (reissue_of)")


def downgrade() -> None:
    op.execute("DROP INDEX payments_reissue_of_idx")
