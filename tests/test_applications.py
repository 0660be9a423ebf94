"""Applications and their steps end to end, on both stores: `import steps` (every rule refused
by line, all or nothing, re-import and continuation), `application history`, the gate of
`[chain] required_from` on new cases, `case history`'s link, and the notices by stage."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aidledger.wiring import Services
from eligibility.applications import Steps
from ledger.config_store import load_config
from ledger.duties import DutyRefused
from ledger.errors import InputRefused
from ledger.imports import ImportSummary
from projections.runner import catch_up, reset
from tests.builders import (
    ADMIN,
    APPROVER,
    AUDITOR,
    CASEWORKER,
    FINANCE,
    case_rows,
    head,
    load,
    with_staff,
    write_file,
)
from tests.conftest import FIXTURES

STEPS = "application_id,case_id,program,step,date,staff_id,outcome,detail"
WITH_APPLICANT = f"{STEPS},region_code,name,id_number"
APPLICANT_ID = "61010219650505010X"
REGION = "610102001001"


def line_to_notice(app: str = "A1", case: str = "C100", notice: str = "2026-11-20") -> list[str]:
    """apply … notice, by the fixture's caseworker S001 (township too); the applicant on the
    apply line."""
    return [
        f"{app},{case},dibao,apply,2026-11-02,S001,,申请,{REGION},刘桂英,{APPLICANT_ID}",
        f"{app},{case},dibao,verify,2026-11-03,S001,pass,核对通过,,,",
        f"{app},{case},dibao,visit,2026-11-05,S001,pass,入户,,,",
        f"{app},{case},dibao,review,2026-11-09,S001,pass,民主评议,,,",
        f"{app},{case},dibao,township,2026-11-12,S001,pass,乡镇审核,,,",
        f"{app},{case},dibao,notice,{notice},S001,,公示,,,",
    ]


def approval(app: str = "A1", case: str = "C100", day: str = "2026-11-27") -> str:
    return f"{app},{case},dibao,approve,{day},{APPROVER},,同意"


def steps(svc: Services) -> Steps:
    return svc.service(Steps)


def import_steps(svc: Services, path: Path, by: str = CASEWORKER) -> ImportSummary:
    return steps(svc).import_file(path, by=by)


def refused(svc: Services, path: Path, by: str = CASEWORKER) -> list[str]:
    """The problems of a refused file, as ``line N, column C: reason``; nothing recorded."""
    before = head(svc)
    with pytest.raises(InputRefused) as e:
        import_steps(svc, path, by)
    assert head(svc) == before, "a refused file records nothing"
    return [str(p) for p in e.value.problems]


def approved(svc: Services, tmp_path: Path, app: str = "A1", case: str = "C100") -> None:
    """An application through its whole chain, approved by the fixture's approver."""
    import_steps(
        svc, write_file(tmp_path, f"{app}.csv", WITH_APPLICANT, *line_to_notice(app, case))
    )
    import_steps(svc, write_file(tmp_path, f"{app}-ok.csv", STEPS, approval(app, case)), APPROVER)


def with_chain(svc: Services, tmp_path: Path, required_from: str = "2026-12-01") -> None:
    """The shipped config with ``[chain] required_from``, in force today; the services see it."""
    text = (FIXTURES.parent.parent / "ledger" / "programs.toml").read_text(encoding="utf-8")
    path = tmp_path / "chain.toml"
    path.write_text(f'{text}\n[chain]\nrequired_from = "{required_from}"\n', encoding="utf-8")
    svc.configs.apply(path, effective_from=None, by=ADMIN)
    svc.config = load_config(svc.app, svc.db, svc.today)
    svc.__dict__.pop("importer", None)


@pytest.fixture
def staffed(svc: Services) -> Services:
    with_staff(svc)
    return svc


def status(svc: Services, app: str) -> tuple[str, str | None, int]:
    ((state, by, version),) = svc.db.query(
        "SELECT status, approved_by, version FROM applications WHERE application_id = ?", (app,)
    )
    return state, by, int(version)


# -- import steps -------------------------------------------------------------------------------


