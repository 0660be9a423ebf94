"""A mistaken file, on both stores: previewed row by row without recording anything
(`import … --dry-run`), listed (`import list`) and reverted (`import revert`) by compensating
decisions, after which the next prepare recovers what the file paid and pays what it stopped."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aidledger.wiring import Services
from eligibility.revert import Reverter, RevertRefused
from ledger.case import case_aggregate_id, state_as_of
from ledger.duties import DutyRefused
from ledger.errors import AidLedgerError, NotFound
from ledger.period import Period
from ledger.registry import import_id
from tests.builders import (
    APPROVER,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    case_rows,
    fixture_row,
    head,
    load,
    with_staff,
    write_file,
)
from tests.conftest import FIXTURES

P = Period.parse
NEW_CASE = (
    "C006,tekun,610102001003,赵六,610102196002020099,1,900.00,2026-05-01,,"
    "6228480000000000099,赵六,S001,S002"
)


def mistaken(tmp_path: Path) -> Path:
    """C001 raised from June, C002 unchanged, C005 ended in May, C006 opened in May."""
    return case_rows(
        tmp_path,
        "bad.csv",
        fixture_row("C001").replace(",1560.00,2026-01-01,", ",2000.00,2026-06-01,"),
        fixture_row("C002"),
        fixture_row("C005").replace("2026-03-01,,", "2026-03-01,2026-05-31,"),
        NEW_CASE,
    )


@pytest.fixture
def county(svc: Services) -> Services:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    return svc


def sent(svc: Services, period: str, tmp_path: Path) -> str:
    run = svc.payouts.prepare(P(period), program=None, by=FINANCE)
    assert run.run_id
    svc.payouts.approve(run.run_id, by=FINANCE_APPROVER)
    svc.payouts.export(run.run_id, fmt="pain001", out=tmp_path / f"{period}.xml", by=FINANCE)
    return run.run_id


def revert(svc: Services, ref: str, by: str = APPROVER, reason: str = "typed wrong") -> Any:
    return svc.service(Reverter).revert(ref, by=by, reason=reason)


def sha_of(svc: Services, name: str) -> str:
    ((sha,),) = svc.db.query("SELECT sha256 FROM imported_files WHERE filename = ?", (name,))
    return str(sha)


def test_a_dry_run_reports_each_row_as_the_import_would_and_records_nothing(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    before = head(svc)
    rows: list[dict[str, Any]] = []
    summary = svc.importer.import_file(
        "cases", mistaken(tmp_path), by=CASEWORKER, report=rows.append
    )
    assert head(svc) == before
    assert svc.db.query("SELECT COUNT(*) FROM imported_files WHERE filename = 'bad.csv'") == [(0,)]
    assert [(r["line"], r["key"], r["outcome"]) for r in rows] == [
        (2, "C001", "changed"),
        (3, "C002", "unchanged"),
        (4, "C005", "terminated"),
        (5, "C006", "new"),
    ]
    assert rows[0]["changes"] == {
        "monthly_amount": ["1560.00", "2000.00"],
        "effective_from": ["2026-01-01", "2026-06-01"],
    }
    assert rows[2]["changes"] == {"effective_to": [None, "2026-05-31"]}
    assert rows[3]["changes"]["monthly_amount"] == [None, "900.00"]
    # The counts are the import's own: the real import then records exactly that.
    real = svc.importer.import_file("cases", mistaken(tmp_path), by=CASEWORKER)
    assert (summary.new, summary.changed, summary.unchanged, summary.events) == (
        real.new,
        real.changed,
        real.unchanged,
        real.events,
    )
    assert summary.dry_run and not real.dry_run


def test_a_dry_run_of_a_register_reports_changes_and_refuses_as_the_import(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    before = head(svc)
    rows: list[dict[str, Any]] = []
    deaths = write_file(
        tmp_path, "deaths.csv", "id_number,date_of_death,source", "610102193505050050,2026-04-12,x"
    )
    svc.importer.import_file("deaths", deaths, by=CASEWORKER, report=rows.append)
    assert [(r["key"], r["outcome"]) for r in rows] == [("610102193505050050", "new")]
    bad = write_file(tmp_path, "bad-deaths.csv", "id_number,date_of_death,source", "123,x,y")
    with pytest.raises(AidLedgerError, match="line 2"):
        svc.importer.import_file("deaths", bad, by=CASEWORKER, report=rows.append)
    with pytest.raises(DutyRefused):
        svc.importer.import_file("cases", mistaken(tmp_path), by=FINANCE, report=rows.append)
    assert head(svc) == before


def test_import_list_shows_each_import_with_its_id_and_status(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    load(svc, "cases", mistaken(tmp_path))
    from projections.registers import list_imports

    listed = {i["filename"]: i for i in list_imports(svc.db)}
    bad = listed["bad.csv"]
    assert bad["import_id"] == import_id("cases", bad["sha256"]) == f"cases-{bad['sha256'][:12]}"
    assert (bad["rows"], bad["new"], bad["changed"], bad["unchanged"], bad["status"]) == (
        4,
        1,
        2,
        1,
        "complete",
    )
    revert(svc, bad["import_id"])
    svc.sync()
    listed = {i["filename"]: i for i in list_imports(svc.db)}
    assert (listed["bad.csv"]["status"], listed["bad.csv"]["reverted_by"]) == ("reverted", APPROVER)
    assert listed["cases.csv"]["status"] == "complete"


def test_a_revert_gives_each_case_back_and_the_next_run_recovers_and_pays_the_difference(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    sent(svc, "2026-06", tmp_path)
    days = [date(2026, m, d) for m in range(1, 13) for d in (1, 15)]
    ids = ("C001", "C002", "C005", "C006")
    as_before = {c: _states(svc, c, days) for c in ids}
    load(svc, "cases", mistaken(tmp_path))
    sent(svc, "2026-07", tmp_path)  # pays C001 2000.00 (+440.00 June), C006, not C005
    ref = import_id("cases", sha_of(svc, "bad.csv"))
    result = revert(svc, ref, reason="the township typed June's list into the wrong month")
    assert (result.cases, result.opened) == (3, 1)
    assert {c: _states(svc, c, days) for c in ids} == as_before
    # One compensating event each for C001 and C005, the end of C006; by the approver.
    for case_id in ("C001", "C005", "C006"):
        last = list(svc.app.events.get(case_aggregate_id(case_id)))[-1]
        assert last.source.startswith("revert of bad.csv@") and last.by == APPROVER
    assert (result.events, result.open_recoveries) == (3, [_recovery_of(svc, "C005")])

    august = svc.payouts.prepare(P("2026-08"), program=None, by=FINANCE)
    svc.sync()
    owed = sorted(
        (c, p, int(a), r)
        for c, p, a, r in svc.db.query(
            "SELECT case_id, period, amount, reason FROM recoveries WHERE run_id = ?",
            (august.run_id,),
        )
    )
    assert owed == [
        ("C001", "2026-06", 44000, "decreased"),
        ("C001", "2026-07", 44000, "decreased"),
        ("C006", "2026-06", 90000, "terminated"),
        ("C006", "2026-07", 90000, "terminated"),
    ]
    paid = {
        (c, p, k): int(a)
        for c, p, k, a in svc.db.query(
            "SELECT case_id, period, kind, amount FROM payments WHERE run_id = ?",
            (august.run_id,),
        )
    }
    assert paid[("C005", "2026-07", "arrears")] == 208000  # July, stopped by the file
    # June, asked back after the file ended the case: owed again, paid again; the recovery
    # stands, never netted.
    assert paid[("C005", "2026-06", "arrears")] == 208000
    assert paid[("C001", "2026-08", "regular")] == 156000
    assert not any(c == "C006" for c, _, _ in paid)


def _states(svc: Services, case_id: str, days: list[date]) -> list[Any]:
    events = list(svc.app.events.get(case_aggregate_id(case_id)))
    out = []
    for day in days:
        s = state_as_of(events, day) if events else None
        out.append(
            None
            if s is None
            else (s.monthly_amount, s.bank_account, s.name, s.effective_to, s.start)
        )
    return out


def _recovery_of(svc: Services, case_id: str) -> str:
    ((rid,),) = svc.db.query("SELECT recovery_id FROM recoveries WHERE case_id = ?", (case_id,))
    return str(rid)


def test_a_revert_is_refused_without_the_role_a_reason_or_twice_and_for_registers(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    load(svc, "cases", mistaken(tmp_path))
    ref = import_id("cases", sha_of(svc, "bad.csv"))
    before = head(svc)
    with pytest.raises(DutyRefused, match="approver"):
        revert(svc, ref, by=CASEWORKER)
    with pytest.raises(AidLedgerError, match="needs a reason"):
        revert(svc, ref, reason="  ")
    with pytest.raises(AidLedgerError, match="only a cases file"):
        revert(svc, import_id("staff", sha_of(svc, "staff.csv")))
    with pytest.raises(NotFound, match="import list"):
        revert(svc, "cases-000000000000")
    assert head(svc) == before
    revert(svc, ref)
    with pytest.raises(AidLedgerError, match="already reverted by"):
        revert(svc, ref)


def test_a_revert_refuses_by_name_cases_decided_again_since_and_records_nothing(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    load(svc, "cases", mistaken(tmp_path))
    ref = import_id("cases", sha_of(svc, "bad.csv"))
    again = fixture_row("C001").replace(",1560.00,2026-01-01,", ",2100.00,2026-09-01,")
    load(svc, "cases", case_rows(tmp_path, "september.csv", again))
    before = head(svc)
    with pytest.raises(RevertRefused, match=r"case C001: decided again after this file \(septe"):
        revert(svc, ref)
    assert head(svc) == before


def test_a_revert_by_an_approver_with_an_interest_is_refused(
    county: Services, tmp_path: Path
) -> None:
    """C006's account is the approver's own (S002): only another approver may revert it."""
    svc = county
    own = NEW_CASE.replace("6228480000000000099", "6217000000000000102").replace(
        ",S001,S002", ",S001,S009"
    )
    staff = (FIXTURES / "staff.csv").read_text(encoding="utf-8").splitlines()
    extra = "S009,钱进,610102198303030150,6217000000000000109,approver,610102"
    load(svc, "staff", write_file(tmp_path, "staff2.csv", staff[0], *staff[1:], extra))
    load(svc, "cases", case_rows(tmp_path, "own.csv", own))
    ref = import_id("cases", sha_of(svc, "own.csv"))
    with pytest.raises(RevertRefused, match="case C006: S002 has an interest"):
        revert(svc, ref)
    assert revert(svc, ref, by="S009").cases == 1


def test_a_revert_never_puts_a_case_back_in_effect_after_its_holders_death(
    county: Services, tmp_path: Path
) -> None:
    """C003's holder died 2026-04-12; a file ended the case in May: undoing the end would pay
    the dead again, so it is refused."""
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")
    ended = fixture_row("C003").replace("2026-01-01,,", "2026-01-01,2026-05-31,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", ended))
    with pytest.raises(RevertRefused, match="case C003: its holder is reported dead on 2026-04-12"):
        revert(svc, import_id("cases", sha_of(svc, "end.csv")))


def test_the_commands_preview_list_and_revert(cli: Any, tmp_path: Path) -> None:
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    bad = mistaken(tmp_path)
    text = cli("import", "cases", str(bad), "--by", CASEWORKER, "--dry-run").stdout
    assert "line 2  C001  changed  monthly_amount 1560.00 → 2000.00" in text
    assert "line 5  C006  new" in text and "赵*" in text and "610102********0099" in text
    assert "610102196002020099" not in text and "6228480000000000099" not in text
    assert "1 new, 2 changed, 1 unchanged" in text and "nothing recorded" in text
    rows = json.loads(
        cli("import", "cases", str(bad), "--by", CASEWORKER, "--dry-run", "--format", "json").stdout
    )
    assert [r["outcome"] for r in rows] == ["changed", "unchanged", "terminated", "new"]
    listed = json.loads(cli("import", "list", "--format", "json").stdout)
    assert [i["filename"] for i in listed] == ["cases.csv", "staff.csv"]  # the dry run: none
    cli("import", "cases", str(bad), "--by", CASEWORKER)
    ref = json.loads(cli("import", "list", "--format", "json").stdout)[0]["import_id"]
    table = cli("import", "list").stdout
    assert ref in table and "complete" in table
    refused = cli("import", "revert", ref, "--by", CASEWORKER, "--reason", "x")
    assert refused.exit_code == 1 and "approver" in refused.stderr
    assert "Traceback" not in refused.output
    done = cli("import", "revert", ref, "--by", APPROVER, "--reason", "wrong month").stdout
    assert f"{ref} (bad.csv) reverted: 3 cases, 1 of them opened by the file" in done
    assert "reverted by S002" in cli("import", "list").stdout


def test_a_revert_by_an_approver_in_the_household_of_a_case_is_refused(
    county: Services, tmp_path: Path
) -> None:
    """C006 was approved by S009; the approver S002 is recorded as a member of its household:
    only another approver may revert its file."""
    svc = county
    staff = (FIXTURES / "staff.csv").read_text(encoding="utf-8").splitlines()
    extra = "S009,钱进,610102198303030150,6217000000000000109,approver,610102"
    load(svc, "staff", write_file(tmp_path, "staff2.csv", staff[0], *staff[1:], extra))
    load(svc, "cases", case_rows(tmp_path, "c6.csv", NEW_CASE.replace(",S001,S002", ",S001,S009")))
    load(
        svc,
        "households",
        write_file(
            tmp_path,
            "h.csv",
            "case_id,member_id_number,member_name,relation,from,to",
            "C006,610102197608080082,吴秀英,other,2026-05-01,",
        ),
    )
    ref = import_id("cases", sha_of(svc, "c6.csv"))
    with pytest.raises(RevertRefused, match="case C006: S002 has an interest"):
        revert(svc, ref)
    assert revert(svc, ref, by="S009").cases == 1


def test_a_households_or_reviews_file_is_not_reverted_and_the_refusal_says_what_to_do(
    county: Services, tmp_path: Path
) -> None:
    from eligibility.reviewing import Reviews

    svc = county
    members = write_file(
        tmp_path,
        "households.csv",
        "case_id,member_id_number,member_name,relation,from,to",
        "C001,610102195001010011,王秀兰,head,2026-01-01,",
        "C001,610102198001010015,刘强,spouse,2026-01-01,",
    )
    load(svc, "households", members)
    reviews = write_file(
        tmp_path,
        "reviews.csv",
        "case_id,date,reviewer,outcome,monthly_amount,effective_from,next_review_months",
        "C005,2026-12-10,S001,adjust,2200.00,2027-01-01,",
    )
    svc.service(Reviews).import_file(reviews, by=APPROVER)
    before = head(svc)
    households_ref = import_id("households", sha_of(svc, "households.csv"))
    with pytest.raises(AidLedgerError) as refused:
        revert(svc, households_ref)
    said = str(refused.value)
    assert said.startswith(f"{households_ref} is a households file: a households file is a reg")
    assert "importing a corrected households file" in said and "`to` set" in said
    reviews_ref = import_id("reviews", sha_of(svc, "reviews.csv"))
    with pytest.raises(AidLedgerError) as refused:
        revert(svc, reviews_ref)
    said = str(refused.value)
    assert said.startswith(f"{reviews_ref} is a reviews file: a reviews file records reviews")
    assert "with a cases file" in said and "aidledger import reviews" in said
    assert head(svc) == before, "nothing recorded"
    events = svc.app.repository.get(case_aggregate_id("C005"))
    assert state_as_of(list(svc.app.events.get(events.id)), date(2027, 1, 1)).monthly_amount == (
        220000
    ), "the review's decision stands"
