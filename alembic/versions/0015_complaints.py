"""Verification requests to other departments and complaints (举报投诉): their read models.

The requests and complaints themselves are events; these tables are what the listings, the
overdue checks and the metrics read. No column holds who complained (that stays in the
complaint's first event, encrypted with the store's cipher when a key is set).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-16
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    date = "DATE" if op.get_bind().dialect.name == "postgresql" else "TEXT"
    op.execute(
        "CREATE TABLE verification_requests ("
        " request_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, program TEXT NOT NULL,"
        " region_code TEXT NOT NULL, department TEXT NOT NULL,"
        f" requested_on {date} NOT NULL, requested_by TEXT NOT NULL, due {date} NOT NULL,"
        f" answered_on {date}, answered_by TEXT, recorded_at TEXT NOT NULL)"
    )
    op.execute("CREATE INDEX verification_requests_due_idx ON verification_requests (due)")
    op.execute("CREATE INDEX verification_requests_case_idx ON verification_requests (case_id)")
    op.execute(
        "CREATE TABLE complaints ("
        " complaint_id TEXT PRIMARY KEY, channel TEXT NOT NULL, category TEXT NOT NULL,"
        " status TEXT NOT NULL, case_id TEXT, payment_id TEXT, region_code TEXT,"
        " program TEXT, department TEXT, summary TEXT NOT NULL, anonymous INTEGER NOT NULL,"
        f" received_on {date} NOT NULL, due {date} NOT NULL, opened_by TEXT NOT NULL,"
        f" assigned_to TEXT, referred_to TEXT, responded_on {date}, outcome TEXT,"
        f" resolved_on {date}, resolved_by TEXT, finding_id TEXT,"
        " comments INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL)"
    )
    op.execute("CREATE INDEX complaints_status_idx ON complaints (status, due)")
    op.execute("CREATE INDEX complaints_received_idx ON complaints (received_on)")


def downgrade() -> None:
    op.execute("DROP TABLE complaints")
    op.execute("DROP TABLE verification_requests")
