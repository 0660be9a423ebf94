"""Data comparison (核对) on a store (SQLite and PostgreSQL): comparison files imported all or
nothing and once; ``compare`` raising each finding once per case over the household's
people and only from records known by ``--as-of``; a finding in ``hold_on`` holding the next
payment until resolved as a false positive; the programs config refusing bad comparison rules;
and who may do what."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aidledger.wiring import Services
from eligibility.comparison_import import ComparisonImporter
from eligibility.comparisons import Comparisons
from ledger.comparison_terms import COMPARISON_COLUMNS, OTHER_BENEFIT_COLUMNS
from ledger.duties import DutyRefused
from ledger.errors import ConfigError, InputRefused
from ledger.period import Period
from ledger.programs import parse_programs, read_config_text, shipped_config_path
from tests.builders import (
    ADMIN,
    APPROVER,
    CASEWORKER,
    FINANCE,
    SUPERVISOR,
    load,
    with_staff,
    write_file,
)
from tests.conftest import FIXTURES

#: fixtures/cases.csv: C001 (dibao, 610102001001, holder below), C002 (tekun).
C001_HOLDER, C002_HOLDER = "610102195001010011", "610102196002020021"
SPOUSE = "610102198001010015"
DEC = Period.parse("2026-12")


def with_records(
    svc: Services, tmp_path: Path, source: str, *rows: str, by: str = CASEWORKER
) -> Any:
    """Import a comparison file of ``source`` (the fixture store first if it is empty)."""
    if not svc.db.query("SELECT 1 FROM staff LIMIT 1"):
        with_staff(svc)
        load(svc, "cases", FIXTURES / "cases.csv")
    columns = OTHER_BENEFIT_COLUMNS if source == "other_benefit" else COMPARISON_COLUMNS
    n = len(list(tmp_path.glob("cmp-*.csv")))
    path = write_file(tmp_path, f"cmp-{n}.csv", ",".join(columns), *rows)
    importer = svc.service(ComparisonImporter)
    return importer.import_comparison(path, source=source, by=by)


def compare_findings(
    svc: Services, as_of: date | None = None, status: str = "open"
) -> list[dict[str, Any]]:
    svc.service(Comparisons).compare(DEC, as_of=as_of or svc.today, by=CASEWORKER)
    from ledger.comparison_terms import COMPARISON_FINDINGS

    rows = svc.reconciliation.findings(
        period="2026-12", status=status, viewer=svc.reconciliation.viewer(None, channel="cli")
    )
    return [r for r in rows if r["type"] in COMPARISON_FINDINGS]


def test_a_comparison_file_is_recorded_once_in_chunks_and_rebuilt_equal(
    svc: Services, tmp_path: Path
) -> None:
    rows = [f"{C001_HOLDER},陕A{n:05d},2026-11-0{1 + n % 9},{1000 + n}.00,轿车" for n in range(12)]
    first = with_records(svc, tmp_path, "vehicle", *rows)
    assert (first.rows, first.new) == (12, 12)
    stored = svc.db.query("SELECT COUNT(*), SUM(amount) FROM comparison_records")[0]
    assert (stored[0], int(stored[1])) == (12, sum((1000 + n) * 100 for n in range(12)))
    path = next(tmp_path.glob("cmp-0.csv"))
    again = svc.service(ComparisonImporter).import_comparison(path, source="vehicle", by=CASEWORKER)
    assert again.already_imported and again.events == 0
    assert svc.db.query("SELECT COUNT(*) FROM comparison_records")[0][0] == 12
    before = sorted(svc.db.query("SELECT * FROM comparison_records"), key=repr)
    from projections.runner import catch_up, reset

    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models, page_size=7)
    assert sorted(svc.db.query("SELECT * FROM comparison_records"), key=repr) == before


def _person_index(svc: Services) -> str | None:
    """The person index's definition as the database tells it (None: there is none)."""
    sql = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'comparison_records_id_idx'"
        if svc.db.dialect == "postgresql"
        else "SELECT sql FROM sqlite_master WHERE name = 'comparison_records_id_idx'"
    )
    rows = svc.db.query(sql)
    return str(rows[0][0]) if rows else None


