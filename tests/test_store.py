"""Store behaviour on both dialects: Alembic schema, cipher, rebuilt read models = incremental."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from aidledger.settings import Settings
from aidledger.wiring import Services, init_store, open_services
from ledger.store import HEAD_REVISION, Database, StoreURL, alembic_dir, current_revision
from projections.runner import catch_up, lag, reset
from tests.builders import load, with_staff
from tests.conftest import FIXTURES
from tests.conftest import TEST_TODAY as TODAY

READ_TABLES = ("cases", "staff", "deaths", "imported_files")


def snapshot(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return {t: sorted(db.query(f"SELECT * FROM {t}"), key=repr) for t in READ_TABLES}


def test_code_expects_the_head_of_the_migrations() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_store_is_at_head_after_open(svc: Services) -> None:
    assert current_revision(svc.db) == HEAD_REVISION


def test_rebuilt_read_models_equal_incremental_ones(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    svc.importer.import_file("cases", FIXTURES / "cases.csv", by="S001", today=TODAY)
    svc.importer.import_file("deaths", FIXTURES / "deaths.csv", by="S001", today=TODAY)
    changed = tmp_path / "changed.csv"
    text = (FIXTURES / "cases.csv").read_text(encoding="utf-8")
    changed.write_text(text.replace("1560.00,2026-01-01", "1600.00,2026-05-01"), encoding="utf-8")
    svc.importer.import_file("cases", changed, by="S001", today=TODAY)
    incremental = snapshot(svc.db)
    assert incremental["cases"], "the read model must not be empty"
    reset(svc.db, svc.models)
    assert snapshot(svc.db)["cases"] == []
    catch_up(svc.app, svc.db, svc.models, page_size=3)  # small pages: many transactions
    assert snapshot(svc.db) == incremental
    assert lag(svc.app, svc.db, svc.models) == 0


def index_names(svc: Services) -> set[str]:
    if svc.db.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {r[0] for r in svc.db.query(sql)}


def test_a_rebuild_sets_indexes_aside_and_a_later_catch_up_builds_them(svc: Services) -> None:
    with_staff(svc)
    svc.importer.import_file("cases", FIXTURES / "cases.csv", by="S001", today=TODAY)
    before = index_names(svc)
    assert {"cases_id_number_idx", "payments_case_idx"} <= before
    reset(svc.db, svc.models)
    during = index_names(svc)
    assert "cases_id_number_idx" not in during and "payments_case_idx" not in during
    assert "cases_pkey" in during or svc.db.dialect == "sqlite"  # unique ones stay
    # The rebuild "crashes" after two pages; a later catch-up (any command) finishes the job.
    pages = []

    def crash_after_two_pages(position: int, head: int) -> None:
        pages.append(position)
        if len(pages) == 2:
            raise Crash

    with pytest.raises(Crash):
        catch_up(svc.app, svc.db, svc.models, page_size=2, on_page=crash_after_two_pages)
    assert index_names(svc) == during
    catch_up(svc.app, svc.db, svc.models)
    assert index_names(svc) == before
    assert svc.db.query("SELECT COUNT(*) FROM aidledger_deferred_indexes") == [(0,)]


class Crash(Exception):
    pass


def test_a_store_whose_models_reached_the_head_before_their_indexes_builds_them_on_opening(
    svc: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opening a store builds no read model when all are at the head of the log; the indexes
    # a rebuild set aside must come back all the same.
    import projections.runner

    with_staff(svc)
    svc.importer.import_file("cases", FIXTURES / "cases.csv", by="S001", today=TODAY)
    before = index_names(svc)
    reset(svc.db, svc.models)
    with monkeypatch.context() as patched:  # "crashes" between the last page and the indexes
        patched.setattr(projections.runner, "restore_indexes", lambda db: 0)
        catch_up(svc.app, svc.db, svc.models)
    assert lag(svc.app, svc.db, svc.models) == 0 and index_names(svc) != before
    other = open_services(settings)
    other.close()
    assert index_names(svc) == before


def test_the_names_known_without_building_the_models_are_theirs() -> None:
    from projections.registers import MODEL_NAMES, all_models

    assert tuple(m.name for m in all_models()) == MODEL_NAMES


def test_two_runners_catching_up_at_once_apply_each_event_once(
    svc: Services, settings: Settings
) -> None:
    with_staff(svc)
    svc.importer.import_file("cases", FIXTURES / "cases.csv", by="S001", today=TODAY)
    expected = snapshot(svc.db)
    reset(svc.db, svc.models)
    other = open_services(settings)
    try:
        # Interleave two runners page by page; the compare-and-set tracking keeps it exact.
        pages = {"n": 0}

        def also_run_other(position: int, head: int) -> None:
            pages["n"] += 1
            catch_up(other.app, other.db, other.models, page_size=2)

        catch_up(svc.app, svc.db, svc.models, page_size=2, on_page=also_run_other)
    finally:
        other.close()
    assert snapshot(svc.db) == expected


def test_cipher_key_encrypts_stored_payloads(store_url: str) -> None:
    from eventsourcing.cipher import AESCipher

    key = AESCipher.create_key(16)
    svc = init_store(Settings(database_url=store_url, cipher_key=key))
    try:
        with_staff(svc)
        raw = svc.db.query(
            "SELECT state FROM "
            + ("stored_events" if svc.db.dialect == "sqlite" else "aidledger_events")
        )
        assert raw and all("周建国".encode() not in bytes(r[0]) for r in raw)
        # The read model keeps the name sealed (`ledger.sealing`), and opens it.
        ((stored,),) = svc.db.query("SELECT name FROM staff WHERE staff_id = 'S001'")
        assert stored != "周建国" and svc.db.sealer.open(stored) == "周建国"
    finally:
        svc.close()
    # Without the key, or with another, the store refuses to open: never a mix of clear and
    # encrypted events.
    import pytest

    from ledger.errors import StoreError

    with pytest.raises(StoreError, match="encrypted: set AIDLEDGER_CIPHER_KEY"):
        open_services(Settings(database_url=store_url))
    with pytest.raises(StoreError, match="not this store's key"):
        open_services(Settings(database_url=store_url, cipher_key=AESCipher.create_key(16)))


def test_store_url_parsing() -> None:
    pg = StoreURL.parse("postgresql://bob:s3cret@db.local:6543/aid")
    assert (pg.dialect, pg.host, pg.port, pg.user, pg.dbname) == (
        "postgresql",
        "db.local",
        6543,
        "bob",
        "aid",
    )
    assert "s3cret" not in pg.describe()
    assert StoreURL.parse("sqlite:///x/y.db").path == "x/y.db"
    assert StoreURL.parse("y.db").dialect == "sqlite"


def test_a_catch_up_that_read_a_stale_position_rolls_back_and_re_reads(
    svc: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Serve's scheduled catch-up racing a command's: the one that read its position before
    the other's commit claims the page first, fails the compare-and-set and re-reads, instead
    of running into the rows the winner wrote."""
    import projections.runner as runner

    with_staff(svc)
    other = open_services(settings)
    try:
        stale = runner.positions(other.db, other.models)
        svc.importer.import_file("cases", FIXTURES / "cases.csv", by="S001", today=TODAY)
        expected = snapshot(svc.db)
        real, calls = runner.positions, [0]

        def first_read_is_stale(db, models):  # type: ignore[no-untyped-def]
            calls[0] += 1
            return dict(stale) if calls[0] == 1 else real(db, models)

        monkeypatch.setattr(runner, "positions", first_read_is_stale)
        assert catch_up(other.app, other.db, other.models) == 0
        assert calls[0] >= 2, "it re-read the positions"
    finally:
        other.close()
    assert snapshot(svc.db) == expected


