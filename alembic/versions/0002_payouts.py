"""Read models of payouts: runs, payments, recoveries, findings, monthly payouts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _statements(date: str, big: str) -> list[str]:
    return [
        "CREATE TABLE runs ("
        " run_id TEXT PRIMARY KEY, period TEXT NOT NULL, scope TEXT NOT NULL,"
        " seq INTEGER NOT NULL, status TEXT NOT NULL, prepared_by TEXT NOT NULL,"
        " approved_by TEXT, override_reason TEXT,"
        f" payments INTEGER NOT NULL, amount {big} NOT NULL, held INTEGER NOT NULL,"
        " recoveries INTEGER NOT NULL, prepared_at TEXT NOT NULL, approved_at TEXT,"
        " exported_at TEXT)",
        "CREATE INDEX runs_period_idx ON runs (period, scope)",
        "CREATE TABLE payments ("
        " payment_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, case_id TEXT NOT NULL,"
        " program TEXT NOT NULL, department TEXT NOT NULL, region_code TEXT NOT NULL,"
        f" county TEXT NOT NULL, period TEXT NOT NULL, kind TEXT NOT NULL, amount {big} NOT NULL,"
        f" payment_date {date} NOT NULL, creditor_account TEXT NOT NULL,"
        " creditor_name TEXT NOT NULL, id_number TEXT NOT NULL, held TEXT NOT NULL,"
        " reissue_of TEXT)",
        "CREATE INDEX payments_case_idx ON payments (case_id, program, period)",
        "CREATE INDEX payments_run_idx ON payments (run_id)",
        "CREATE INDEX payments_period_idx ON payments (period, program)",
        "CREATE TABLE recoveries ("
        " recovery_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, case_id TEXT NOT NULL,"
        " program TEXT NOT NULL, department TEXT NOT NULL, region_code TEXT NOT NULL,"
        f" county TEXT NOT NULL, period TEXT NOT NULL, amount {big} NOT NULL,"
        f" paid {big} NOT NULL, owed {big} NOT NULL, reason TEXT NOT NULL)",
        "CREATE INDEX recoveries_case_idx ON recoveries (case_id, program, period)",
        "CREATE TABLE findings ("
        " finding_id TEXT PRIMARY KEY, type TEXT NOT NULL, severity TEXT NOT NULL,"
        " period TEXT NOT NULL, program TEXT, department TEXT, region_code TEXT, case_id TEXT,"
        f" payment_id TEXT, amount {big}, detail TEXT NOT NULL, status TEXT NOT NULL,"
        " raised_at TEXT NOT NULL)",
        "CREATE INDEX findings_period_idx ON findings (period, type)",
        # A payment counts as paid once its run is approved (runs.status): no per-payment flag,
        # so approving a run of a million payments updates one row.
        # Approved payouts per month, program, department, county and kind (recovery included):
        # the dashboards' view. `report payouts` counts distinct cases from `payments`.
        "CREATE TABLE payouts_monthly ("
        " period TEXT NOT NULL, program TEXT NOT NULL, department TEXT NOT NULL,"
        f" county TEXT NOT NULL, kind TEXT NOT NULL, items INTEGER NOT NULL, amount {big} NOT NULL,"
        " PRIMARY KEY (period, program, department, county, kind))",
    ]


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _statements("DATE" if pg else "TEXT", "BIGINT" if pg else "INTEGER"):
        op.execute(statement)


def downgrade() -> None:
    for table in ("payouts_monthly", "findings", "recoveries", "payments", "runs"):
        op.execute(f"DROP TABLE {table}")