def test_a_large_file_is_written_without_the_person_index_and_compare_builds_it_again(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of `DEFER_INDEX_AT` records or more, a quarter of the table or more, drops the
    index before writing; the next compare builds it as the schema has it, and finds through
    it what it would have found. A small file next to a large table keeps it."""
    import projections.comparison as model

    as_made = _person_index(svc)
    assert as_made is not None
    monkeypatch.setattr(model, "DEFER_INDEX_AT", 2)
    deposits = [f"{C001_HOLDER},ACC-{n},2026-11-01,{n}0000.00,存款" for n in range(1, 9)]
    with_records(svc, tmp_path, "deposit", *deposits)
    assert _person_index(svc) is None
    assert svc.db.query("SELECT COUNT(*) FROM comparison_records")[0][0] == 8
    found = compare_findings(svc)
    assert [(f["case_id"], f["type"]) for f in found] == [("C001", "assets_over_limit")]
    assert _person_index(svc) == as_made
    # Four records next to eight: a quarter of the table or more, written without it.
    vehicles = [f"{C002_HOLDER},陕A{n:05d},2026-11-01,1000.00,轿车" for n in range(4)]
    with_records(svc, tmp_path, "vehicle", *vehicles)
    assert _person_index(svc) is None
    assert svc.service(Comparisons).compare(DEC, by=CASEWORKER).cases == 2
    # Two next to twelve: less than a quarter, written through the index.
    with_records(svc, tmp_path, "vehicle", *[v.replace("陕A", "陕B") for v in vehicles[:2]])
    assert _person_index(svc) == as_made
    # A file of fewer than DEFER_INDEX_AT keeps it.
    assert not model.defer_person_index(svc.db, 1)
    assert _person_index(svc) == as_made


def test_a_large_file_checked_in_two_processes_is_refused_or_recorded_as_one_reading_would(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.csvparts

    monkeypatch.setattr(ledger.csvparts, "PARTS_FROM", 0)  # every file in two halves
    rows = [f"{C001_HOLDER},ACC-{n},2026-11-01,{n}.00,存款" for n in range(1, 401)]
    bad = [*rows[:300], f"{C001_HOLDER},ACC-X,2026-11-31,1.00,", *rows[300:]]
    with pytest.raises(InputRefused) as refused:
        with_records(svc, tmp_path, "deposit", *bad)
    assert [(p.line, p.column) for p in refused.value.problems] == [(302, "as_of")]
    assert svc.db.query("SELECT COUNT(*) FROM comparison_records")[0][0] == 0
    summary = with_records(svc, tmp_path, "deposit", *rows)
    assert (summary.rows, summary.new) == (400, 400)
    stored = svc.db.query("SELECT COUNT(*), SUM(amount) FROM comparison_records")[0]
    assert (stored[0], int(stored[1])) == (400, sum(range(1, 401)) * 100)


def test_a_bad_comparison_file_is_refused_by_line_and_records_nothing(
    svc: Services, tmp_path: Path
) -> None:
    with pytest.raises(InputRefused) as refused:
        with_records(
            svc,
            tmp_path,
            "deposit",
            f"{C001_HOLDER},ACC-1,2026-11-01,50000.00,存款",  # good
            "610102195001010012,ACC-2,2026-11-01,10.00,",  # wrong check digit
            f"{C001_HOLDER},ACC-3,2026-11-31,10.00,",  # no such day
            f"{C001_HOLDER},ACC-4,2026-11-01,12.345,",  # three decimals
            f"{C001_HOLDER},=cmd|' /C calc'!A0,2026-11-01,10.00,",  # a formula
            f"{C001_HOLDER},ACC-6,2027-01-01,10.00,",  # after today
        )
    assert {p.line for p in refused.value.problems} == {3, 4, 5, 6, 7}
    assert "formula" in str(refused.value)
    assert svc.db.query("SELECT COUNT(*) FROM comparison_records")[0][0] == 0
    assert not svc.db.query("SELECT 1 FROM imported_files WHERE kind = 'comparison'")
    with pytest.raises(InputRefused):
        with_records(
            svc, tmp_path, "other_benefit", f"{C001_HOLDER},hrss,unemployment,abc,2026-01-01,"
        )


def test_compare_raises_once_per_case_over_the_household_and_only_what_was_known(
    svc: Services, tmp_path: Path
) -> None:
    """C001 (dibao: deposit limit 60000.00): the holder's 40000.00 and the spouse's 30000.00
    are 70000.00 together; the spouse's record is dated 2026-12-10."""
    with_records(
        svc,
        tmp_path,
        "deposit",
        f"{C001_HOLDER},ACC-1,2026-11-01,40000.00,",
        f"{SPOUSE},ACC-2,2026-12-10,30000.00,",
    )
    load(
        svc,
        "households",
        write_file(
            tmp_path,
            "h.csv",
            "case_id,member_id_number,member_name,relation,from,to",
            f"C001,{SPOUSE},刘强,spouse,2026-01-01,",
        ),
    )
    assert compare_findings(svc, as_of=date(2026, 12, 9)) == []  # the spouse's was not known
    (finding,) = compare_findings(svc, as_of=date(2026, 12, 10))
    assert (finding["type"], finding["case_id"], finding["source"]) == (
        "assets_over_limit",
        "C001",
        "deposit",
    )
    assert (finding["value"], finding["limit"], finding["program"]) == (
        "70000.00",
        "60000.00",
        "dibao",
    )
    assert SPOUSE not in finding["detail"] and C001_HOLDER not in finding["detail"]
    assert compare_findings(svc) == [finding]  # raised once
    # Masked for who may not see the case in clear.
    shown = svc.reconciliation.findings(
        period="2026-12", viewer=svc.reconciliation.viewer(ADMIN, channel="cli")
    )
    mine = next(r for r in shown if r["finding_id"] == finding["finding_id"])
    assert mine["source_ref"] == "AC*-1" and finding["source_ref"] == "ACC-1"


def test_compare_with_no_record_about_the_months_cases_raises_nothing(
    svc: Services, tmp_path: Path
) -> None:
    """A month whose cases no record is about (the daily job's usual day in a county whose
    departments sent nothing yet): nothing compared, nothing raised, no error."""
    with_records(svc, tmp_path, "vehicle", "110101199003070011,京A00001,2026-11-01,1000.00,")
    result = svc.service(Comparisons).compare(DEC, by=CASEWORKER)
    assert (result.cases, result.raised) == (0, {})


def test_each_comparison_finding_type(svc: Services, tmp_path: Path) -> None:
    with_records(svc, tmp_path, "business", f"{C001_HOLDER},91610102MA00000001,2026-11-01,个体户,")
    with_records(svc, tmp_path, "income", f"{C001_HOLDER},W-1,2026-11-01,5000.00,工资")
    with_records(
        svc, tmp_path, "other_benefit", f"{C001_HOLDER},hrss,unemployment,1500.00,2026-10-01,"
    )
    with_records(
        svc, tmp_path, "household_registration", f"{C002_HOLDER},HR-1,2026-11-01,320102,迁出"
    )
    # A benefit that duplicates nothing of tekun, and one that ended before December.
    with_records(
        svc,
        tmp_path,
        "other_benefit",
        f"{C002_HOLDER},education,grant,100.00,2026-01-01,2026-11-30",
    )
    found = {(f["case_id"], f["type"]) for f in compare_findings(svc)}
    assert found == {
        ("C001", "business_registered"),
        ("C001", "income_over_limit"),
        ("C001", "cross_department_duplicate"),
        ("C002", "moved_out"),
    }


def test_a_finding_in_hold_on_holds_the_next_payment_until_a_false_positive(
    svc: Services, tmp_path: Path
) -> None:
    with_records(
        svc, tmp_path, "other_benefit", f"{C001_HOLDER},hrss,unemployment,1500.00,2026-10-01,"
    )
    (finding,) = compare_findings(svc)
    assert finding["type"] == "cross_department_duplicate"  # in dibao's shipped hold_on

    def held() -> str:
        svc.payouts.prepare(DEC, program=None, by=FINANCE)
        (row,) = svc.db.query(
            "SELECT held FROM payments WHERE case_id = 'C001' AND kind = 'regular' "
            "AND period = '2026-12'"
        )
        return str(row[0])

    assert "cross_department_duplicate" in held()
    # The caseworker who decided C001 may not resolve it (no role), nor may its approver.
    with pytest.raises(DutyRefused):
        svc.reconciliation.resolve(
            finding["finding_id"], resolution="false_positive", comment="x", by=CASEWORKER
        )
    svc.reconciliation.resolve(
        finding["finding_id"], resolution="false_positive", comment="ended", by=SUPERVISOR
    )
    assert held() == ""
    assert compare_findings(svc) == []  # the same evidence is not raised again


@pytest.mark.parametrize(
    ("resolution", "still_held"),
    [("referred", True), ("recovered", True), ("corrected", False), ("false_positive", False)],
)
def test_a_substantiated_finding_keeps_holding_the_case(
    svc: Services, tmp_path: Path, resolution: str, still_held: bool
) -> None:
    """Resolving a holding finding as referred (or recovered) says its cause stands: the next
    prepare holds the case still, so no resolution but false_positive or corrected pays it."""
    with_records(
        svc, tmp_path, "other_benefit", f"{C001_HOLDER},hrss,unemployment,1500.00,2026-10-01,"
    )
    (finding,) = compare_findings(svc)
    svc.payouts.prepare(DEC, program=None, by=FINANCE)
    svc.reconciliation.resolve(
        finding["finding_id"], resolution=resolution, comment="转交纪检", by=SUPERVISOR
    )
    # The resolution makes the prepared run stale only when it would change what it pays.
    svc.payouts.prepare(DEC, program=None, by=FINANCE)
    (row,) = svc.db.query(
        "SELECT held FROM payments WHERE case_id = 'C001' AND kind = 'regular' "
        "AND period = '2026-12' AND cancelled = 0"
    )
    assert ("cross_department_duplicate" in str(row[0])) is still_held


def test_the_decider_of_a_case_may_not_resolve_its_comparison_finding(
    svc: Services, tmp_path: Path
) -> None:
    """S006 holds supervisor and also decided a case (caseworker;supervisor): refused."""
    with_staff(svc)
    staff = (
        (FIXTURES / "staff.csv")
        .read_text(encoding="utf-8")
        .replace(
            "S006,黄志强,610102198012120121,6217000000000000106,supervisor,",
            "S006,黄志强,610102198012120121,6217000000000000106,caseworker;supervisor,",
        )
    )
    load(svc, "staff", write_file(tmp_path, "staff.csv", *staff.strip().splitlines()))
    from tests.builders import case_rows

    load(
        svc,
        "cases",
        case_rows(
            tmp_path,
            "c.csv",
            "C900,dibao,610102001001,刘某,610102198505050053,1,500.00,2026-12-15,,"
            "6228480000000009001,刘某,S006,S002",
        ),
    )
    with_records(svc, tmp_path, "business", "610102198505050053,B-9,2026-11-01,个体户,")
    (finding,) = compare_findings(svc)
    with pytest.raises(DutyRefused, match="decided or approved"):
        svc.reconciliation.resolve(
            finding["finding_id"], resolution="false_positive", comment="x", by=SUPERVISOR
        )


def test_who_may_import_and_compare(svc: Services, tmp_path: Path) -> None:
    with pytest.raises(DutyRefused):
        with_records(svc, tmp_path, "vehicle", f"{C001_HOLDER},P-1,2026-11-01,1.00,", by=FINANCE)
    with pytest.raises(DutyRefused):
        svc.service(Comparisons).compare(DEC, by=APPROVER)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('vehicle = "100000.00"', 'car = "1.00"', "unknown limit"),
        ('vehicle = "100000.00"', "vehicle = 100000", "yuan strings"),
        ('forbidden_sources = ["business"]', 'forbidden_sources = ["income"]', "forbidden"),
        (
            'duplicates_with = ["hrss:unemployment", ',
            'duplicates_with = ["unemployment", ',
            "department:benefit",
        ),
        (
            'duplicates_with = ["hrss:unemployment", ',
            'duplicates_with = ["nowhere:x", ',
            "unknown department",
        ),
        ('hold_on = ["assets_over_limit", ', 'hold_on = ["late_payment", ', "hold_on"),
    ],
)
def test_the_programs_config_refuses_bad_comparison_rules(old: str, new: str, message: str) -> None:
    text = read_config_text(shipped_config_path())
    assert old in text
    parse_programs(text, "programs.toml")  # the shipped one is good
    with pytest.raises(ConfigError, match=message):
        parse_programs(text.replace(old, new, 1), "programs.toml")


