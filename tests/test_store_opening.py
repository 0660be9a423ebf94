"""Opening and creating stores: only `init` creates or upgrades one; every other opening finds
a store at the schema this code expects, or refuses with a line saying what to do (and leaves
what it found as it was)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.cipher import AESCipher

from aidledger.settings import Settings
from aidledger.wiring import init_store, open_services
from alembic import command
from ledger.errors import StoreError
from ledger.store import (
    HEAD_REVISION,
    NoStore,
    StoreURL,
    alembic_config,
    current_revision,
    open_store,
)
from tests.conftest import PG_ADMIN, _pg_url, drop_pg_database, new_pg_database
from tests.pgcluster import free_port


def opened(url: str, key: str | None = None) -> None:
    open_services(Settings(database_url=url, cipher_key=key)).close()


def initialised(url: str, key: str | None = None) -> None:
    init_store(Settings(database_url=url, cipher_key=key)).close()


def test_a_command_on_a_missing_store_asks_for_init_and_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "aidlegder.db"
    with pytest.raises(
        NoStore, match=r"no store at SQLite file .*aidlegder\.db: run aidledger init"
    ):
        opened(str(typo))
    assert list(tmp_path.iterdir()) == []


def test_init_creates_the_store_and_then_it_opens(tmp_path: Path) -> None:
    url = str(tmp_path / "aidledger.db")
    initialised(url)
    opened(url)


def test_init_never_creates_a_folder(tmp_path: Path) -> None:
    url = str(tmp_path / "missing" / "deeper" / "aidledger.db")
    with pytest.raises(StoreError, match=r"folder .*missing/deeper does not exist: create it"):
        initialised(url)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("init", [False, True], ids=["command", "init"])
def test_a_text_file_is_no_store_and_is_left_as_it_was(tmp_path: Path, init: bool) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("names and accounts\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"notes\.txt is not an aidledger store"):
        (initialised if init else opened)(str(path))
    assert path.read_text(encoding="utf-8") == "names and accounts\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_empty_file_is_no_store_for_a_command_and_init_makes_it_one(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(NoStore, match=r"empty\.db \(it is empty\): run aidledger init"):
        opened(str(path))
    assert path.stat().st_size == 0, "a refusal changes nothing"
    initialised(str(path))
    opened(str(path))


@pytest.mark.parametrize("init", [False, True], ids=["command", "init"])
def test_a_folder_is_no_store(tmp_path: Path, init: bool) -> None:
    with pytest.raises(StoreError, match=r"is a folder, not a store: name the store's file"):
        (initialised if init else opened)(str(tmp_path))


@pytest.mark.parametrize("init", [False, True], ids=["command", "init"])
def test_another_applications_database_is_refused_even_by_init(tmp_path: Path, init: bool) -> None:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(StoreError, match="holds tables of something else, not an aidledger store"):
        (initialised if init else opened)(str(path))
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    assert tables == ["customers"]


def test_a_store_of_an_older_schema_asks_for_init_which_upgrades_it(tmp_path: Path) -> None:
    url = str(tmp_path / "old.db")
    sqlite3.connect(url).close()
    command.upgrade(alembic_config(StoreURL.parse(url)), "0008")
    with pytest.raises(
        StoreError, match=r"has schema 0008, this aidledger needs .*run aidledger init"
    ):
        opened(url)
    initialised(url)
    db = open_store(StoreURL.parse(url))
    try:
        assert current_revision(db) == HEAD_REVISION
    finally:
        db.close()


@pytest.mark.parametrize("init", [False, True], ids=["command", "init"])
def test_a_store_of_a_newer_schema_is_refused(store_url: str, init: bool) -> None:
    initialised(store_url)
    db = open_store(StoreURL.parse(store_url))
    try:
        with db.transaction() as tx:
            tx.execute("UPDATE alembic_version SET version_num = '0999'")
    finally:
        db.close()
    with pytest.raises(StoreError, match="has schema 0999, which this aidledger does not know"):
        (initialised if init else opened)(store_url)


@pytest.mark.postgres
def test_a_missing_postgresql_database_is_no_store_and_init_does_not_create_it(
    pg_template: str,
) -> None:
    url = _pg_url("aidl_never_created_xyz")
    drop_pg_database("aidl_never_created_xyz")
    for attempt in (opened, initialised):
        with pytest.raises(NoStore, match=r"the database does not exist; create it \(createdb"):
            attempt(url)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'aidl_never_created_xyz'"
        ).fetchall()
    assert found == []


def test_an_unreachable_postgresql_is_one_line() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/aidledger"
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL") as refused:
        opened(url)
    assert "\n" not in str(refused.value)


# -- the cipher key -------------------------------------------------------------------------------


def test_an_unencrypted_store_refuses_a_key(store_url: str) -> None:
    initialised(store_url)
    with pytest.raises(StoreError, match="not encrypted, and AIDLEDGER_CIPHER_KEY is set"):
        opened(store_url, AESCipher.create_key(16))
    with pytest.raises(StoreError, match="not encrypted, and AIDLEDGER_CIPHER_KEY is set"):
        initialised(store_url, AESCipher.create_key(16))
    opened(store_url)  # and still opens without one


@pytest.mark.parametrize(
    "key",
    ["abc", "not base64 at all!", "QUJD", AESCipher.create_key(16) + "AAAA", "密钥密钥"],
    ids=["padding", "alphabet", "too-short", "wrong-size", "not-ascii"],
)
def test_a_malformed_key_is_a_clear_refusal(tmp_path: Path, key: str) -> None:
    url = str(tmp_path / "aidledger.db")
    with pytest.raises(StoreError, match="AIDLEDGER_CIPHER_KEY is malformed: it must be a base64"):
        initialised(url, key)
    initialised(url)
    with pytest.raises(StoreError, match="AIDLEDGER_CIPHER_KEY is malformed"):
        opened(url, key)


def test_another_today_is_taken_only_by_a_store_made_with_one(store_url: str) -> None:
    """A bureau's store takes the real date only: AIDLEDGER_TODAY (which would let a staff
    member act on a day they still held a role) is refused there, by init too; a store made
    with it (a drill or a test) takes any day."""
    from datetime import date

    real, day = Settings(database_url=store_url), date(2026, 11, 9)
    init_store(real).close()
    for act in (open_services, init_store):
        with pytest.raises(StoreError, match="AIDLEDGER_TODAY is set, but this store takes only"):
            act(Settings(database_url=store_url, today=day))
    open_services(real).close()


def test_a_drill_store_takes_any_day(tmp_path: Path) -> None:
    from datetime import date

    url = str(tmp_path / "drill.db")
    init_store(Settings(database_url=url, today=date(2026, 12, 15))).close()
    open_services(Settings(database_url=url, today=date(2026, 11, 1))).close()
    open_services(Settings(database_url=url)).close()


@pytest.fixture
def pg_store(pg_template: str) -> Iterator[str]:
    """The URL of a new PostgreSQL store as `aidledger init` leaves it (dropped after)."""
    name = new_pg_database(pg_template)
    try:
        init_store(Settings(database_url=_pg_url(name))).close()
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


def _one(url: str, sql: str) -> tuple[Any, ...]:
    """The one row ``sql`` answers on a plain connection to ``url``."""
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row


@pytest.mark.postgres
def test_every_postgresql_session_of_a_store_runs_without_jit(pg_store: str) -> None:
    """Each connection aidledger opens (its own, and the event store's pool) says
    ``jit = off``: compiling cost 3-50 ms on queries of a few ms (`SESSION_OPTIONS`)."""
    from psycopg.rows import tuple_row

    svc = open_services(Settings(database_url=pg_store))
    try:
        assert svc.db.query("SHOW jit") == [("off",)]
        with svc.app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            assert conn.cursor(row_factory=tuple_row).execute("SHOW jit").fetchall() == [("off",)]
    finally:
        svc.close()


@pytest.mark.postgres
def test_a_postgresql_store_compresses_event_payloads_with_lz4(pg_store: str) -> None:
    """Large events (a comparison file's chunks of records) are compressed as they are
    written: lz4 where the server has it, about five times cheaper than pglz (0022)."""
    (methods,) = _one(
        pg_store, "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    (method,) = _one(
        pg_store,
        "SELECT attcompression FROM pg_attribute WHERE attrelid = "
        "'aidledger_events'::regclass AND attname = 'state'",
    )
    assert method == ("l" if "lz4" in methods else "")


@pytest.mark.postgres
def test_a_postgresql_store_reads_comparison_records_from_their_covering_index(
    pg_store: str,
) -> None:
    """The compare joins people to their records through ``comparison_records_id_idx``,
    which holds the compared columns (0023): a person's records on one index page, not a
    table page each."""
    (definition,) = _one(
        pg_store, "SELECT indexdef FROM pg_indexes WHERE indexname = 'comparison_records_id_idx'"
    )
    assert definition.endswith(
        "(id_number) INCLUDE (source, source_ref, as_of, value, amount, detail, until)"
    )
