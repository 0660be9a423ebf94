"""The comparison records' person index covers the compared columns, on PostgreSQL.

`aidledger compare` joins each chunk of cases' people to their records through
``comparison_records_id_idx``. A person's records lie on as many pages of the table as he has
records (the files come by source, not by person), so with the plain index every record was a
page read; with the compared columns in the index (``INCLUDE``) a person's records are read
from one index page, once the compare has vacuumed the table (`Database.vacuum`: the index
alone then says which rows are visible). SQLite keeps the plain index.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

COVERED = "source, source_ref, as_of, value, amount, detail, until"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX comparison_records_id_idx")
        op.execute(
            "CREATE INDEX comparison_records_id_idx ON comparison_records (id_number) "
            f"INCLUDE ({COVERED})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX comparison_records_id_idx")
        op.execute("CREATE INDEX comparison_records_id_idx ON comparison_records (id_number)")