def test_compare_on_the_command_line(cli: Any, tmp_path: Path) -> None:
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER).exit_code == 0
    path = write_file(
        tmp_path,
        "v.csv",
        ",".join(COMPARISON_COLUMNS),
        f"{C001_HOLDER},陕A12345,2026-11-01,150000.00,",
    )
    bad = cli("import", "comparison", str(path), "--source", "boat", "--by", CASEWORKER)
    assert bad.exit_code == 2
    ok = cli("import", "comparison", str(path), "--source", "vehicle", "--by", CASEWORKER)
    assert ok.exit_code == 0, ok.output
    again = cli("import", "comparison", str(path), "--source", "vehicle", "--by", CASEWORKER)
    assert "already imported" in again.stdout
    run = cli("compare", "--period", "2026-12", "--by", CASEWORKER, "--format", "json")
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["raised"] == {"assets_over_limit": 1}
    listed = cli(
        "findings", "--period", "2026-12", "--type", "assets_over_limit", "--format", "json"
    )
    (f,) = json.loads(listed.stdout)
    assert (f["source"], f["source_ref"], f["value"], f["limit"]) == (
        "vehicle",
        "陕A12345",
        "150000.00",
        "100000.00",
    )


def test_the_daily_job_compares_the_open_periods_once(svc: Services, tmp_path: Path) -> None:
    from aidledger.serve import Jobs, JobStats, Leadership

    with_records(svc, tmp_path, "vehicle", f"{C001_HOLDER},P-1,2026-11-01,150000.00,")
    svc.payouts.prepare(DEC, program=None, by=FINANCE)
    (run_id,) = [r[0] for r in svc.db.query("SELECT run_id FROM runs")]
    from tests.builders import FINANCE_APPROVER

    svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    jobs = Jobs(svc.settings, Leadership(svc.store), JobStats(), lambda: date(2026, 12, 20))
    jobs.reconcile(svc)
    jobs.reconcile(svc)
    rows = svc.db.query(
        "SELECT type, case_id, finding_id FROM findings WHERE type = 'assets_over_limit'"
    )
    assert [r[:2] for r in rows] == [("assets_over_limit", "C001")]
    (raised,) = svc.reconciliation.history(rows[0][2])
    assert raised["by"] == "scheduler"


