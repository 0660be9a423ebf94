"""Bank import of a whole file in one transaction, on both stores.

A file is parsed to the end before anything is written, then recorded in one transaction with
its own record last: a refused file, or a process killed while writing, leaves nothing of it,
and running the import again records it once. Results are written in the order the payments
lie on disk; the events of one payment keep the file's order and consecutive versions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment

from aidledger.wiring import Services
from alembic import command
from ledger.errors import InputRefused
from ledger.events import OrjsonTranscoder, PydanticMapper
from ledger.payment import Payment, Recovery, payment_aggregate_id, recovery_aggregate_id
from ledger.store import alembic_config, events_table
from projections.bank import EXECUTIONS, RESULTS_JOIN, STATUS, VERSION
from projections.runner import catch_up, lag, reset
from reconciliation.bank import _result_event, _StoredResults
from reconciliation.banksim import Anomalies, Instructed, camt054, pain002
from reconciliation.entries import BankEntry
from tests.builders import BANK, F_NO_ACCOUNT, F_WRONG_NAME, answered
from tests.test_reconcile import AS_OF, exported_month


@pytest.fixture
def month(svc: Services, tmp_path: Path) -> tuple[Services, list[Instructed], Path]:
    """A county of 120 clean cases (more payments than the smallest COPY), June exported."""
    payments = exported_month(svc, tmp_path, cases=120, seed=5, frauds=False)
    assert len(payments) > 64
    return svc, payments, tmp_path


def bank_tables(svc: Services) -> dict[str, list[tuple[Any, ...]]]:
    svc.sync()
    return {
        "files": sorted(svc.db.query("SELECT * FROM bank_files")),
        "entries": sorted(svc.db.query("SELECT * FROM bank_entries"), key=repr),
        "payments": sorted(
            svc.db.query(
                f"SELECT p.payment_id, {VERSION}, {STATUS}, {EXECUTIONS}, pr.executed_amount, "
                "pr.executed_on, pr.reported_account, pr.reported_name, pr.result_on, "
                f"pr.result_reason FROM payments p {RESULTS_JOIN}"
            ),
            key=repr,
        ),
    }


def head(svc: Services) -> int:
    """Events stored (not the highest id: PostgreSQL's ids of a rolled-back write are skipped)."""
    return int(svc.db.query(f"SELECT COUNT(*) FROM {events_table(svc.db.dialect)}")[0][0])


# -- all or nothing -------------------------------------------------------------------------

KILLS = {
    # After half the events went into the COPY (PostgreSQL) or executemany (SQLite).
    "mid-write": (
        "from reconciliation import bank\n"
        "build = bank._LazyEvents._build_next\n"
        "def half(self):\n"
        "    if len(self._states) == len(self) // 2: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return build(self)\n"
        "bank._LazyEvents._build_next = half\n"
    ),
    # Every event written, the chain being appended, the transaction not committed yet.
    "before-commit": (
        "from ledger import chain\n"
        "def die(*_, **__): os.kill(os.getpid(), signal.SIGKILL)\n"
        "chain.append_postgres = chain.append_sqlite = die\n"
    ),
}


@pytest.mark.parametrize("moment", sorted(KILLS))
def test_an_import_killed_while_writing_leaves_nothing_and_a_rerun_records_the_file_once(
    month: tuple[Services, list[Instructed], Path], store_url: str, moment: str
) -> None:
    svc, payments, tmp_path = month
    booked = tmp_path / "booked.xml"
    booked.write_bytes(camt054(payments, Anomalies(twice={payments[0].end_to_end_id})))
    svc.sync()
    before, tables = head(svc), bank_tables(svc)

    prelude = f"import os, signal\n{KILLS[moment]}from aidledger.cli import app\napp()"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            prelude,
            "--db",
            store_url,
            "bank",
            "import",
            str(booked),
            "--by",
            "S0004",
        ],
        capture_output=True,
        timeout=300,
        env={**os.environ, "AIDLEDGER_BATCH_EVENTS": "5"},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert head(svc) == before, "nothing of the file is stored"
    assert bank_tables(svc) == tables

    summary = svc.bank.import_file(booked, by="S0004", today=AS_OF)
    assert (summary.entries, summary.matched) == (len(payments) + 1, len(payments) + 1)
    assert head(svc) == before + len(payments) + 2  # every entry, and the file's record
    executions = svc.db.query(
        f"SELECT {EXECUTIONS}, COUNT(*) FROM payments p {RESULTS_JOIN} GROUP BY {EXECUTIONS}"
    )
    assert sorted(executions) == [(1, len(payments) - 1), (2, 1)]
    assert svc.bank.import_file(booked, by="S0004", today=AS_OF).already_imported
    assert head(svc) == before + len(payments) + 2