def test_steps_are_recorded_continued_by_the_approvers_own_file_and_never_twice(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    first = write_file(tmp_path, "steps.csv", WITH_APPLICANT, *line_to_notice())
    s = import_steps(svc, first)
    assert (s.rows, s.new, s.unchanged, s.events) == (6, 6, 0, 6)
    assert status(svc, "A1") == ("open", None, 6)
    again = import_steps(svc, first)
    assert again.already_imported and again.events == 0
    # The approval, in a file of its own imported by the approver (after the 7 notice days).
    s = import_steps(svc, write_file(tmp_path, "approve.csv", STEPS, approval()), APPROVER)
    assert (s.new, s.events) == (1, 1)
    assert status(svc, "A1") == ("approved", APPROVER, 7)
    # The whole application exported again by the source system: nothing new to record.
    everything = write_file(
        tmp_path, "all.csv", WITH_APPLICANT, *line_to_notice(), approval() + ",,,"
    )
    before = head(svc)
    s = import_steps(svc, everything, APPROVER)
    assert (s.new, s.unchanged, s.events) == (0, 7, 0)
    assert head(svc) - before == 1  # the file's own record, nothing else


def test_a_dry_run_checks_everything_tells_each_line_and_records_nothing(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    path = write_file(tmp_path, "steps.csv", WITH_APPLICANT, *line_to_notice())
    told: list[dict[str, Any]] = []
    before = head(svc)
    s = steps(svc).import_file(path, by=CASEWORKER, report=told.append)
    assert s.dry_run and s.new == 6 and head(svc) == before
    assert [(t["line"], t["key"], t["outcome"]) for t in told][:2] == [
        (2, "A1", "new"),
        (3, "A1", "new"),
    ]
    assert told[0]["changes"]["id_number"] == [None, APPLICANT_ID]
    assert told[1]["changes"]["outcome"] == [None, "pass"]


def test_every_rule_broken_is_named_by_line_and_nothing_of_the_file_is_recorded(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    lines = line_to_notice()
    bad = [
        *lines[:4],
        lines[4].replace(",S001,pass,乡镇审核", f",{APPROVER},pass,乡镇审核"),  # an approver
        lines[5],
        approval(day="2026-11-24") + ",,,",  # 4 days into a 7-day notice
    ]
    found = refused(svc, write_file(tmp_path, "bad.csv", WITH_APPLICANT, *bad), APPROVER)
    assert found == [
        f"line 6, column step: township is by a caseworker; {APPROVER} was not one on 2026-11-12",
        "line 8, column step: approved 4 days after the notice of 2026-11-20: the notice runs 7 "
        "days (approve from 2026-11-27)",
        f"line 8, column step: {APPROVER} took the township review: another person must approve "
        "(two people)",
        f"line 8, column staff_id: the township review was recorded by {APPROVER}: its approval "
        "is recorded by another person (two people)",
    ]
    assert svc.db.query("SELECT COUNT(*) FROM applications") == [(0,)]


def test_a_caseworker_cannot_record_an_approval_nor_anyone_a_step_out_of_order(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    import_steps(svc, write_file(tmp_path, "steps.csv", WITH_APPLICANT, *line_to_notice()))
    found = refused(svc, write_file(tmp_path, "ok.csv", STEPS, approval()), CASEWORKER)
    assert found == [
        f"line 2, column staff_id: an approval is recorded by its approver: {APPROVER} imports "
        f"the file with their approve step (--by {APPROVER}); {CASEWORKER} may not record it",
        f"line 2, column staff_id: the township review was recorded by {CASEWORKER}: its "
        "approval is recorded by another person (two people)",
    ]
    skipped = write_file(tmp_path, "skip.csv", STEPS, "A2,C101,dibao,visit,2026-11-05,S001,pass,")
    assert refused(svc, skipped) == [
        "line 2, column step: out of order: visit where apply comes next"
    ]
    with pytest.raises(DutyRefused, match="may not import a steps file"):
        import_steps(svc, skipped, by=FINANCE)


def test_an_upheld_objection_needs_a_new_review_township_and_notice_before_approval(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    import_steps(svc, write_file(tmp_path, "steps.csv", WITH_APPLICANT, *line_to_notice()))
    objection = "A1,C100,dibao,objection,2026-11-22,S001,upheld,邻居反映有收入"
    import_steps(svc, write_file(tmp_path, "objection.csv", STEPS, objection))
    assert refused(svc, write_file(tmp_path, "ok.csv", STEPS, approval()), APPROVER) == [
        "line 2, column step: out of order: approve where review comes next"
    ]
    again = [
        "A1,C100,dibao,review,2026-11-25,S001,pass,复议",
        "A1,C100,dibao,township,2026-11-26,S001,pass,",
        "A1,C100,dibao,notice,2026-11-27,S001,,再次公示",
        approval(day="2026-12-04"),
    ]
    # The approver may not record the township review the approval follows (two people).
    assert refused(svc, write_file(tmp_path, "again.csv", STEPS, *again), APPROVER) == [
        f"line 5, column staff_id: the township review was recorded by {APPROVER}: its "
        "approval is recorded by another person (two people)"
    ]
    assert import_steps(svc, write_file(tmp_path, "re.csv", STEPS, *again[:3])).new == 3
    assert import_steps(svc, write_file(tmp_path, "ok2.csv", STEPS, again[3]), APPROVER).new == 1
    assert status(svc, "A1") == ("approved", APPROVER, 11)


def test_nobody_with_an_interest_takes_a_step_a_relative_included(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    relatives = write_file(
        tmp_path, "relatives.csv", "staff_id,id_number,relation", f"S001,{APPLICANT_ID},sister"
    )
    load(svc, "relatives", relatives)
    found = refused(svc, write_file(tmp_path, "steps.csv", WITH_APPLICANT, *line_to_notice()))
    assert len(found) == 7  # each of S001's six steps, and S001 recording them
    assert all("S001 has an interest" in p or "importer S001 has an interest" in p for p in found)
    assert APPLICANT_ID not in " ".join(found) and "刘桂英" not in " ".join(found)


def test_a_new_application_names_its_applicant_unless_its_case_is_recorded(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    bare = [line.rsplit(",", 3)[0] for line in line_to_notice()]
    assert refused(svc, write_file(tmp_path, "bare.csv", STEPS, *bare))[0] == (
        "line 2, column region_code: the apply line of a case not recorded yet names its "
        "applicant: columns region_code, name, id_number"
    )
    # A recorded case (C001, 王秀兰 of 610102001001) is its own applicant.
    load(svc, "cases", FIXTURES / "cases.csv")
    known = [line.replace("A1,C100,", "A9,C001,") for line in bare]
    assert import_steps(svc, write_file(tmp_path, "known.csv", STEPS, *known)).new == 6
    ((region, id_number),) = svc.db.query(
        "SELECT region_code, id_number FROM applications WHERE application_id = 'A9'"
    )
    assert (region, id_number) == ("610102001001", "610102195001010011")


# -- the gate of new cases ------------------------------------------------------------------------

NEW_CASE = (
    f"C100,dibao,{REGION},刘桂英,{APPLICANT_ID},2,1200.00,2026-12-01,,6228480000000000999,"
    f"刘桂英,S001,{APPROVER}"
)


def test_from_required_from_a_new_case_needs_its_approved_application(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    with_chain(svc, tmp_path)
    # Cases in effect before required_from import as before.
    assert load(svc, "cases", FIXTURES / "cases.csv").new == 5
    before = head(svc)
    with pytest.raises(InputRefused) as e:
        load(svc, "cases", case_rows(tmp_path, "new.csv", NEW_CASE))
    assert [str(p) for p in e.value.problems] == [
        "line 2, column case_id: a new case in effect from 2026-12-01 (on or after the chain's "
        "required_from, 2026-12-01) needs an approved application for case C100 and program "
        "dibao: import its steps first (aidledger import steps) (value 'C100')"
    ]
    assert head(svc) == before
    approved(svc, tmp_path)
    # Approved by S002: a row naming another approver is refused (besides S009's not being
    # registered); with the application's approver the case opens.
    other = NEW_CASE.replace(f",S001,{APPROVER}", ",S001,S009")
    with pytest.raises(InputRefused) as e:
        load(svc, "cases", case_rows(tmp_path, "other.csv", other))
    assert any(
        p.column == "approved_by" and "was approved by S002 on 2026-11-27" in p.reason
        for p in e.value.problems
    )
    assert load(svc, "cases", case_rows(tmp_path, "new2.csv", NEW_CASE)).new == 1
    # A later decision on the case is no new case: no application asked.
    raised = NEW_CASE.replace("1200.00,2026-12-01", "1300.00,2027-01-01")
    assert load(svc, "cases", case_rows(tmp_path, "raise.csv", raised)).changed == 1


def test_a_case_opened_by_an_earlier_line_before_required_from_needs_no_application(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    with_chain(svc, tmp_path)
    opened = NEW_CASE.replace("2026-12-01", "2026-10-01")
    raised = NEW_CASE.replace("1200.00,2026-12-01", "1300.00,2026-12-01")
    assert load(svc, "cases", case_rows(tmp_path, "both.csv", opened, raised)).new == 1


def test_a_case_for_another_person_than_the_applicant_is_refused(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    with_chain(svc, tmp_path)
    approved(svc, tmp_path)
    someone = NEW_CASE.replace(APPLICANT_ID, "610102195001010011")
    with pytest.raises(InputRefused) as e:
        load(svc, "cases", case_rows(tmp_path, "someone.csv", someone))
    assert [p.column for p in e.value.problems] == ["id_number"]
    assert "was made by another person" in e.value.problems[0].reason


# -- reading back ---------------------------------------------------------------------------------


def test_application_history_and_the_case_it_led_to(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    to_notice = write_file(tmp_path, "steps.csv", WITH_APPLICANT, *line_to_notice())
    assert cli("import", "steps", str(to_notice), "--by", CASEWORKER).exit_code == 0
    ok = write_file(tmp_path, "ok.csv", STEPS, approval())
    result = cli("import", "steps", str(ok), "--by", CASEWORKER)
    assert result.exit_code == 1 and "recorded by its approver" in result.stderr
    assert cli("import", "steps", str(ok), "--by", APPROVER).exit_code == 0
    doc = json.loads(cli("application", "history", "A1", "--format", "json").stdout)
    assert (doc["case_id"], doc["state"]["status"], doc["state"]["approved_by"]) == (
        "C100",
        "approved",
        APPROVER,
    )
    assert [e["step"] for e in doc["events"]] == [
        "apply",
        "verify",
        "visit",
        "review",
        "township",
        "notice",
        "approve",
    ]
    assert doc["events"][-1]["by"] == APPROVER and doc["events"][-1]["source"].startswith("ok.csv@")
    then = json.loads(
        cli("application", "history", "A1", "--as-of", "2026-11-21", "--format", "json").stdout
    )
    assert then["state"]["status"] == "open" and then["state"]["notice_until"] == "2026-11-26"
    unknown = cli("application", "history", "A9")
    assert unknown.exit_code == 1 and "no application 'A9'" in unknown.stderr
    assert cli("import", "cases", str(case_rows(tmp_path, "c.csv", NEW_CASE)), "--by", "S001")
    case = json.loads(cli("case", "history", "C100", "--format", "json").stdout)
    steps = [e for e in case["events"] if e["type"].startswith("Application")]
    assert [(e["type"], e["step"], e["application_id"]) for e in steps[:2]] == [
        ("ApplicationMade", "apply", "A1"),
        ("ApplicationStepTaken", "verify", "A1"),
    ]
    assert (steps[-1]["step"], steps[-1]["effective_from"], steps[-1]["by"]) == (
        "approve",
        "2026-11-27",
        APPROVER,
    )
    assert len(steps) == 7 and set(case) == {
        "case_id",
        "as_of",
        "known_at",
        "state",
        "events",
        "money",
    }
    table = cli("case", "history", "C100").stdout
    assert "application A1: 7 steps, the last approve on 2026-11-27 by S002" in table


def test_notices_before_approval_of_payees_and_of_exits(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    cli(
        "import",
        "steps",
        str(write_file(tmp_path, "s.csv", WITH_APPLICANT, *line_to_notice())),
        "--by",
        "S001",
    )

    def notice(*args: str) -> list[dict[str, Any]]:
        result = cli("report", "notice", "--region", "610102", *args, "--format", "json")
        assert result.exit_code == 0, result.output
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows

    pre = notice("--stage", "pre-approval", "--as-of", "2026-11-22")
    assert [(r["application_id"], r["name"], r["id_number"], r["notice_to"]) for r in pre] == [
        ("A1", "刘*英", "610102********010X", "2026-11-26")
    ]
    assert notice("--stage", "pre-approval", "--as-of", "2026-11-27") == []  # the notice ran
    assert notice("--stage", "pre-approval", "--as-of", "2026-11-19") == []  # not yet
    # Exits: C004 of the fixture ends on 2026-12-31; the payees' notice is as it was.
    cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001")
    exits = notice("--stage", "exits", "--period", "2026-12")
    assert [(r["case_id"], r["name"], r["ended_on"], r["reason"]) for r in exits] == [
        ("C004", "张*", "2026-12-31", "终止")
    ]
    assert notice("--stage", "exits", "--period", "2026-11") == []
    # C003's holder died on 2026-04-12: once ended on the death report, an exit for 死亡.
    cli("import", "deaths", str(FIXTURES / "deaths.csv"), "--by", "S001")
    cli("cases", "end-deceased", "--as-of", "2026-12-15", "--by", "S001")
    died = notice("--stage", "exits", "--period", "2026-04")
    assert [(r["case_id"], r["ended_on"], r["reason"]) for r in died] == [
        ("C003", "2026-04-12", "死亡")
    ]
    payees = notice("--period", "2026-04")
    assert payees == notice("--stage", "payees", "--period", "2026-04")
    xlsx = tmp_path / "pre.xlsx"
    args = ("--stage", "pre-approval", "--as-of", "2026-11-22", "--format", "xlsx")
    result = cli("report", "notice", "--region", "610102", *args, "--out", str(xlsx))
    assert result.exit_code == 0 and xlsx.stat().st_size > 0
    table = cli(
        "report", "notice", "--region", "610102", "--stage", "pre-approval", "--as-of", "2026-11-22"
    )
    assert "社会救助审批前公示" in table.stdout and "刘桂英" not in table.stdout


def test_rebuilt_application_models_equal_incremental_ones(
    staffed: Services, tmp_path: Path
) -> None:
    svc = staffed
    approved(svc, tmp_path)
    approved(svc, tmp_path, app="A2", case="C200")

    def tables() -> dict[str, list[tuple[Any, ...]]]:
        return {
            t: sorted(svc.db.query(f"SELECT * FROM {t}"), key=repr)
            for t in ("applications", "application_steps")
        }

    incremental = tables()
    assert len(incremental["application_steps"]) == 14
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models, page_size=3)
    assert tables() == incremental


def test_a_step_may_not_be_dated_after_today(staffed: Services, tmp_path: Path) -> None:
    svc = staffed
    future = line_to_notice()[0].replace("2026-11-02", date(2026, 12, 16).isoformat())
    assert refused(svc, write_file(tmp_path, "f.csv", WITH_APPLICANT, future)) == [
        "line 2, column date: is after today (2026-12-15): a step is recorded once taken "
        "(value '2026-12-16')"
    ]


def test_a_dry_run_on_the_command_line_lists_each_line_masked(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    path = write_file(tmp_path, "steps.csv", WITH_APPLICANT, *line_to_notice())
    result = cli("import", "steps", str(path), "--by", CASEWORKER, "--dry-run", "--format", "json")
    rows = json.loads(result.stdout)
    assert [r["outcome"] for r in rows] == ["new"] * 6
    assert rows[0]["changes"]["name"] == [None, "刘*英"]
    assert rows[0]["changes"]["id_number"] == [None, "610102********010X"]
    assert APPLICANT_ID not in result.stdout and "刘桂英" not in result.stdout
    text = cli("import", "steps", str(path), "--by", CASEWORKER, "--dry-run").stdout
    assert "line 2  A1  new" in text and "nothing recorded" in text
    history = cli("application", "history", "A1")
    assert history.exit_code == 1, "a dry run records nothing"


def test_application_history_with_by_is_masked_by_role_and_recorded_in_the_access_log(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """On the store itself, as through the server: the applicant's name and id number in
    clear only to those who may see them, every view with --by recorded before it is shown
    (an auditor must say why), none without --by (the store's operator)."""
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    to_notice = write_file(tmp_path, "steps.csv", WITH_APPLICANT, *line_to_notice())
    assert cli("import", "steps", str(to_notice), "--by", CASEWORKER).exit_code == 0

    def history(*args: str) -> Any:
        return cli("application", "history", "A1", "--format", "json", *args)

    def logged() -> list[dict[str, Any]]:
        return json.loads(cli("access-log", "--format", "json").stdout)

    seen = json.loads(history("--by", CASEWORKER).stdout)
    assert (seen["state"]["name"], seen["state"]["id_number"]) == ("刘桂英", APPLICANT_ID)
    finance = json.loads(history("--by", FINANCE).stdout)
    assert finance["state"]["name"] == "刘*英" and APPLICANT_ID not in json.dumps(finance)
    assert [(e["staff_id"], e["channel"], e["kind"], e["subject"]) for e in logged()] == [
        (FINANCE, "cli", "application_history", "A1"),
        (CASEWORKER, "cli", "application_history", "A1"),
    ]
    refused = history("--by", AUDITOR)
    assert refused.exit_code == 2 and "reason" in refused.stderr
    assert len(logged()) == 2, "a refused view is not recorded"
    assert history("--by", AUDITOR, "--reason", "annual audit").exit_code == 0
    assert history().exit_code == 0
    ((who, reason),) = [(e["staff_id"], e["reason"]) for e in logged() if e["staff_id"] == AUDITOR]
    assert (who, reason, len(logged())) == (AUDITOR, "annual audit", 3)
