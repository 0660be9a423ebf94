"""The access log's read model: every view of a case's personal data.

- ``access_log``: one row per view (an ``AccessRecorded`` event): when, who, through what,
  what kind of view, its subject (a case, a listing, a bank file), how many cases it showed,
  and why.
- ``access_log_cases``: the cases each view showed, so a case's views are found by its id.

The views themselves are events (chained and, with a cipher key, encrypted): these tables are
a read model, rebuilt from them. Self-contained: if another migration lands as 0013 first,
renumber this one after it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-20
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE access_log (access_id TEXT PRIMARY KEY, recorded_at TEXT NOT NULL,"
        " staff_id TEXT NOT NULL, channel TEXT NOT NULL, kind TEXT NOT NULL,"
        " subject TEXT NOT NULL, cases INTEGER NOT NULL, reason TEXT NOT NULL)"
    )
    op.execute("CREATE INDEX access_log_at_idx ON access_log (recorded_at)")
    op.execute("CREATE INDEX access_log_staff_idx ON access_log (staff_id, recorded_at)")
    op.execute(
        "CREATE TABLE access_log_cases (access_id TEXT NOT NULL, case_id TEXT NOT NULL,"
        " PRIMARY KEY (access_id, case_id))"
    )
    op.execute("CREATE INDEX access_log_cases_case_idx ON access_log_cases (case_id)")


def downgrade() -> None:
    op.execute("DROP TABLE access_log_cases")
    op.execute("DROP TABLE access_log")
