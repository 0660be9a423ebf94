"""What the bank said of each entry kept with its file: currency, status, and why it counts as
no payment's result.

A bank file's entries that are no payment's result (not booked, a credit that is no return, a
booking in another currency than the payment's) are kept in ``bank_entries`` for auditors and
never counted. ``aside`` says why (``not_booked``, ``no_return_information``, ``currency``;
NULL for an entry that counts); ``status`` and ``currency`` are the bank's words. Entries that
became a payment's result leave currency and aside NULL (their currency was the payment's),
and status too except a status report's (its ACCP, PDNG...). A partial index finds the few
kept aside without touching the month's million results: reconciliation reads those in
another currency for ``amount_mismatch``.

Self-contained: three nullable columns and one index on ``bank_entries``, nothing else. A
status report's row gets its status from ``reason_text`` (where it has always been kept);
other rows recorded before keep NULL, and ``aidledger projections rebuild`` fills currency
and status of the unmatched entries from their events.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("currency", "status", "aside"):
        op.execute(f"ALTER TABLE bank_entries ADD COLUMN {column} TEXT")
    # A status report's row has always kept its status in reason_text.
    op.execute("UPDATE bank_entries SET status = reason_text WHERE kind = 'accepted'")
    op.execute(
        "CREATE INDEX bank_entries_aside_idx ON bank_entries (aside, end_to_end_id) "
        "WHERE aside IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX bank_entries_aside_idx")
    for column in ("aside", "status", "currency"):
        op.execute(f"ALTER TABLE bank_entries DROP COLUMN {column}")
