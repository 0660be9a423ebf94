"""Periodic reviews (定期核查) and movements (增减变动) on both stores: a reviews file is
imported all or nothing and once; a review that adjusts or terminates is a decision the next
run pays by; what falls due, and when, in ``reviews due`` and ``case history``; the
``review_overdue`` finding raised once by reconcile and the daily job and closed by a review;
payments held while overdue; and a month's movements balancing on a generated store."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aidledger.serve import Jobs, JobStats, Leadership
from aidledger.synthetic import CASE_COLUMNS, STAFF_COLUMNS, generate_county, write_csv
from aidledger.wiring import Services
from eligibility.caseload import Caseload
from eligibility.reviewing import Reviews
from ledger.config_store import load_config
from ledger.errors import InputRefused
from ledger.payment import RunClosed
from ledger.period import Period
from ledger.programs import shipped_config_path
from ledger.review import REVIEW_COLUMNS, add_months
from projections.reviews import first_config_day
from tests.builders import (
    ADMIN,
    APPROVER,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    Clock,
    case_rows,
    fixture_row,
    load,
    with_staff,
    write_file,
)
from tests.conftest import FIXTURES

HEADER = ",".join(REVIEW_COLUMNS)
P = Period.parse


def reviews_file(tmp_path: Path, name: str, *lines: str) -> Path:
    return write_file(tmp_path, name, HEADER, *lines)


def config_text(extra: str) -> str:
    return shipped_config_path().read_text(encoding="utf-8") + "\n" + extra + "\n"


#: Reviews counted here since 2025 (the fixture's cases fall due a year after their start).
SINCE_2025 = '[reviews]\nfrom = "2025-01-01"'


def use_config(svc: Services, tmp_path: Path, extra: str) -> None:
    """Apply the shipped config with ``extra`` from 2026-01-01, and use it."""
    path = tmp_path / "programs.toml"
    path.write_text(config_text(extra), encoding="utf-8")
    svc.configs.apply(path, effective_from=date(2026, 1, 1), by=ADMIN)
    svc.config = load_config(svc.app, svc.db, svc.today)
    for name in ("importer", "payouts", "reconciliation", "configs", "history"):
        svc.__dict__.pop(name, None)


def staffed_cli(cli: Any, tmp_path: Path) -> None:
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", ADMIN).exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER).exit_code == 0
    path = tmp_path / "programs.toml"
    path.write_text(config_text(SINCE_2025), encoding="utf-8")
    applied = cli("config", "apply", str(path), "--from", "2026-01-01", "--by", ADMIN)
    assert applied.exit_code == 0, applied.output


def history(cli: Any, case_id: str, *options: str) -> dict[str, Any]:
    result = cli("case", "history", case_id, *options, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_bad_reviews_file_is_refused_with_every_line_and_nothing_recorded(
    cli: Any, tmp_path: Path
) -> None:
    staffed_cli(cli, tmp_path)
    bad = reviews_file(
        tmp_path,
        "bad.csv",
        "C001,2026-12-10,S001,continue,,,",  # good
        "C002,2026-12-10,S002,continue,,,",  # the case's approver reviews it
        "=HYPERLINK(1),2026-12-10,S001,continue,,,",  # a formula
        "C404,2026-12-10,S001,continue,,,",  # no such case
        "C005,2026-12-10,S001,adjust,2200.00,2027-01-01,",  # a change recorded by a caseworker
        "C003,2026-12-10,S001,renew,,,",  # no such outcome
    )
    result = cli("import", "reviews", str(bad), "--by", CASEWORKER)
    assert result.exit_code == 1
    err = result.stderr
    assert "nothing was recorded" in err and "Traceback" not in err
    assert "line 3, column reviewer" in err and "S002 did not hold the role caseworker" in err
    assert "line 4, column case_id" in err and "formula" in err
    assert "line 5, column case_id: no case 'C404'" in err
    assert "line 6, column case_id" in err and "recorded by an approver" in err
    assert "line 7, column outcome" in err
    assert "line 2" not in err
    events = history(cli, "C001")["events"]
    assert [e["type"] for e in events if e["type"] == "ReviewRecorded"] == []
    # A reviewer who approved the case, when they hold the caseworker role too, is refused.
    staff = write_file(
        tmp_path,
        "more-staff.csv",
        "staff_id,name,id_number,bank_account,role,region_code",
        "S009,钱一,610102198303030011,6217000000000000109,caseworker;approver,610102",
    )
    assert cli("import", "staff", str(staff), "--by", ADMIN).exit_code == 0
    cases = write_file(
        tmp_path,
        "c9.csv",
        ",".join(CASE_COLUMNS),
        "C009,dibao,610102001009,赵九,610102196001010016,1,800.00,2026-01-01,,"
        "6228480000000000019,赵九,S001,S009",
    )
    assert cli("import", "cases", str(cases), "--by", CASEWORKER).exit_code == 0
    mine = reviews_file(tmp_path, "mine.csv", "C009,2026-12-10,S009,continue,,,")
    refused = cli("import", "reviews", str(mine), "--by", APPROVER)
    assert refused.exit_code == 1 and "S009 approved case C009" in refused.stderr


def test_a_reviews_file_is_recorded_once_and_a_line_again_records_nothing(
    cli: Any, tmp_path: Path
) -> None:
    staffed_cli(cli, tmp_path)
    assert history(cli, "C001")["state"]["next_review_due"] == "2027-01-01"
    first = reviews_file(tmp_path, "r1.csv", "C001,2026-12-10,S001,continue,,,6")
    dry = cli("import", "reviews", str(first), "--by", CASEWORKER, "--dry-run")
    assert dry.exit_code == 0 and "nothing recorded" in dry.stdout
    assert history(cli, "C001")["state"]["next_review_due"] == "2027-01-01"
    done = cli("import", "reviews", str(first), "--by", CASEWORKER)
    assert done.exit_code == 0 and "1 new" in done.stdout, done.output
    again = cli("import", "reviews", str(first), "--by", CASEWORKER)
    assert again.exit_code == 0 and "already imported" in again.stdout
    more = reviews_file(
        tmp_path,
        "r2.csv",
        "C001,2026-12-10,S001,continue,,,6",  # recorded: nothing
        "C002,2026-12-11,S001,continue,,,",
    )
    second = cli("import", "reviews", str(more), "--by", CASEWORKER)
    assert second.exit_code == 0 and "1 new, 0 changed, 1 unchanged" in second.stdout
    doc = history(cli, "C001")
    assert doc["state"]["next_review_due"] == "2027-06-10"  # 6 months, as the review set
    (rec,) = [e for e in doc["events"] if e["type"] == "ReviewRecorded"]
    assert (rec["reviewer"], rec["outcome"], rec["by"]) == ("S001", "continue", CASEWORKER)
    # The same day with other terms is refused.
    other = reviews_file(tmp_path, "r3.csv", "C001,2026-12-10,S001,continue,,,12")
    refused = cli("import", "reviews", str(other), "--by", CASEWORKER)
    assert refused.exit_code == 1 and "on that day, with other terms" in refused.stderr


def test_reviews_due_lists_each_case_due_by_the_day_most_overdue_first(
    cli: Any, tmp_path: Path
) -> None:
    staffed_cli(cli, tmp_path)
    result = cli("reviews", "due", "--as-of", "2027-03-15", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["case_id"], r["due"], r["days_overdue"]) for r in rows] == [
        ("C001", "2027-01-01", 73),
        ("C003", "2027-01-01", 73),
        ("C002", "2027-02-01", 42),
        ("C005", "2027-03-01", 14),
    ]  # C004 ends 2026-12-31: nothing to review
    assert set(rows[0]) == {
        "case_id",
        "program",
        "region_code",
        "last_review",
        "due",
        "days_overdue",
    }
    table = cli("reviews", "due", "--as-of", "2027-03-15")
    assert table.exit_code == 0 and "reviews due by 2027-03-15: 4" in table.stdout


def test_an_adjustment_or_termination_is_a_decision_the_next_run_pays_by(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch, svc)
    clock.set(date(2026, 11, 20))
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    use_config(svc, tmp_path, SINCE_2025)
    clock.set(date(2026, 12, 10))
    path = reviews_file(
        tmp_path,
        "r.csv",
        "C005,2026-12-09,S001,adjust,2200.00,2026-12-01,3",
        "C003,2026-12-09,S001,terminate,,2027-01-01,",
    )
    with pytest.raises(InputRefused, match="recorded by an approver"):
        svc.service(Reviews).import_file(path, by=CASEWORKER)
    summary = svc.service(Reviews).import_file(path, by=APPROVER)
    assert (summary.new, summary.events) == (2, 4)
    run = svc.payouts.prepare(P("2027-01"), program=None, by=FINANCE)
    paid = dict(
        svc.db.query(
            "SELECT case_id, SUM(amount) FROM payments WHERE run_id = ? AND kind = 'regular' "
            "AND period = '2027-01' GROUP BY case_id",
            (run.run_id,),
        )
    )
    assert int(paid["C005"]) == 220000 and "C003" not in paid
    trail = svc.history.history("C005", as_of=date(2027, 1, 1), known_at=None, viewer=_operator())
    changed = [e for e in trail["events"] if e["type"] == "MonthlyAmountChanged"]
    assert changed[0]["changes"]["monthly_amount"] == ["2080.00", "2200.00"]
    assert (changed[0]["decided_by"], changed[0]["approved_by"]) == (CASEWORKER, APPROVER)
    assert trail["state"]["next_review_due"] == "2027-03-09"
    # As known the day before the review: due a year after its start; as of a day before it
    # was made, the review does not count yet either.
    before = svc.history.history(
        "C005", as_of=date(2027, 1, 1), known_at=date(2026, 12, 9), viewer=_operator()
    )
    assert before["state"]["next_review_due"] == "2027-03-01"
    earlier = svc.history.history(
        "C005", as_of=date(2026, 12, 5), known_at=None, viewer=_operator()
    )
    assert earlier["state"]["next_review_due"] == "2027-03-01"


def _operator() -> Any:
    from ledger.access import Viewer

    return Viewer(None, reason="", channel="cli")


def test_an_overdue_review_is_raised_once_by_reconcile_and_the_daily_job_and_closed_by_a_review(
    svc: Services, tmp_path: Path
) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    use_config(svc, tmp_path, SINCE_2025)
    r = svc.reconciliation
    # C001 is due 2027-01-01, overdue after 30 days' grace: from 2027-02-01.
    assert (
        "review_overdue"
        not in r.reconcile(P("2026-12"), as_of=date(2027, 1, 31), by=FINANCE).raised
    )
    first = r.reconcile(P("2026-12"), as_of=date(2027, 2, 1), by=FINANCE)
    assert first.raised == {"review_overdue": 2}  # C001 and C003
    assert r.reconcile(P("2026-12"), as_of=date(2027, 2, 2), by=FINANCE).raised == {}
    jobs = Jobs(svc.settings, Leadership(svc.store), JobStats(), lambda: date(2027, 3, 5))
    jobs.reconcile(svc)
    jobs.reconcile(svc)
    rows = svc.db.query(
        "SELECT case_id, period, status FROM findings WHERE type = 'review_overdue' "
        "ORDER BY case_id"
    )
    assert [tuple(r) for r in rows] == [
        ("C001", "2027-02", "open"),
        ("C002", "2027-03", "open"),  # due 2027-02-01: overdue from 2027-03-04
        ("C003", "2027-02", "open"),
    ]
    path = reviews_file(tmp_path, "r.csv", "C001,2026-12-14,S001,continue,,,")
    svc.service(Reviews).import_file(path, by=CASEWORKER)
    rows = svc.db.query(
        "SELECT case_id, status, resolution FROM findings WHERE type = 'review_overdue' "
        "ORDER BY case_id"
    )
    assert tuple(rows[0]) == ("C001", "resolved", "corrected")
    # Reviewed on 2026-12-14: due 2027-12-14, nothing raised again for it in March.
    again = svc.service(Reviews)
    assert [d.case_id for d in again.due(date(2027, 3, 5))] == ["C003", "C002", "C005"]
    assert r.raise_overdue_reviews(date(2027, 3, 5)).raised == {}


def test_a_store_without_reviews_finds_old_cases_due_on_their_anniversaries_after_it_began(
    svc: Services, tmp_path: Path
) -> None:
    with_staff(svc)
    old = write_file(
        tmp_path,
        "old.csv",
        ",".join(CASE_COLUMNS),
        *(
            f"O{i:03d},dibao,610102001001,老{i},{pid},1,500.00,2015-01-01,,"
            f"62284800000000{i:05d},老{i},S001,S002"
            for i, pid in enumerate(
                ("610102195001010011", "610102196002020021", "610102193505050050")
            )
        ),
    )
    load(svc, "cases", old)
    began = first_config_day(svc.db)
    assert began is not None
    reviews = svc.service(Reviews)
    # Started 2015-01-01: first due on the first 1 January on or after the store began.
    anniversary = date(began.year + (0 if (began.month, began.day) == (1, 1) else 1), 1, 1)
    assert reviews.due(anniversary - timedelta(days=1)) == []
    assert reviews.due(began) == []
    assert [d.case_id for d in reviews.due(anniversary)] == ["O000", "O001", "O002"]
    assert svc.reconciliation.raise_overdue_reviews(anniversary).raised == {}
    late = add_months(anniversary, 2)
    assert svc.reconciliation.raise_overdue_reviews(late).raised == {"review_overdue": 3}
    # Their rows of ``findings`` were written with their events: a rebuild makes the same.
    from projections.runner import catch_up, reset

    before = sorted(svc.db.query("SELECT * FROM findings"), key=repr)
    assert len(before) == 3
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models, page_size=2)
    assert sorted(svc.db.query("SELECT * FROM findings"), key=repr) == before


def test_with_suspend_when_overdue_the_payment_is_held_until_the_review(
    svc: Services, tmp_path: Path
) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    use_config(svc, tmp_path, SINCE_2025 + "\nsuspend_when_overdue = true\nreview_grace_days = 0")
    # Today 2026-12-15; January is paid from 2027-01-01: C001 and C003 (due 2027-01-01) are
    # not overdue on it, C004 (started 2025-07-01, due 2026-07-01) ends 2026-12-31.
    dec = svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    held = svc.db.query(
        "SELECT case_id, held FROM payments WHERE run_id = ? AND held <> ''", (dec.run_id,)
    )
    assert [tuple(h) for h in held] == [("C004", "review_overdue")]
    ((fid, status),) = svc.db.query(
        "SELECT finding_id, status FROM findings WHERE type = 'review_overdue'"
    )
    assert status == "open"
    path = reviews_file(tmp_path, "r.csv", "C004,2026-12-14,S001,continue,,,")
    svc.service(Reviews).import_file(path, by=CASEWORKER)
    assert svc.db.query("SELECT status FROM findings WHERE finding_id = ?", (fid,))[0][0] == (
        "resolved"
    )
    with pytest.raises(RunClosed, match="prepare again"):
        svc.payouts.approve(dec.run_id, by=FINANCE_APPROVER)  # stale: the review holds no more
    again = svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert again.run_id == dec.run_id
    assert svc.db.query("SELECT COUNT(*) FROM payments WHERE held <> ''")[0][0] == 0
    svc.payouts.approve(dec.run_id, by=FINANCE_APPROVER)


def test_movements_balance_on_a_generated_store_and_each_month_ends_where_the_next_starts(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch, svc)
    clock.set(date(2026, 10, 20))
    county = generate_county(cases=240, seed=11)
    staff, cases = tmp_path / "staff.csv", tmp_path / "cases.csv"
    write_csv(staff, county.staff, STAFF_COLUMNS)
    write_csv(cases, county.cases, CASE_COLUMNS)
    svc.importer.import_file("staff", staff, by="S0001")
    svc.importer.import_file("cases", cases, by="S0002")
    # In November: some cases end, some change amount, some come back, one is new.
    clock.set(date(2026, 11, 18))
    rows = [
        dict(r)
        for r in county.cases
        if not r["effective_to"] and r["effective_from"] <= "2026-11-01"
    ][:30]
    changed = []
    for i, r in enumerate(rows):
        if i < 8:
            r["effective_to"] = "2026-11-30"
        elif i < 16:
            r["monthly_amount"] = str(Decimal(r["monthly_amount"]) + 10)
            r["effective_from"] = "2026-12-01"
        else:
            continue
        changed.append(r)
    write_csv(tmp_path / "nov.csv", changed, CASE_COLUMNS)
    svc.importer.import_file("cases", tmp_path / "nov.csv", by="S0002")
    clock.set(date(2026, 12, 8))
    back = [{**r, "effective_to": ""} for r in changed[:3]]
    write_csv(tmp_path / "dec.csv", back, CASE_COLUMNS)
    svc.importer.import_file("cases", tmp_path / "dec.csv", by="S0002")
    caseload = svc.service(Caseload)
    months = {m: caseload.movements(P(m), ["program", "region"]) for m in ("2026-11", "2026-12")}
    for rows_of in months.values():
        for r in rows_of:
            assert r["start"] + r["opened"] + r["reinstated"] - r["terminated"] == r["end"], r
    nov, dec = ({(r["program"], r["region_code"]): r for r in months[m]} for m in months)
    assert nov[("all", None)]["terminated"] >= 8 and nov[("all", None)]["amount_changed"] == 8
    assert dec[("all", None)]["reinstated"] == 3
    for group, r in nov.items():
        if group in dec:
            assert dec[group]["start"] == r["end"], group
    # The report of November run again later says the same.
    clock.set(date(2027, 1, 5))
    assert svc.service(Caseload).movements(P("2026-11"), ["program", "region"]) == months["2026-11"]


def test_report_movements_writes_json_csv_and_xlsx(cli: Any, tmp_path: Path) -> None:
    staffed_cli(cli, tmp_path)
    # A month long after the cases were recorded: every case as it stands then.
    month = ("--period", "2099-01")
    result = cli("report", "movements", *month, "--by", "program", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["program"]: r for r in json.loads(result.stdout)}
    assert (rows["dibao"]["start"], rows["dibao"]["end"]) == (2, 2)
    assert "disability_living" not in rows  # ended 2026-12-31
    assert rows["all"]["end"] == 4
    for r in rows.values():
        assert r["start"] + r["opened"] + r["reinstated"] - r["terminated"] == r["end"]
    out = tmp_path / "m.csv"
    written = cli("report", "movements", *month, "--format", "csv", "--out", str(out))
    assert written.exit_code == 0, written.output
    with out.open(encoding="utf-8-sig") as f:
        header, first = next(csv.reader(f)), next(csv.reader(f))
    assert header == [
        "period", "program", "department", "region_code",
        "start", "opened", "reinstated", "terminated", "amount_changed", "end",
    ]  # fmt: skip
    assert first[:2] == ["2099-01", "dibao"]
    xlsx = tmp_path / "m.xlsx"
    made = cli("report", "movements", *month, "--format", "xlsx", "--out", str(xlsx))
    assert made.exit_code == 0 and xlsx.stat().st_size > 0
    drill = cli(
        *("report", "movements", "--period", "2026-12", "--by", "program"),
        *("--as-known-now", "--format", "json"),
    )
    rows = {r["program"]: r for r in json.loads(drill.stdout)}
    assert (rows["disability_living"]["start"], rows["disability_living"]["terminated"]) == (1, 1)
    bad = cli("report", "movements", *month, "--by", "region,village")
    assert bad.exit_code == 2


def test_movements_and_the_review_scan_read_no_case_ended_long_before_and_count_the_same(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.ids import id_check_char
    from projections.caseload import cases_that_can_count
    from projections.reviews import review_scan
    from projections.trail import end_of_day

    def valid_id(first17: str) -> str:
        return first17 + id_check_char(first17)

    clock = Clock(monkeypatch, svc)
    clock.set(date(2026, 10, 20))
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    use_config(svc, tmp_path, SINCE_2025)
    caseload = svc.service(Caseload)

    def reports() -> list[Any]:
        return [
            caseload.movements(P("2026-12"), ["program"]),
            caseload.movements(P("2026-12"), ["program"], as_known_now=True),
            caseload.movements(P("2026-11"), ["program", "region"]),
            [d.case_id for d in svc.service(Reviews).due(date(2027, 3, 15))],
        ]

    clock.set(date(2026, 12, 10))
    # C002 ended back-dated to October, recorded in December: as the ledger knew it when
    # December began, C002 was in effect; it ends in December's report, though ended now.
    ended = fixture_row("C002").replace("2026-02-01,,", "2026-02-01,2026-10-31,")
    load(svc, "cases", case_rows(tmp_path, "c002.csv", ended))
    without = reports()
    dec = {r["program"]: r for r in without[0]}
    assert (dec["tekun"]["start"], dec["tekun"]["terminated"], dec["tekun"]["end"]) == (1, 1, 0)
    # Cases that ended years ago, as recorded in October with the register (the clock set
    # back: events written now with October's time) and never touched again.
    clock.set(date(2026, 10, 21))
    old = [
        fixture_row("C005")
        .replace("C005", f"C9{i:02d}")
        .replace("610102198004040041", valid_id(f"61010219800404{60 + i:03d}"))
        .replace("2026-03-01,,", "2019-03-01,2021-12-31,")
        .replace("6228480000000000015", f"62284800000000009{i:02d}")
        for i in range(3)
    ]
    load(svc, "cases", case_rows(tmp_path, "old.csv", *old))
    clock.set(date(2026, 12, 15))
    assert reports() == without, "old ended cases change nothing"
    began = end_of_day(date(2026, 11, 30), "Asia/Shanghai")
    read = [
        s.case_id
        for page in cases_that_can_count(svc.db, date(2026, 12, 1), date(2027, 1, 1), began)
        for s, _ in page
    ]
    assert read == ["C001", "C002", "C003", "C004", "C005"], "C002: decided since December began"
    known_now = [
        s.case_id
        for page in cases_that_can_count(svc.db, date(2026, 12, 1), date(2027, 1, 1), None)
        for s, _ in page
    ]
    assert known_now == ["C001", "C003", "C004", "C005"]
    scanned = [
        row[0]
        for page in review_scan(
            svc.db, in_effect_on=date(2027, 3, 15), basis_until=date(2027, 3, 15)
        )
        for row in page
    ]
    assert not any(c.startswith("C9") for c in scanned) and "C002" not in scanned
