"""Tamper-evident chain of the stored events (see ledger/chain.py); links existing events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from uuid import UUID

from alembic import op
from ledger.chain import CHAIN_TABLE, GENESIS, link

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    big, blob = ("BIGINT", "BYTEA") if pg else ("INTEGER", "BLOB")
    op.execute(
        f"CREATE TABLE {CHAIN_TABLE} ("
        f" seq {big} PRIMARY KEY, notification_id {big} NOT NULL, hash {blob} NOT NULL)"
    )
    # A store upgraded with events already in it: link them in their notification order,
    # holding writers off meanwhile (stop every process of the old version before upgrading:
    # events it wrote afterwards would have no links, and `verify` would rightly flag them).
    nid, table = ("notification_id", "aidledger_events") if pg else ("rowid", "stored_events")
    if pg:
        op.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    insert = f"INSERT INTO {CHAIN_TABLE} (seq, notification_id, hash) VALUES " + (
        "(%s, %s, %s)" if pg else "(?, ?, ?)"
    )
    prev, seq, last = GENESIS, 0, -1
    while True:  # in pages, so a big store is not read into memory at once
        page = bind.exec_driver_sql(
            f"SELECT {nid}, originator_id, originator_version, topic, state FROM {table} "
            f"WHERE {nid} > {last} ORDER BY {nid} LIMIT 10000"
        ).fetchall()
        if not page:
            break
        rows = []
        for n, oid, version, topic, state in page:
            uid = oid if isinstance(oid, UUID) else UUID(str(oid))
            prev = link(prev, uid, int(version), str(topic), bytes(state))
            seq += 1
            rows.append((seq, int(n), prev))
        bind.exec_driver_sql(insert, rows)
        last = int(page[-1][0])


def downgrade() -> None:
    op.execute(f"DROP TABLE {CHAIN_TABLE}")
