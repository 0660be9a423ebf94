"""An import that did not complete leaves nothing other commands use: payout runs,
reconciliation and reports refuse while it is open, and running it again completes it.

Here the import is interrupted in the test's own process (a failing write); tests/test_faults.py
kills it in a process of its own at several points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aidledger.settings import Settings
from aidledger.wiring import Services, init_store
from ledger.errors import ImportIncomplete
from ledger.period import Period
from ledger.synthetic import CASE_COLUMNS, generate_county, write_csv
from projections.registers import open_imports
from projections.reports import notice_report, payouts_report
from projections.runner import catch_up, reset
from reconciliation.service import list_findings
from tests.builders import (
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    case_rows,
    fixture_row,
    load,
    with_county_staff,
    with_staff,
)
from tests.conftest import FIXTURES, TEST_TODAY

PERIOD = Period.parse("2026-12")
CASES = 180


def county_file(svc: Services, tmp_path: Path) -> Path:
    """A generated county's cases file (and its staff registered)."""
    path = tmp_path / "county.csv"
    write_csv(path, generate_county(cases=CASES, seed=5, frauds=False).cases, CASE_COLUMNS)
    with_county_staff(svc, tmp_path, cases=CASES, seed=5)
    return path


def interrupted(svc: Services, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Import ``path``, failing on its third write: two batches recorded, the file not."""
    original = svc.app.events.put
    calls = {"n": 0}

    def failing_third(events: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return original(events, **kwargs)

    monkeypatch.setattr(svc.app.events, "put", failing_third)
    with pytest.raises(RuntimeError):
        load(svc, "cases", path)
    monkeypatch.setattr(svc.app.events, "put", original)
    svc.sync()


#: Each reader the guard stands before, as a call on the services.
READERS: dict[str, Callable[[Services], object]] = {
    "payout prepare": lambda s: s.payouts.prepare(PERIOD, program=None, by=FINANCE),
    "reconcile": lambda s: s.reconciliation.reconcile(PERIOD, as_of=date(2027, 1, 31), by=FINANCE),
    "report payouts": lambda s: payouts_report(s.db, str(PERIOD), ["program"]),
    "report notice": lambda s: notice_report(s.db, str(PERIOD), "610102"),
    "findings": lambda s: list_findings(s.db, period=str(PERIOD)),
}


@pytest.fixture
def month(svc: Services) -> Services:
    """The fixture staff and cases, and the month's run approved: something to report."""
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    run = svc.payouts.prepare(PERIOD, program=None, by=FINANCE)
    assert run.run_id is not None
    svc.payouts.approve(run.run_id, by=FINANCE_APPROVER)
    return svc


def test_an_interrupted_import_is_open_and_every_reader_refuses(
    month: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = month
    path = county_file(svc, tmp_path)
    interrupted(svc, path, monkeypatch)
    assert 0 < svc.db.query("SELECT COUNT(*) FROM cases")[0][0] < 5 + CASES

    (started,) = open_imports(svc.db)
    assert (started.kind, started.filename, started.started_by) == ("cases", path.name, CASEWORKER)
    before = svc.app.recorder.max_notification_id()
    for name, read in READERS.items():
        with pytest.raises(ImportIncomplete) as refused:
            read(svc)
        message = str(refused.value)
        assert message.startswith(f"import of county.csv (started {started.started_at[:10]} "), name
        assert (
            f"by {CASEWORKER}) was interrupted or is still running: run it again "
            "(aidledger import cases county.csv --by …), which completes it"
        ) in message, name
    assert svc.app.recorder.max_notification_id() == before, "a refusal records nothing"


def test_another_import_waits_for_the_open_one_and_a_rerun_completes_it(
    month: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = month
    path = county_file(svc, tmp_path)
    interrupted(svc, path, monkeypatch)
    with pytest.raises(ImportIncomplete, match=r"^deaths.csv: not imported: import of county"):
        load(svc, "deaths", FIXTURES / "deaths.csv")

    summary = load(svc, "cases", path)
    assert (summary.new, summary.unchanged) == (CASES, 0)
    assert open_imports(svc.db) == []
    assert svc.db.query(
        "SELECT started_by, completed_at IS NOT NULL FROM import_runs WHERE filename = ?",
        ("county.csv",),
    ) == [(CASEWORKER, True)]
    # Every reader works again, and sees the whole file.
    for read in READERS.values():
        read(svc)
    assert svc.db.query("SELECT COUNT(*) FROM cases") == [(5 + CASES,)]
    assert load(svc, "deaths", FIXTURES / "deaths.csv").new == 2


def test_an_import_that_writes_nothing_opens_nothing(month: Services, tmp_path: Path) -> None:
    svc = month
    runs = svc.db.query("SELECT COUNT(*) FROM import_runs")
    before = svc.app.recorder.max_notification_id() or 0
    # The same rows as a file imported before, in another order: another file, no new row.
    same = case_rows(tmp_path, "again.csv", fixture_row("C003"), fixture_row("C001"))
    assert load(svc, "cases", same).events == 0
    assert svc.app.recorder.max_notification_id() == before + 1  # the file's record only
    assert svc.db.query("SELECT COUNT(*) FROM import_runs") == runs


def test_the_started_and_completed_state_is_rebuilt_from_the_log(
    month: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = month
    path = county_file(svc, tmp_path)
    interrupted(svc, path, monkeypatch)
    rows = (
        "SELECT file_id, kind, filename, sha256, started_by, started_at, completed_at "
        "FROM import_runs"
    )
    projected = sorted(svc.db.query(rows))
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models)
    assert sorted(svc.db.query(rows)) == projected
    assert len(open_imports(svc.db)) == 1

    load(svc, "cases", path)
    completed = sorted(svc.db.query(rows))
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models)
    assert sorted(svc.db.query(rows)) == completed
    assert open_imports(svc.db) == []


@pytest.fixture
def services(store_url: str) -> Iterator[Services]:
    """Services on the command line's store (the `cli` fixture made it)."""
    svc = init_store(Settings(database_url=store_url, batch_events=50, today=TEST_TODAY))
    yield svc
    svc.close()


def test_the_command_line_refuses_with_one_clear_line(
    cli: Any, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    path = county_file(services, tmp_path)
    interrupted(services, path, monkeypatch)
    for args in (
        ("payout", "prepare", "--period", "2026-12", "--by", FINANCE),
        ("reconcile", "--period", "2026-12", "--as-of", "2027-01-31", "--by", FINANCE),
        ("report", "payouts", "--period", "2026-12"),
        ("report", "notice", "--period", "2026-12", "--region", "610102"),
        ("findings", "--period", "2026-12"),
    ):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert "import of county.csv (started " in result.output, args
        assert "Traceback" not in result.output
    result = cli("import", "cases", str(path), "--by", CASEWORKER)
    assert result.exit_code == 0, result.output
    assert cli("payout", "prepare", "--period", "2026-12", "--by", FINANCE).exit_code == 0


def test_a_file_rewritten_while_it_is_written_leaves_the_import_open_until_it_is_back(
    month: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block of the file is checked against the first reading before its rows are
    written: a file rewritten half-way stops the import there, open, and the message says
    which content completes it."""
    from ledger import csvfile, imports
    from ledger.errors import InputChanged

    svc = month
    path = county_file(svc, tmp_path)
    original = path.read_bytes()
    monkeypatch.setattr(csvfile, "BLOCK", 4096)  # blocks of a few dozen rows
    monkeypatch.setattr(imports, "EXISTING_CHUNK", 10)  # rows read ahead of the writes
    put = svc.app.events.put

    def rewrite_after_the_first_batch(events: Any, **kwargs: Any) -> Any:
        result = put(events, **kwargs)
        path.write_bytes(original[:-60] + original[-60:].replace(b"0", b"1"))  # the last row
        return result

    monkeypatch.setattr(svc.app.events, "put", rewrite_after_the_first_batch)
    with pytest.raises(InputChanged) as changed:
        load(svc, "cases", path)
    monkeypatch.setattr(svc.app.events, "put", put)
    assert "changed while it was being imported" in str(changed.value)
    assert "the import stays open until the file as it was checked" in str(changed.value)
    svc.sync()
    assert [i.filename for i in open_imports(svc.db)] == ["county.csv"]

    path.write_bytes(original)
    assert load(svc, "cases", path).new == CASES
    assert open_imports(svc.db) == []