def test_a_holding_finding_raised_after_prepare_makes_the_run_stale(
    svc: Services, tmp_path: Path
) -> None:
    """A comparison finding in dibao's ``hold_on`` raised after the run was prepared: the run
    would pay what a fresh prepare holds, so approval is refused until prepared again; one not
    in ``hold_on`` (``business_registered``) changes nothing."""
    from ledger.payment import RunClosed
    from tests.builders import FINANCE_APPROVER

    with_records(svc, tmp_path, "business", f"{C001_HOLDER},B-1,2026-11-01,个体户,")
    svc.payouts.prepare(DEC, program=None, by=FINANCE)
    (run_id,) = [r[0] for r in svc.db.query("SELECT run_id FROM runs")]
    assert {f["type"] for f in compare_findings(svc)} == {"business_registered"}
    assert not svc.payouts.review.show(run_id)["stale"]
    with_records(
        svc, tmp_path, "other_benefit", f"{C001_HOLDER},hrss,unemployment,1500.00,2026-10-01,"
    )
    compare_findings(svc)
    shown = svc.payouts.review.show(run_id)
    assert shown["stale"] and shown["changed_cases"] == 1
    with pytest.raises(RunClosed, match="stale"):
        svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    again = svc.payouts.prepare(DEC, program=None, by=FINANCE)
    assert again.run_id == run_id
    (held,) = svc.db.query(
        "SELECT held FROM payments WHERE case_id = 'C001' AND kind = 'regular' "
        "AND period = '2026-12'"
    )
    assert held[0] == "cross_department_duplicate"
    assert not svc.payouts.review.show(run_id)["stale"]
    svc.payouts.approve(run_id, by=FINANCE_APPROVER)