def test_events_read_ahead_are_each_chunks_own_and_the_next_is_asked_for_first(
    svc: Services,
) -> None:
    """`events_ahead` hands each chunk its own aggregates' events, as `select_events_of`
    reads them one chunk at a time; on PostgreSQL the next chunk's events are asked for
    before the caller has the current one (read on a thread meanwhile), on SQLite not."""
    from ledger.case import case_aggregate_id
    from ledger.store import events_ahead, select_events_of

    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    ids = [case_aggregate_id(r[0]) for r in svc.db.query("SELECT case_id FROM cases")]
    ids.append(case_aggregate_id("C-NOT-THERE"))  # no events: absent from its chunk
    chunks = [ids[i : i + 2] for i in range(0, len(ids), 2)]
    asked: list[int] = []

    def ids_of(chunk: list[object]) -> list[object]:
        asked.append(chunks.index(chunk))
        return chunk

    seen = []
    for n, (chunk, found) in enumerate(events_ahead(svc.app, svc.db, chunks, ids_of)):
        assert chunk == chunks[n]
        assert found == select_events_of(svc.app, svc.db, chunk)
        assert set(found) <= set(chunk) and found
        seen.append(list(asked))
    assert len(seen) == len(chunks) > 2
    ahead = 1 if svc.db.dialect == "postgresql" else 0
    assert seen[0] == list(range(1 + ahead))
    assert case_aggregate_id("C-NOT-THERE") not in found
