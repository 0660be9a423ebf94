"""The command line as its users rely on it: exit codes, JSON-only stdout, case history fields."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import FIXTURES


def test_import_then_history_json_has_the_documented_fields(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001").exit_code == 0
    result = cli("case", "history", "C002", "--as-of", "2026-03-01", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)  # stdout carries only JSON
    assert set(doc) == {"case_id", "as_of", "known_at", "state", "events", "money"}
    assert doc["case_id"] == "C002" and doc["as_of"] == "2026-03-01"
    assert doc["state"]["monthly_amount"] == "1180.50"
    assert doc["state"]["program"] == "tekun"
    (approved,) = doc["events"]
    assert approved["type"] == "CaseApproved"
    assert approved["by"] == "S001"
    assert approved["effective_from"] == "2026-02-01"
    assert approved["recorded_at"].endswith("+00:00")
    assert re.fullmatch(r"cases\.csv@[0-9a-f]{12}:3", approved["source"])


def test_history_before_the_case_began_has_no_state(cli) -> None:  # type: ignore[no-untyped-def]
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001")
    result = cli("case", "history", "C005", "--as-of", "2026-02-28", "--format", "json")
    assert json.loads(result.stdout)["state"] is None


def test_refused_input_exits_1_and_lists_every_problem(cli) -> None:  # type: ignore[no-untyped-def]
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    result = cli("import", "cases", str(FIXTURES / "cases_bad.csv"), "--by", "S001")
    assert result.exit_code == 1
    for line in (2, 3, 4, 5, 6):
        assert f"line {line}," in result.stderr
    assert "nothing was recorded" in result.stderr


def test_reimport_says_so(cli) -> None:  # type: ignore[no-untyped-def]
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    first = cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    assert "already imported" in first.stdout and first.exit_code == 0


def test_json_import_summary_is_only_json(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007", "--format", "json")
    assert json.loads(result.stdout)["new"] == 8


def test_unknown_case_exits_1(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("case", "history", "NOPE", "--format", "json")
    assert result.exit_code == 1 and "NOPE" in result.stderr


def test_usage_errors_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "cases", str(FIXTURES / "cases.csv")).exit_code == 2  # no --by
    assert cli("case", "history", "C1", "--as-of", "2026-02-30").exit_code == 2


def test_monthly_payout_through_the_command_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001")
    prepared = cli("payout", "prepare", "--period", "2026-04", "--by", "S003", "--format", "json")
    doc = json.loads(prepared.stdout)
    assert {"run_id", "payments", "amount"} <= set(doc)
    assert (doc["payments"], doc["amount"]) == (5, "5111.00")
    run_id = doc["run_id"]
    assert cli("payout", "approve", run_id, "--by", "S003").exit_code == 1  # the preparer
    assert cli("payout", "approve", run_id, "--by", "S002").exit_code == 1  # not finance
    export = ("payout", "export", run_id, "--format", "pain001", "--out", str(tmp_path / "x.xml"))
    assert cli(*export, "--by", "S003").exit_code == 1  # not approved yet
    assert cli("payout", "approve", run_id, "--by", "S005").exit_code == 0
    exported = cli(*export, "--by", "S003")
    assert exported.exit_code == 0 and (tmp_path / "x.xml").read_bytes().startswith(b"<?xml")
    report = cli("report", "payouts", "--period", "2026-04", "--by", "program", "--format", "json")
    rows = json.loads(report.stdout)
    assert {r["program"]: (r["cases"], r["payments"], r["amount"]) for r in rows} == {
        "dibao": (2, 2, "3640.00"),
        "tekun": (1, 1, "1180.50"),
        "elderly": (1, 1, "200.00"),
        "disability_living": (1, 1, "90.50"),
    }
    assert all(
        set(r) >= {"period", "program", "department", "region_code", "cases", "payments", "amount"}
        for r in rows
    )
    again = cli("payout", "prepare", "--period", "2026-04", "--by", "S003", "--format", "json")
    assert json.loads(again.stdout)["payments"] == 0
    as_csv = cli("report", "payouts", "--period", "2026-04", "--format", "csv")
    assert (
        as_csv.stdout.splitlines()[0]
        == "period,program,department,region_code,cases,payments,amount"
    )


def test_public_notice_masks_names_and_id_numbers(cli) -> None:  # type: ignore[no-untyped-def]
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001")
    run_id = json.loads(
        cli("payout", "prepare", "--period", "2026-04", "--by", "S003", "--format", "json").stdout
    )["run_id"]
    cli("payout", "approve", run_id, "--by", "S005")
    result = cli(
        "report", "notice", "--period", "2026-04", "--region", "610102001", "--format", "json"
    )
    assert result.exit_code == 2  # 9 digits is not a region code
    result = cli(
        "report", "notice", "--period", "2026-04", "--region", "610102001001", "--format", "json"
    )
    rows = json.loads(result.stdout)
    assert [(r["program"], r["name"], r["id_number"], r["amount"]) for r in rows] == [
        ("dibao", "王*兰", "610102********0011", "1560.00"),
    ]
    assert "王秀兰" not in result.stdout and "610102195001010011" not in result.stdout
    county = json.loads(
        cli(
            "report", "notice", "--period", "2026-04", "--region", "610102", "--format", "json"
        ).stdout
    )
    assert len(county) == 5
