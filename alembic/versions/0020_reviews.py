"""Periodic reviews (定期核查): the reviews as recorded, and each case's latest.

- ``reviews``: one row per review (``aidledger import reviews``), with who recorded it and its
  source line; indexed by case and day.
- ``last_reviews``: each reviewed case's latest review day and the months it set before the
  next one (what falls due is computed from it with the config in force).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-15
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    day, big = ("DATE", "BIGINT") if pg else ("TEXT", "INTEGER")
    op.execute(
        "CREATE TABLE reviews ("
        " review_id TEXT PRIMARY KEY, case_id TEXT NOT NULL,"
        f" reviewed_on {day} NOT NULL, program TEXT NOT NULL, region_code TEXT NOT NULL,"
        " reviewer TEXT NOT NULL, outcome TEXT NOT NULL,"
        f" monthly_amount {big}, effective_from {day}, next_review_months INTEGER,"
        " recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL, source TEXT NOT NULL)"
    )
    op.execute("CREATE INDEX reviews_case_day_idx ON reviews (case_id, reviewed_on)")
    op.execute(
        "CREATE TABLE last_reviews ("
        f" case_id TEXT PRIMARY KEY, reviewed_on {day} NOT NULL, next_review_months INTEGER)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE last_reviews")
    op.execute("DROP TABLE reviews")
