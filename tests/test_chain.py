"""Tamper-evident log on both stores: the database is edited behind the application's back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic.config import Config

from aidledger.settings import Settings
from aidledger.synthetic import CASE_COLUMNS, STAFF_COLUMNS, generate_county, write_csv
from aidledger.wiring import Services, init_store, open_services
from alembic import command
from ledger import chain
from ledger.store import alembic_dir
from tests.conftest import TEST_TODAY

CASES = 150


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Services]:
    """A store with events written through both paths: staff through the library's INSERT (a
    small batch), cases through the batched COPY/executemany writer."""
    svc = init_store(Settings(database_url=store_url, batch_events=1000, today=TEST_TODAY))
    county = generate_county(cases=CASES, seed=5)
    staff, cases = tmp_path / "staff.csv", tmp_path / "cases.csv"
    # The city's staff (region 6101): the tests below also write cases of 610103 and 610104.
    write_csv(staff, [{**s, "region_code": "6101"} for s in county.staff], STAFF_COLUMNS)
    write_csv(cases, county.cases, CASE_COLUMNS)
    svc.importer.import_file("staff", staff, by="S0001", today=date(2026, 6, 1))
    svc.importer.import_file("cases", cases, by="S0002", today=date(2026, 6, 1))
    yield svc
    svc.close()


def sql(svc: Services, *statements: str) -> None:
    """Write to the store directly, as someone with database access would."""
    with svc.db.transaction() as tx:
        for s in statements:
            tx.execute(s)


def nid(svc: Services) -> str:
    return "rowid" if svc.db.dialect == "sqlite" else "notification_id"


def table(svc: Services) -> str:
    return "stored_events" if svc.db.dialect == "sqlite" else "aidledger_events"


def middle(svc: Services) -> int:
    top = chain.head(svc.db)
    assert top is not None
    return int(
        svc.db.query("SELECT notification_id FROM aidledger_chain WHERE seq = ?", (top.seq // 2,))[
            0
        ][0]
    )


def test_an_untouched_log_verifies_and_covers_both_write_paths(store: Services) -> None:
    events = store.app.recorder.max_notification_id()
    assert events is not None and events > CASES
    verdict = chain.verify(store.db)
    assert verdict.ok, verdict.problem
    assert verdict.events == events
    assert verdict.head == chain.head(store.db)


def test_an_edited_event_is_named(store: Services) -> None:
    k = middle(store)
    edited = (
        "CAST(state || x'20' AS BLOB)"
        if store.db.dialect == "sqlite"
        else "state || '\\x20'::bytea"
    )
    sql(store, f"UPDATE {table(store)} SET state = {edited} WHERE {nid(store)} = {k}")
    verdict = chain.verify(store.db)
    assert not verdict.ok
    assert verdict.notification_id == k
    assert f"event #{k} " in (verdict.problem or "") and "edited" in (verdict.problem or "")
    assert verdict.events == k - 1


def test_a_deleted_event_is_named(store: Services) -> None:
    k = middle(store)
    sql(store, f"DELETE FROM {table(store)} WHERE {nid(store)} = {k}")
    verdict = chain.verify(store.db)
    assert not verdict.ok and verdict.notification_id == k
    assert "deleted" in (verdict.problem or "")


def test_an_event_deleted_with_its_link_is_found(store: Services) -> None:
    k = middle(store)
    sql(
        store,
        f"DELETE FROM {table(store)} WHERE {nid(store)} = {k}",
        f"DELETE FROM aidledger_chain WHERE notification_id = {k}",
    )
    verdict = chain.verify(store.db)
    assert not verdict.ok
    assert f"after event #{k - 1}" in (verdict.problem or "")


def test_two_swapped_events_are_named(store: Services) -> None:
    k = middle(store)
    t, n = table(store), nid(store)
    sql(
        store,
        f"UPDATE {t} SET {n} = -1 WHERE {n} = {k}",
        f"UPDATE {t} SET {n} = {k} WHERE {n} = {k + 1}",
        f"UPDATE {t} SET {n} = {k + 1} WHERE {n} = -1",
    )
    verdict = chain.verify(store.db)
    assert not verdict.ok and verdict.notification_id == k
    assert "moved" in (verdict.problem or "")


def test_an_event_written_behind_the_application_is_named(store: Services) -> None:
    k = middle(store)
    t, n = table(store), nid(store)
    sql(
        store,
        f"INSERT INTO {t} (originator_id, originator_version, topic, state) "
        f"SELECT originator_id, originator_version + 1000, topic, state FROM {t} WHERE {n} = {k}",
    )
    top = store.app.recorder.max_notification_id()
    verdict = chain.verify(store.db)
    assert not verdict.ok and verdict.notification_id == top
    assert "not in the chain" in (verdict.problem or "")


def test_a_rewritten_chain_is_caught_by_an_anchored_head(store: Services) -> None:
    anchored = chain.head(store.db)
    assert anchored is not None
    assert chain.verify(store.db, anchored.hash).anchor_found
    # Edit an event and recompute every link after it: the chain alone looks intact...
    k = middle(store)
    t, n = table(store), nid(store)
    sql(
        store, f"UPDATE {t} SET topic = topic || ' ' WHERE {n} = {k}", "DELETE FROM aidledger_chain"
    )
    rows = store.db.query(
        f"SELECT {n}, originator_id, originator_version, topic, state FROM {t} ORDER BY {n}"
    )
    prev, links = chain.GENESIS, []
    for seq, (i, oid, version, topic, state) in enumerate(rows, start=1):
        from uuid import UUID

        uid = oid if isinstance(oid, UUID) else UUID(str(oid))
        prev = chain.link(prev, uid, int(version), str(topic), bytes(state))
        links.append((seq, int(i), prev))
    with store.db.transaction() as tx:
        tx.executemany(
            "INSERT INTO aidledger_chain (seq, notification_id, hash) VALUES (?, ?, ?)", links
        )
    verdict = chain.verify(store.db, anchored.hash)
    assert verdict.ok
    # ...but the head anchored outside the database is no longer in it.
    assert verdict.anchor_found is False


def test_the_command_line_exits_1_naming_the_event(store: Services, cli) -> None:  # type: ignore[no-untyped-def]
    ok = cli("verify")
    assert ok.exit_code == 0, ok.output
    head = chain.head(store.db)
    assert head is not None and head.hash.hex() in ok.output
    assert cli("verify", "--head", head.hash.hex()).exit_code == 0
    assert cli("verify", "--head", "00" * 32).exit_code == 1
    k = middle(store)
    sql(store, f"DELETE FROM {table(store)} WHERE {nid(store)} = {k}")
    broken = cli("verify")
    assert broken.exit_code == 1
    assert f"event #{k} was deleted" in broken.output


def test_upgrading_a_store_links_the_events_already_in_it(store: Services) -> None:
    before = chain.head(store.db)
    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    cfg.set_main_option("sqlalchemy.url", store.store.sqlalchemy_url.replace("%", "%%"))
    store.db.close()
    command.downgrade(cfg, "0003")
    command.upgrade(cfg, "head")
    assert chain.head(store.db) == before
    assert chain.verify(store.db).ok


def test_two_writers_at_once_keep_one_unbroken_chain(
    store: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers in two threads (the library's INSERT and the batched path interleaving): the
    chain follows the log's order exactly because links are written under the log's lock."""
    import threading

    from ledger.imports import Importer

    # Two imports: the second to start would be refused once the first has written (an
    # import waits for an open one, tests/test_import_guard.py); here they must both write.
    monkeypatch.setattr(Importer, "_refuse_while_another_import_is_open", lambda *_: False)
    before = store.app.recorder.max_notification_id() or 0
    errors: list[BaseException] = []

    def write(county: str, batch: int) -> None:
        svc = open_services(Settings(database_url=store.settings.database_url, batch_events=batch))
        try:
            rows = generate_county(cases=120, seed=9, county=county, frauds=False).cases
            path = tmp_path / f"{county}.csv"
            write_csv(path, rows, CASE_COLUMNS)
            svc.importer.import_file("cases", path, by="S0002", today=date(2026, 6, 1))
        except BaseException as e:
            errors.append(e)
        finally:
            svc.close()

    threads = [
        threading.Thread(target=write, args=("610103", 7)),  # small batches: library INSERT
        threading.Thread(target=write, args=("610104", 500)),  # one batch: COPY/executemany
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    verdict = chain.verify(store.db)
    assert verdict.ok, verdict.problem
    # 240 cases, and each import's start and its file's record.
    assert verdict.events == (store.app.recorder.max_notification_id() or 0) == before + 244


def test_another_spelling_of_an_aggregate_id_is_named(store: Services) -> None:
    """SQLite keeps ids as text and finds an aggregate's events by that exact text."""
    if store.db.dialect != "sqlite":
        pytest.skip("PostgreSQL stores ids as uuid: there is one spelling")
    k = middle(store)
    sql(store, f"UPDATE stored_events SET originator_id = upper(originator_id) WHERE rowid = {k}")
    verdict = chain.verify(store.db)
    assert not verdict.ok and verdict.notification_id == k
    assert "aggregate id was rewritten" in (verdict.problem or "")


def test_an_error_while_chaining_records_neither_the_events_nor_their_links(
    store: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.registry import StaffMember, StaffRow

    before = store.app.recorder.max_notification_id()

    def broken(*_: object) -> list[tuple[int, int, bytes]]:
        raise RuntimeError("chaining failed")

    monkeypatch.setattr(chain, "_rows", broken)
    member = StaffMember.register(
        StaffRow("S9999", "测试", "11010519491231002X", "6222000000000001", "auditor", "610102"),
        by="S0001",
        source="test",
    )
    with pytest.raises(RuntimeError, match="chaining failed"):
        store.app.save(member)
    monkeypatch.undo()
    assert store.app.recorder.max_notification_id() == before
    assert chain.verify(store.db).ok
