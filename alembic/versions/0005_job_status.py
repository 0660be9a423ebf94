"""Operational status of jobs (last success and last error per job), for `serve`'s metrics.

Not ledger data: nothing here is an event, and a projection rebuild leaves it alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE aidledger_job_status ("
        " job TEXT PRIMARY KEY, last_success_at TEXT, last_error_at TEXT, last_error TEXT,"
        " detail TEXT)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE aidledger_job_status")