def test_releasing_a_payment_held_by_a_comparison_finding_is_recorded_on_it(
    svc: Services, tmp_path: Path
) -> None:
    from tests.builders import FINANCE_APPROVER

    with_records(
        svc, tmp_path, "other_benefit", f"{C001_HOLDER},hrss,unemployment,1500.00,2026-10-01,"
    )
    (finding,) = compare_findings(svc)
    run_id = svc.payouts.prepare(DEC, program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    ((held,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    svc.payouts.release(held, by=SUPERVISOR, reason="unemployment benefit ended in October")
    released = [
        e
        for e in svc.reconciliation.history(finding["finding_id"])
        if e["type"] == "FindingPaymentReleased"
    ]
    assert [(e["payment_id"], e["by"], e["complete"]) for e in released] == [
        (held, SUPERVISOR, True)
    ]
    shown = svc.payouts.review.show(run_id)
    assert shown["totals"]["held"] == 0


def test_a_dry_run_reports_each_record_the_import_then_records_and_records_nothing(
    svc: Services, tmp_path: Path
) -> None:
    from eligibility.comparison_import import record_report
    from ledger.comparison import ComparisonRecord
    from tests.builders import head

    with_records(svc, tmp_path, "vehicle", f"{C001_HOLDER},P-0,2026-11-01,1.00,")  # the store
    rows = [
        f"{C001_HOLDER},ACC-1,2026-11-01,50000.00,存款",
        f"{SPOUSE},ACC-2,2026-10-02,12.50,",
        f"{C002_HOLDER},ACC-3,2026-09-03,0.00,定期",
    ]
    path = write_file(tmp_path, "dep.csv", ",".join(COMPARISON_COLUMNS), *rows)
    importer = svc.service(ComparisonImporter)
    before = head(svc)
    reported: list[dict[str, Any]] = []
    dry = importer.import_comparison(path, source="deposit", by=CASEWORKER, report=reported.append)
    assert head(svc) == before, "a dry run records nothing"
    assert svc.db.query("SELECT COUNT(*) FROM comparison_records WHERE source = 'deposit'") == [
        (0,)
    ]
    assert [(r["line"], r["key"], r["outcome"]) for r in reported] == [
        (2, C001_HOLDER, "new"),
        (3, SPOUSE, "new"),
        (4, C002_HOLDER, "new"),
    ]
    assert reported[0]["changes"]["value"] == [None, "50000.00"]
    real = importer.import_comparison(path, source="deposit", by=CASEWORKER)
    assert (dry.rows, dry.new, dry.events) == (real.rows, real.new, real.events)
    assert dry.dry_run and not real.dry_run
    # What the dry run reported is what the import recorded, record by record.
    recorded = svc.db.query(
        "SELECT line, id_number, source_ref, as_of, value, amount, detail, until "
        "FROM comparison_records WHERE source = 'deposit' ORDER BY line"
    )
    from projections.comparison import as_of_day

    assert reported == [
        record_report(ComparisonRecord(int(n), i, ref, as_of_day(day), value, amount, detail, None))
        for n, i, ref, day, value, amount, detail, until in recorded
    ]
    with pytest.raises(InputRefused):
        importer.import_comparison(
            write_file(tmp_path, "bad.csv", ",".join(COMPARISON_COLUMNS), "1,2,3,4,5"),
            source="deposit",
            by=CASEWORKER,
            report=reported.append,
        )


def test_a_dry_run_on_the_command_line_prints_each_record_masked(cli: Any, tmp_path: Path) -> None:
    from ledger.ids import mask_id_number

    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    path = write_file(
        tmp_path,
        "d.csv",
        ",".join(COMPARISON_COLUMNS),
        f"{C001_HOLDER},6222000011112222,2026-11-01,50000.00,工行",
        f"{SPOUSE},6222000033334444,2026-11-02,10.00,",
    )
    args = ("import", "comparison", str(path), "--source", "deposit", "--by", CASEWORKER)
    text = cli(*args, "--dry-run").stdout
    assert "line 2  610102********0011  new" in text and "value 50000.00" in text
    assert "62************22" in text and "line 3  610102********0015" in text
    assert C001_HOLDER not in text and SPOUSE not in text and "6222000011112222" not in text
    assert "2 rows: 2 new" in text and "3 events would be recorded; nothing recorded" in text
    doc = json.loads(cli(*args, "--dry-run", "--format", "json").stdout)
    assert [(r["line"], r["key"]) for r in doc] == [
        (2, "610102********0011"),
        (3, "610102********0015"),
    ]
    listed = json.loads(cli("import", "list", "--format", "json").stdout)
    assert "d.csv" not in [i["filename"] for i in listed]
    real = cli(*args)
    assert "2 rows: 2 new" in real.stdout and "3 events recorded" in real.stdout
    assert "d.csv" in [
        i["filename"] for i in json.loads(cli("import", "list", "--format", "json").stdout)
    ]
    assert [r["changes"]["id_number"][1] for r in doc] == [
        mask_id_number(C001_HOLDER),
        mask_id_number(SPOUSE),
    ]


def test_the_records_written_through_are_the_rows_a_rebuild_makes(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each transaction of chunks copies its records into ``comparison_records`` itself
    (`projections.runner.written_through`); a rebuild from the log makes the same rows."""
    from contextlib import contextmanager

    import eligibility.comparison_import as importing
    import projections.runner as runner
    from projections.runner import catch_up, reset, written_through

    monkeypatch.setattr(importing, "CHUNK", 3)
    monkeypatch.setattr(importing, "EVENTS_PER_TRANSACTION", 2)
    through: list[bool] = []

    @contextmanager
    def spy(*args: Any, **kwargs: Any) -> Any:
        with written_through(*args, **kwargs) as ready:
            through.append(ready)
            yield ready

    monkeypatch.setattr(runner, "written_through", spy)
    rows = [
        f"{C001_HOLDER},陕A{n:05d},2026-11-{1 + n % 28:02d},{1000 + n}.50,车" for n in range(13)
    ]
    first = with_records(svc, tmp_path, "vehicle", *rows)
    assert (first.rows, first.events) == (13, 2 + 5)  # the opening two and five chunks
    assert through == [True, True, True], "three transactions, each written through"
    before = sorted(svc.db.query("SELECT * FROM comparison_records"), key=repr)
    assert len(before) == 13
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models, page_size=3)
    assert sorted(svc.db.query("SELECT * FROM comparison_records"), key=repr) == before


def test_the_findings_written_with_their_events_are_the_rows_a_rebuild_makes(
    svc: Services, tmp_path: Path
) -> None:
    """`compare` builds its findings' events directly (`Finding.raised_event`) and writes their
    rows of ``findings`` in the same transactions: a rebuild from the log makes the same."""
    from ledger.payment import Finding
    from projections.runner import catch_up, reset

    with_records(
        svc,
        tmp_path,
        "vehicle",
        f"{C001_HOLDER},P-1,2026-11-01,150000.00,",
        f"{C002_HOLDER},P-2,2026-11-01,250000.00,",
    )
    assert compare_findings(svc)
    before = sorted(svc.db.query("SELECT * FROM findings"), key=repr)
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models, page_size=1)
    assert sorted(svc.db.query("SELECT * FROM findings"), key=repr) == before
    # The event built directly is the one the aggregate records.
    fields: dict[str, Any] = {
        "period": "2026-12",
        "program": "dibao",
        "department": "civil",
        "region_code": "610102",
        "case_id": "C001",
        "payment_id": None,
        "amount": None,
        "detail": "d",
        "source": "vehicle",
        "value": "1.00",
    }
    direct = Finding.raised_event(
        by=CASEWORKER, finding_id="F-1", type="assets_over_limit", **fields
    )
    (made,) = Finding.new(
        by=CASEWORKER, finding_id="F-1", type="assets_over_limit", **fields
    ).collect_events()
    assert direct.model_dump(exclude={"timestamp"}) == made.model_dump(exclude={"timestamp"})
    assert type(direct) is type(made)


def test_the_records_read_a_chunk_of_cases_at_a_time_are_the_records_read_at_once(
    svc: Services, tmp_path: Path
) -> None:
    from projections.comparison import case_record_chunks, case_records

    with_records(
        svc,
        tmp_path,
        "deposit",
        f"{C001_HOLDER},D-1,2026-11-01,100.00,",
        f"{C002_HOLDER},D-2,2026-11-01,200.00,",
        f"{C002_HOLDER},D-3,2026-12-10,300.00,",  # after as_of
        "610102196003030037,D-4,2026-11-01,400.00,",  # no case's
    )
    first, last, as_of = DEC.first_day, DEC.last_day, date(2026, 12, 1)
    whole = case_records(svc.db, first, last, as_of)
    assert {(c, r.source_ref) for c, _, _, r in whole} == {("C001", "D-1"), ("C002", "D-2")}
    chunks = list(case_record_chunks(svc.db, first, last, as_of, size=1))
    assert len(chunks) >= 2 and all(len({c for c, *_ in chunk}) == 1 for chunk in chunks)
    assert [row for chunk in chunks for row in chunk] == whole
    # Read ahead on the event store's pool (PostgreSQL): the same chunks.
    assert list(case_record_chunks(svc.db, first, last, as_of, size=1, app=svc.app)) == chunks
