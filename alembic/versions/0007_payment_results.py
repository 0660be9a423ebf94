"""Bank results of payments in their own narrow table, out of ``payments``.

A bank import of a month's camt.054 sets the result of a million payments. Written as an
UPDATE of ``payments`` (a wide row with four indexes) that took half a minute at province
scale; inserted into a narrow table keyed by payment it takes a fraction of that. A payment
with no result has no row: readers LEFT JOIN and take ``instructed`` and no executions.
``version`` is the payment's version after its last bank-side event (``payments.version``
keeps the one its payout events left; the greater is the payment's).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _columns() -> dict[str, str]:
    """The result columns 0003 put on ``payments``, with their types in this dialect."""
    pg = op.get_bind().dialect.name == "postgresql"
    date, big = ("DATE", "BIGINT") if pg else ("TEXT", "INTEGER")
    return {
        "status": "TEXT NOT NULL DEFAULT 'instructed'",
        "executions": "INTEGER NOT NULL DEFAULT 0",
        "executed_amount": big,
        "executed_on": date,
        "reported_account": "TEXT",
        "reported_name": "TEXT",
        "result_on": date,
        "result_reason": "TEXT",
    }


def upgrade() -> None:
    types = _columns()
    # status NULL: the bank's events so far left the status as the ledger set it (a status
    # report only); readers take 'instructed'.
    op.execute(
        "CREATE TABLE payment_results ("
        " payment_id TEXT PRIMARY KEY, version INTEGER NOT NULL, status TEXT,"
        f" executions INTEGER NOT NULL DEFAULT 0, executed_amount {types['executed_amount']},"
        f" executed_on {types['executed_on']}, reported_account TEXT, reported_name TEXT,"
        f" result_on {types['result_on']}, result_reason TEXT)"
    )
    columns = ", ".join(types)
    op.execute(
        f"INSERT INTO payment_results (payment_id, version, {columns}) "
        f"SELECT payment_id, version, {columns} FROM payments "
        "WHERE status <> 'instructed' OR executions > 0 OR result_on IS NOT NULL"
    )
    op.execute("DROP INDEX payments_status_idx")
    for column in types:
        op.execute(f"ALTER TABLE payments DROP COLUMN {column}")


def downgrade() -> None:
    types = _columns()
    for column, kind in types.items():
        op.execute(f"ALTER TABLE payments ADD COLUMN {column} {kind}")
    sets = ", ".join(
        f"{c} = COALESCE(r.{c}, payments.{c})" if c == "status" else f"{c} = r.{c}" for c in types
    )
    op.execute(
        f"UPDATE payments SET {sets}, version = CASE WHEN r.version > payments.version "
        "THEN r.version ELSE payments.version END "
        "FROM payment_results r WHERE r.payment_id = payments.payment_id"
    )
    op.execute("CREATE INDEX payments_status_idx ON payments (status)")
    op.execute("DROP TABLE payment_results")