def test_a_bad_entry_anywhere_refuses_the_file_naming_it_and_records_nothing(
    month: tuple[Services, list[Instructed], Path],
) -> None:
    svc, payments, tmp_path = month
    svc.sync()
    before, tables = head(svc), bank_tables(svc)
    data = camt054(payments)
    for bad, reason in (
        (_replace_last(data, b"<Dt>", b"<Dt>2026-13-"), "malformed date"),
        (_replace_last(data, b'<Amt Ccy="CNY">', b'<Amt Ccy="CNY">1.005'), "malformed amount"),
        (data[: len(data) * 2 // 3], "malformed XML"),
    ):
        path = tmp_path / "bad.xml"
        path.write_bytes(bad)
        with pytest.raises(InputRefused) as refused:
            svc.bank.import_file(path, by="S0004", today=AS_OF)
        (problem,) = refused.value.problems
        assert reason in problem.reason
        if reason != "malformed XML":  # the last entry: after every other one was read
            assert problem.line > 1 and f"entry {len(payments)}" in problem.reason
        assert head(svc) == before
        assert bank_tables(svc) == tables


def _replace_last(data: bytes, old: bytes, new: bytes) -> bytes:
    at = data.rindex(old)
    return data[:at] + new + data[at + len(old) :]


# -- order and versions --------------------------------------------------------------------


def test_results_of_one_payment_keep_the_files_order_and_consecutive_versions(
    month: tuple[Services, list[Instructed], Path],
) -> None:
    svc, payments, tmp_path = month
    e = payments[3].end_to_end_id
    (tmp_path / "status.xml").write_bytes(pain002(payments))
    (tmp_path / "booked.xml").write_bytes(
        camt054(payments, Anomalies(twice={e}, returned={e: "AC04"}))
    )
    svc.bank.import_file(tmp_path / "status.xml", by="S0004", today=AS_OF)
    svc.bank.import_file(tmp_path / "booked.xml", by="S0004", today=AS_OF)

    events = list(svc.app.events.get(payment_aggregate_id(e)))
    assert [type(x).__name__ for x in events] == [
        "Instructed",
        "StatusReported",
        "Executed",
        "Executed",
        "Returned",
    ]
    assert [x.originator_version for x in events] == [1, 2, 3, 4, 5]
    booked = [x for x in events if isinstance(x, Payment.Executed | Payment.Returned)]
    assert [x.entry_seq for x in booked] == sorted(x.entry_seq for x in booked)
    row = svc.db.query(
        f"SELECT {VERSION}, {STATUS}, {EXECUTIONS}, pr.result_reason FROM payments p "
        f"{RESULTS_JOIN} WHERE p.payment_id = ?",
        (e,),
    )
    assert row == [(5, "returned", 2, "AC04")]


@pytest.mark.parametrize("behind", [False, True], ids=["written-through", "read-back"])
def test_a_rebuild_in_any_page_size_gives_the_tables_of_the_imports(
    month: tuple[Services, list[Instructed], Path], behind: bool
) -> None:
    """An import projects its file in the transaction that records it when the read models
    had read the whole log, and leaves it to the catch-up when they had not: either way the
    tables are the ones a rebuild makes of the log."""
    svc, payments, tmp_path = month
    e = [p.end_to_end_id for p in payments]
    anomalies = Anomalies(
        amount={e[0]: "1.00"},
        returned={e[1]: "AC04"},
        rejected={e[2]: "AC01"},
        twice={e[3]},
        missing={e[4]},
        unknown=[("202606R1UNKNOWNUNKNOWNUNKNO", "300.00", date(2026, 6, 10))],
    )
    (tmp_path / "status.xml").write_bytes(pain002(payments, anomalies))
    (tmp_path / "booked.xml").write_bytes(camt054(payments, anomalies))
    svc.bank.import_file(tmp_path / "status.xml", by="S0004", today=AS_OF)
    synced: list[int] = []
    sync = svc.bank.sync

    def counted_sync() -> object:
        synced.append(1)
        applied = sync()
        if behind and len(synced) == 1:
            # Another writer records an event the read models have not read yet when the
            # file is recorded.
            svc.app.save(recovery_raised())
        return applied

    svc.bank.sync = counted_sync
    svc.bank.import_file(tmp_path / "booked.xml", by="S0004", today=AS_OF)
    # Written through: no catch-up after the write, and none needed; read back: a catch-up.
    assert len(synced) == (2 if behind else 1)
    assert lag(svc.app, svc.db, svc.models) == 0
    svc.payouts.refund(e[1], by="S0004", reason="account closed")
    # Entries kept aside, named or not; a 回盘 row naming no payment and without a date.
    v08 = (BANK / "camt054_v08_what_entries_mean.xml").read_bytes()
    set_aside = answered(v08, {F_NO_ACCOUNT: payments[5], F_WRONG_NAME: payments[6]})
    (tmp_path / "v08.xml").write_bytes(set_aside)
    assert svc.bank.import_file(tmp_path / "v08.xml", by="S0004", today=AS_OF).set_aside == {
        "in USD": 1,
        "not booked: PDNG": 1,
        "not booked: INFO": 1,
        "credit without return information": 1,
    }
    header, row = (BANK / "icbc.txt").read_bytes().split(b"\r\n")[:2]
    (tmp_path / "huipan.txt").write_bytes(header + b"\r\n" + row.replace(b"|20261210|", b"||"))
    svc.bank.import_file(tmp_path / "huipan.txt", by="S0004", today=AS_OF)
    incremental = bank_tables(svc)
    # (n - 1) statuses, n + 1 booked, the v08 file's 8 entries and the 回盘's one
    assert len(incremental["entries"]) == 2 * len(payments) + 9
    assert {("2026-12", "USD", "BOOK", "currency"), ("2026-07", "CNY", "成功", None)} <= {
        r[-4:] for r in incremental["entries"]
    }

    for page_size in (7, 1000):  # pages that split one payment's events, and one page
        reset(svc.db, svc.models)
        catch_up(svc.app, svc.db, svc.models, page_size=page_size)
        assert bank_tables(svc) == incremental


def test_migration_0007_moves_results_out_of_payments_and_back(
    month: tuple[Services, list[Instructed], Path],
) -> None:
    svc, payments, tmp_path = month
    e = [p.end_to_end_id for p in payments]
    anomalies = Anomalies(returned={e[1]: "AC04"}, rejected={e[2]: "AC01"}, twice={e[3]})
    (tmp_path / "status.xml").write_bytes(pain002(payments, anomalies))
    (tmp_path / "booked.xml").write_bytes(camt054(payments, anomalies))
    svc.bank.import_file(tmp_path / "status.xml", by="S0004", today=AS_OF)
    svc.bank.import_file(tmp_path / "booked.xml", by="S0004", today=AS_OF)
    svc.payouts.refund(e[1], by="S0004", reason="account closed")
    tables = bank_tables(svc)
    cfg = alembic_config(svc.store)

    command.downgrade(cfg, "0006")  # the results back on the payments' rows, as before 0007
    before_0007 = svc.db.query(
        "SELECT payment_id, version, status, executions, executed_amount, executed_on, "
        "reported_account, reported_name, result_on, result_reason FROM payments"
    )
    assert sorted(before_0007, key=repr) == tables["payments"]
    assert {r[2] for r in before_0007} == {"executed", "refunded", "rejected"}

    command.upgrade(cfg, "head")
    assert bank_tables(svc) == tables


def recovery_raised() -> Recovery:
    return Recovery._create(
        Recovery.Raised,
        id=recovery_aggregate_id("R-test"),
        by="S0003",
        recovery_id="R-test",
        run_id="202606-R1",
        case_id="C001",
        program="dibao",
        department="civil_affairs",
        region_code="110101",
        period="2026-05",
        amount=100,
        paid=100,
        owed=0,
        reason="test",
    )


TRICKY = ('王"秀\\兰\t', "O'Brien\u2028 😀", "\x7f名", "")


@pytest.mark.parametrize("kind", ["executed", "returned", "rejected", "accepted"])
def test_result_events_written_directly_are_the_bytes_the_mapper_writes(kind: str) -> None:
    mapper = PydanticMapper(transcoder=OrjsonTranscoder())
    results = _StoredResults(mapper, "BF-1", "bank", date(2026, 7, 1))
    for i, text in enumerate(TRICKY):
        entry = BankEntry(
            seq=i + 1,
            kind=kind,  # type: ignore[arg-type]
            end_to_end_id=f"202606R1{i}",
            amount=None if i == 3 else 123456 + i,
            booking_date=None if i == 2 else date(2026, 6, 10 + i),
            value_date=date(2026, 6, 11),
            creditor_name=text or None,
            creditor_account=text,
            reason_code="AC04" if i % 2 else None,
            reason_text=text or None,
            entry_ref=text or None,
            status=text or None,
        )
        stored = results(entry, f"202606R1{i}", 2 + i)
        expected = mapper.to_stored_event(
            _result_event(
                entry, f"202606R1{i}", 2 + i, "BF-1", "bank", date(2026, 7, 1), results.timestamp
            )
        )
        assert stored == expected
    assert results.fast == {kind: True}


def test_with_a_cipher_result_events_go_through_the_mapper() -> None:
    cipher = AESCipher(Environment(env={AESCipher.CIPHER_KEY: AESCipher.create_key(16)}))
    mapper = PydanticMapper(transcoder=OrjsonTranscoder(), cipher=cipher)
    results = _StoredResults(mapper, "BF-1", "bank", None)
    entry = BankEntry(seq=1, kind="executed", end_to_end_id="202606R1X", amount=100)
    stored = results(entry, "202606R1X", 2)
    assert results.fast["executed"] is False
    assert mapper.to_domain_event(stored).amount == 100


def test_result_events_written_directly_keep_no_spare_buffer() -> None:
    """orjson's bytes hold a 4 KiB buffer whatever their length: a province's file of them
    would take gigabytes unless each is copied to its size."""
    from tests.test_bank_parsers import _rss

    results = _StoredResults(PydanticMapper(transcoder=OrjsonTranscoder()), "BF-1", "bank", None)
    entry = BankEntry(seq=1, kind="executed", end_to_end_id="202606R1X", amount=100)
    results(entry, "202606R1X", 2)  # the first, checked against the mapper
    before = _rss()
    if before is None:
        pytest.skip("no /proc/self/statm here")
    kept = [results(entry, "202606R1X", 2) for _ in range(50_000)]
    grown = (_rss() or 0) - before
    assert grown < 60 * 2**20, f"{grown / 2**20:.0f} MiB for {len(kept)} events"
