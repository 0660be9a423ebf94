"""Crashes: a process killed half-way, then run again, ends where a clean run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aidledger.settings import Settings
from aidledger.wiring import open_services
from ledger.synthetic import CASE_COLUMNS, STAFF_COLUMNS, generate_county, write_csv
from tests.conftest import drop_pg_database, new_pg_database

CASES = 1500


def aidledger(db: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "aidledger.cli", "--db", db, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_ok(db: str, *args: str) -> str:
    proc = aidledger(db, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def event_count(db: str) -> int:
    svc = open_services(Settings(database_url=db))
    try:
        return svc.app.recorder.max_notification_id() or 0
    finally:
        svc.close()


def payments(db: str) -> list[tuple[object, ...]]:
    svc = open_services(Settings(database_url=db))
    try:
        svc.sync()
        return sorted(
            svc.db.query("SELECT payment_id, case_id, period, kind, amount, held FROM payments")
        )
    finally:
        svc.close()


@pytest.fixture
def county_files(tmp_path: Path) -> tuple[Path, Path]:
    county = generate_county(cases=CASES, seed=11)
    staff, cases = tmp_path / "staff.csv", tmp_path / "cases.csv"
    write_csv(staff, county.staff, STAFF_COLUMNS)
    write_csv(cases, county.cases, CASE_COLUMNS)
    return staff, cases


def loaded_store(url: str, files: tuple[Path, Path]) -> None:
    run_ok(url, "import", "staff", str(files[0]), "--by", "S0001")
    run_ok(url, "import", "cases", str(files[1]), "--by", "S0001")


def kill_when_events_pass(db: str, proc: subprocess.Popen[bytes], threshold: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the process finished before it could be killed: raise CASES")
        if event_count(db) > threshold:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.02)
    pytest.fail("timed out waiting for the run to write")


def test_prepare_killed_half_way_then_rerun_equals_a_clean_run(
    store_url: str,
    county_files: tuple[Path, Path],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    if store_url.startswith("postgresql://"):
        clean = (
            store_url.rsplit("/", 1)[0]
            + "/"
            + new_pg_database(request.getfixturevalue("pg_template"))
        )
        request.addfinalizer(lambda: drop_pg_database(clean.rsplit("/", 1)[1]))
    else:
        clean = str(tmp_path / "clean.db")
    for url in (store_url, clean):
        loaded_store(url, county_files)
    run_ok(clean, "payout", "prepare", "--period", "2026-12", "--by", "S0002")

    start = event_count(store_url)
    proc = aidledger(
        store_url,
        "payout",
        "prepare",
        "--period",
        "2026-12",
        "--by",
        "S0002",
        env={"AIDLEDGER_BATCH_EVENTS": "25"},
    )
    kill_when_events_pass(store_url, proc, start + 200)
    partial = payments(store_url)
    assert 0 < len(partial) < len(payments(clean))
    run_ok(store_url, "payout", "prepare", "--period", "2026-12", "--by", "S0002")
    assert payments(store_url) == payments(clean)
