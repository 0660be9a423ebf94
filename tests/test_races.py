"""Two commands at once doing the same thing, in two real processes on both stores: the
loser ends with one line and exit 1, never a traceback; the winner's work stands; running the
loser again completes or confirms the work, and nothing is recorded twice.

Both processes are held at the moment they first write events (a barrier of files, run in each
process before the command: ``AT_THE_BARRIER``) and let go together, so they really collide.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from aidledger.cli.refusals import LOST_RACE
from aidledger.settings import Settings
from aidledger.wiring import Services, init_store
from ledger.period import Period
from reconciliation.banksim import camt054, read_pain001
from tests.builders import CASEWORKER, FINANCE, FINANCE_APPROVER, cli_process, load, with_staff
from tests.conftest import FIXTURES, TEST_TODAY

#: Run in each command's process: the first time it writes events, it waits until every
#: process of the race is there (a file each in RACE_BARRIER), then all write at once.
AT_THE_BARRIER = """
import os, time
from pathlib import Path
from ledger.recorders import BatchSQLiteRecorder
from ledger.recorders_pg import CopyPostgresRecorder
here = Path(os.environ["RACE_BARRIER"])
def at_the_barrier(insert):
    def insert_once_all_are_here(self, *args, **kwargs):
        mine = here / str(os.getpid())
        if not mine.exists():
            mine.touch()
            deadline = time.monotonic() + 60
            while len(list(here.iterdir())) < int(os.environ["RACE_SIZE"]):
                if time.monotonic() > deadline:
                    raise SystemExit("the other process never came to the barrier")
                time.sleep(0.005)
        return insert(self, *args, **kwargs)
    return insert_once_all_are_here
BatchSQLiteRecorder.insert_events = at_the_barrier(BatchSQLiteRecorder.insert_events)
CopyPostgresRecorder.insert_events = at_the_barrier(CopyPostgresRecorder.insert_events)
"""


def race(db: str, tmp_path: Path, *args: str) -> list[tuple[int, str, str]]:
    """Run the command twice at once; (exit code, stdout, stderr) of each."""
    barrier = tmp_path / f"barrier-{len(list(tmp_path.glob('barrier-*')))}"
    barrier.mkdir()
    env = {
        "RACE_BARRIER": str(barrier),
        "RACE_SIZE": "2",
        "AIDLEDGER_TODAY": TEST_TODAY.isoformat(),
    }
    procs = [cli_process(db, *args, env=env, before=AT_THE_BARRIER) for _ in range(2)]
    ended = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        ended.append((proc.returncode, out.decode(), err.decode()))
    return ended


def winner_and_loser(ended: list[tuple[int, str, str]]) -> tuple[str, str]:
    """The winner's stdout and the loser's stderr, after checking how each ended."""
    for _, out, err in ended:
        assert "Traceback" not in out + err and 'File "' not in out + err, err
    codes = sorted(code for code, _, _ in ended)
    assert codes == [0, 1], ended
    (win,) = [out for code, out, _ in ended if code == 0]
    (lose,) = [err for code, _, err in ended if code == 1]
    assert lose.strip() == f"error: {LOST_RACE}", "one line saying what to do"
    return win, lose


def rerun(db: str, *args: str) -> str:
    proc = cli_process(db, *args, env={"AIDLEDGER_TODAY": TEST_TODAY.isoformat()})
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()
    return out.decode() + err.decode()


@pytest.fixture
def store(store_url: str) -> Iterator[Services]:
    """The test store, made by init, with the fixtures' staff."""
    svc = init_store(Settings(database_url=store_url, today=TEST_TODAY))
    with_staff(svc)
    yield svc
    svc.close()


def events_per_aggregate(svc: Services) -> Counter[tuple[object, int]]:
    table = "stored_events" if svc.db.dialect == "sqlite" else "aidledger_events"
    return Counter(svc.db.query(f"SELECT originator_id, originator_version FROM {table}"))


def test_two_prepares_of_one_period_at_once(
    store: Services, store_url: str, tmp_path: Path
) -> None:
    load(store, "cases", FIXTURES / "cases.csv")
    prepare = ("payout", "prepare", "--period", "2026-04", "--by", FINANCE, "--format", "json")
    win, _ = winner_and_loser(race(store_url, tmp_path, *prepare))
    assert json.loads(win)["payments"] == 5

    again = json.loads(rerun(store_url, *prepare))
    assert (again["payments"], again["added"], again["amended"]) == (5, 0, 0), "up to date"
    store.sync()
    runs = store.db.query("SELECT run_id, status, payments FROM runs")
    assert [(status, n) for _, status, n in runs] == [("prepared", 5)]
    approved = store.payouts.approve(runs[0][0], by=FINANCE_APPROVER)
    assert (approved.payable.payments, approved.payable.amount) == (5, 511100)


def test_two_imports_of_one_cases_file_at_once(
    store: Services, store_url: str, tmp_path: Path
) -> None:
    cases = ("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    win, _ = winner_and_loser(race(store_url, tmp_path, *cases))
    assert "5 new" in win

    assert "already imported" in rerun(store_url, *cases)
    store.sync()
    assert store.db.query("SELECT COUNT(*) FROM cases") == [(5,)]
    assert store.db.query("SELECT COUNT(*) FROM imported_files WHERE kind = 'cases'") == [(1,)]
    assert max(events_per_aggregate(store).values()) == 1, "no event twice"


def test_two_bank_imports_of_one_file_at_once(
    store: Services, store_url: str, tmp_path: Path
) -> None:
    load(store, "cases", FIXTURES / "cases.csv")
    run_id = store.payouts.prepare(Period.parse("2026-04"), program=None, by=FINANCE).run_id
    assert run_id is not None
    store.payouts.approve(run_id, by=FINANCE_APPROVER)
    store.payouts.export(run_id, fmt="pain001", out=tmp_path / "run.xml", by=FINANCE)
    statement = tmp_path / "camt054.xml"
    statement.write_bytes(camt054(read_pain001((tmp_path / "run.xml").read_bytes())))

    bank = ("bank", "import", str(statement), "--by", FINANCE)
    win, _ = winner_and_loser(race(store_url, tmp_path, *bank))
    assert "5 matched" in win

    assert "already imported" in rerun(store_url, *bank)
    store.sync()
    assert store.db.query("SELECT COUNT(*) FROM bank_files") == [(1,)]
    assert store.db.query("SELECT COUNT(*) FROM payment_results") == [(5,)]
    assert max(events_per_aggregate(store).values()) == 1, "no event twice"
