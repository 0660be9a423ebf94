"""Event store (exactly what the eventsourcing recorders expect), tracking, first read models.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

The event tables are written out here rather than created by the library at start-up, so
that Alembic owns the schema. They match eventsourcing 9.5's PostgresApplicationRecorder
(table ``aidledger_events`` for the application named ``aidledger``, composite type
``stored_event_uuid``) and SQLiteApplicationRecorder (table ``stored_events``; rowid is the
notification id).
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_PG_EVENTS = [
    "CREATE TYPE stored_event_uuid AS "
    "(originator_id uuid, originator_version bigint, topic text, state bytea)",
    "CREATE TABLE aidledger_events ("
    " originator_id uuid NOT NULL,"
    " originator_version bigint NOT NULL,"
    " topic text,"
    " state bytea,"
    " notification_id bigserial,"
    " PRIMARY KEY (originator_id, originator_version))"
    " WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000,"
    " autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000,"
    " autovacuum_analyze_scale_factor = 0.01)",
    "CREATE UNIQUE INDEX aidledger_events_notification_id_idx"
    " ON aidledger_events (notification_id ASC)",
]

_SQLITE_EVENTS = [
    "CREATE TABLE stored_events ("
    " originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB,"
    " PRIMARY KEY (originator_id, originator_version))",
]


def _read_models(date: str, big: str) -> list[str]:
    return [
        # Position of each read model in the notification log (the library's single-row
        # tracking layout), written in the same transaction as the read model's rows.
        "CREATE TABLE aidledger_tracking ("
        " application_name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
        # Each case as last decided (the row of its latest decision), for imports and lookups.
        "CREATE TABLE cases ("
        " case_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL,"
        " program TEXT NOT NULL, region_code TEXT NOT NULL, county TEXT NOT NULL,"
        " name TEXT NOT NULL, id_number TEXT NOT NULL, household_size INTEGER NOT NULL,"
        f" monthly_amount {big} NOT NULL, effective_from {date} NOT NULL,"
        f" effective_to {date}, bank_account TEXT NOT NULL, account_name TEXT NOT NULL,"
        f" decided_by TEXT NOT NULL, approved_by TEXT NOT NULL, start_date {date} NOT NULL)",
        "CREATE INDEX cases_id_number_idx ON cases (id_number)",
        "CREATE INDEX cases_bank_account_idx ON cases (bank_account)",
        "CREATE INDEX cases_program_region_idx ON cases (program, county)",
        "CREATE TABLE staff ("
        " staff_id TEXT PRIMARY KEY, version INTEGER NOT NULL, name TEXT NOT NULL,"
        " id_number TEXT NOT NULL, bank_account TEXT NOT NULL, role TEXT NOT NULL,"
        " region_code TEXT NOT NULL)",
        "CREATE INDEX staff_id_number_idx ON staff (id_number)",
        "CREATE INDEX staff_bank_account_idx ON staff (bank_account)",
        "CREATE TABLE deaths ("
        f" id_number TEXT PRIMARY KEY, version INTEGER NOT NULL, date_of_death {date} NOT NULL,"
        " feed TEXT NOT NULL)",
        "CREATE TABLE imported_files ("
        " aggregate_id TEXT PRIMARY KEY, kind TEXT NOT NULL, filename TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, imported_by TEXT NOT NULL, recorded_at TEXT NOT NULL,"
        " rows_total INTEGER NOT NULL, rows_new INTEGER NOT NULL,"
        " rows_changed INTEGER NOT NULL, rows_unchanged INTEGER NOT NULL)",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        statements = _PG_EVENTS + _read_models("DATE", "BIGINT")
    else:
        statements = _SQLITE_EVENTS + _read_models("TEXT", "INTEGER")
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for table in ("imported_files", "deaths", "staff", "cases", "aidledger_tracking"):
        op.execute(f"DROP TABLE {table}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE aidledger_events")
        op.execute("DROP TYPE stored_event_uuid")
    else:
        op.execute("DROP TABLE stored_events")
