"""Applications and their steps (the 阳光 decision chain): ``applications`` and
``application_steps``, the read model of `projections.applications`.

``applications``: one row per application (its case and program, the applicant, its status
``open|approved|rejected``, who approved it and when); ``application_steps``: one row per step
in the order recorded. Indexes: applications by case (a new case's gate) and by county; steps
by kind and date (the pre-approval notice).

Self-contained: two new tables, nothing else changed; no event of theirs existed before.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-16
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    day = "DATE" if op.get_bind().dialect.name == "postgresql" else "TEXT"
    for statement in (
        "CREATE TABLE applications ("
        " application_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL,"
        " case_id TEXT NOT NULL, program TEXT NOT NULL, region_code TEXT NOT NULL,"
        " county TEXT NOT NULL, name TEXT NOT NULL, id_number TEXT NOT NULL,"
        f" applied_on {day} NOT NULL, status TEXT NOT NULL, last_step TEXT NOT NULL,"
        f" last_on {day} NOT NULL, approved_on {day}, approved_by TEXT, source TEXT NOT NULL)",
        "CREATE INDEX applications_case_idx ON applications (case_id, program)",
        "CREATE INDEX applications_county_idx ON applications (county)",
        "CREATE TABLE application_steps ("
        " application_id TEXT NOT NULL, version INTEGER NOT NULL, step TEXT NOT NULL,"
        f" taken_on {day} NOT NULL, staff_id TEXT NOT NULL, outcome TEXT NOT NULL,"
        " detail TEXT NOT NULL, source TEXT NOT NULL, recorded_by TEXT NOT NULL,"
        " recorded_at TEXT NOT NULL, PRIMARY KEY (application_id, version))",
        "CREATE INDEX application_steps_step_idx ON application_steps (step, taken_on)",
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE application_steps")
    op.execute("DROP TABLE applications")
