"""The controls through the command line: every recording command checks its actor's role; the
run commands (list, show, cancel, approve) and the registers (config, recoveries, relatives,
end-deceased) as a user sees them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.builders import write_file
from tests.conftest import FIXTURES


def staffed(cli: Any) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001").exit_code == 0


def prepared(cli: Any, period: str = "2026-06") -> str:  # type: ignore[no-untyped-def]
    result = cli("payout", "prepare", "--period", period, "--by", "S003", "--format", "json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["run_id"])


#: Each recording command with a staff member who lacks its role (S004 is an auditor: reads
#: everything, records nothing but comments), and the role the refusal names.
def refusals(tmp_path: Path, run_id: str, payment_id: str) -> list[tuple[list[str], str]]:
    return [
        (["import", "cases", str(FIXTURES / "cases.csv")], "caseworker"),
        (["import", "deaths", str(FIXTURES / "deaths.csv")], "caseworker"),
        (["import", "staff", str(FIXTURES / "staff.csv")], "admin"),
        (["config", "apply", str(FIXTURES.parent.parent / "ledger" / "programs.toml")], "admin"),
        (["payout", "prepare", "--period", "2026-07"], "finance"),
        (["payout", "approve", run_id], "finance_approver"),
        (["payout", "release", payment_id, "--reason", "x"], "finance_approver"),
        (["payout", "cancel", run_id, "--reason", "x"], "finance"),
        (
            ["payout", "export", run_id, "--format", "csv", "--out", str(tmp_path / "x.csv")],
            "finance",
        ),
        (["reconcile", "--period", "2026-06"], "finance"),
        (["cases", "end-deceased", "--as-of", "2026-12-01"], "caseworker"),
        (["import", "grants", str(_grants(tmp_path))], "caseworker"),
        (
            [
                *("payout", "supplement", "--period", "2026-06", "--programs", "dibao"),
                *("--amount", "100.00", "--per", "case", "--in-effect-on", "2026-06-01"),
                *("--reason", "一次性生活补贴"),
            ],
            "finance",
        ),
    ]


def _grants(tmp_path: Path) -> Path:
    from ledger.grant import GRANT_COLUMNS

    return write_file(
        tmp_path,
        "grants.csv",
        ",".join(GRANT_COLUMNS),
        "G1,temporary,610102001001,赵大山,610102198505050010,3,2000.00,2026-06-03,房屋失火,"
        "6228480000000000901,赵大山,S001,S002",
    )


def test_every_recording_command_refuses_a_staff_member_without_its_role(
    cli: Any, tmp_path: Path
) -> None:
    staffed(cli)
    cli("import", "deaths", str(FIXTURES / "deaths.csv"), "--by", "S001")
    run_id = prepared(cli)
    shown = json.loads(cli("payout", "show", run_id, "--format", "json").stdout)
    payment_id = shown["held"][0]["payment_id"]
    for args, role in refusals(tmp_path, run_id, payment_id):
        result = cli(*args, "--by", "S004")
        assert result.exit_code == 1, args
        assert "S004 may not" in result.output and role in result.output, (args, result.output)
        assert "Traceback" not in result.output
    unknown = cli("payout", "prepare", "--period", "2026-07", "--by", "S0099")
    assert unknown.exit_code == 1 and "not in the staff registry" in unknown.output


def test_list_show_and_an_approval_that_says_payable_and_held_apart(cli: Any) -> None:
    staffed(cli)
    cli("import", "deaths", str(FIXTURES / "deaths.csv"), "--by", "S001")
    run_id = prepared(cli)
    (row,) = json.loads(cli("payout", "list", "--format", "json").stdout)
    assert set(row) == {
        "run_id",
        "period",
        "program",
        "status",
        "prepared_by",
        "approved_by",
        "payments",
        "amount",
        "held",
        "held_amount",
        "payable",
        "payable_amount",
        "stale",
    }
    assert (row["run_id"], row["status"], row["payments"], row["held"]) == (
        run_id,
        "prepared",
        5,
        1,
    )
    table = cli("payout", "show", run_id)
    assert table.exit_code == 0 and "paid_after_death" in table.stdout
    approved = cli("payout", "approve", run_id, "--by", "S005")
    assert approved.exit_code == 0
    assert "5 payments: 4 payable, 4911.00; 1 held (200.00)" in approved.stdout


def test_cancel_then_prepare_again(cli: Any) -> None:
    staffed(cli)
    run_id = prepared(cli)
    refused = cli("payout", "cancel", run_id, "--by", "S003", "--reason", " ")
    assert refused.exit_code == 1 and "reason" in refused.output
    assert cli("payout", "cancel", run_id, "--by", "S003", "--reason", "typo").exit_code == 0
    assert cli("payout", "approve", run_id, "--by", "S005").exit_code == 1
    assert prepared(cli) == run_id.replace("-1", "-2")


def test_a_typo_in_the_period_is_refused_before_anything_is_prepared(cli: Any) -> None:
    staffed(cli)
    result = cli("payout", "prepare", "--period", "2028-06", "--by", "S003")
    assert result.exit_code == 1
    assert "more than one month after today (2026-12-15)" in result.output
    assert json.loads(cli("payout", "list", "--format", "json").stdout) == []


def test_config_apply_and_show_as_of_a_date(cli: Any, tmp_path: Path) -> None:
    staffed(cli)
    shipped = cli("config", "show", "--format", "toml")
    assert shipped.exit_code == 0 and "[programs.dibao]" in shipped.stdout
    changed = shipped.stdout.replace('max_monthly = "1000.00"', 'max_monthly = "1200.00"')
    path = tmp_path / "programs.toml"
    path.write_text(changed, encoding="utf-8")
    applied = cli("config", "apply", str(path), "--from", "2027-01-01", "--by", "S007")
    assert applied.exit_code == 0 and "in force from 2027-01-01" in applied.stdout
    again = cli("config", "apply", str(path), "--from", "2027-01-01", "--by", "S007")
    assert "nothing recorded" in again.stdout

    def elderly_max(as_of: str) -> str:
        doc = json.loads(cli("config", "show", "--as-of", as_of, "--format", "json").stdout)
        return str(doc["config"]["programs"]["elderly"]["max_monthly"])

    assert (elderly_max("2026-12-31"), elderly_max("2027-01-01")) == ("100000", "120000")


def test_relatives_and_the_recoveries_register(cli: Any, tmp_path: Path) -> None:
    staffed(cli)
    relatives = write_file(
        tmp_path, "r.csv", "staff_id,id_number,relation", "S006,610102198004040041,兄弟"
    )
    assert cli("import", "relatives", str(relatives), "--by", "S001").exit_code == 0
    run_id = prepared(cli, "2026-05")
    cli("payout", "approve", run_id, "--by", "S005")
    out = tmp_path / "may.xml"
    cli("payout", "export", run_id, "--format", "pain001", "--out", str(out), "--by", "S003")
    # C005 (刘洋, S006's brother) ended with April: May's money is to be recovered.
    ended = (FIXTURES / "cases.csv").read_text(encoding="utf-8").splitlines()
    header, c005 = ended[0], next(r for r in ended if r.startswith("C005"))
    path = write_file(
        tmp_path, "end.csv", header, c005.replace(",2026-03-01,,", ",2026-03-01,2026-04-30,")
    )
    assert cli("import", "cases", str(path), "--by", "S001").exit_code == 0
    june = prepared(cli, "2026-06")
    assert cli("payout", "approve", june, "--by", "S005").exit_code == 0
    (rec,) = json.loads(cli("recoveries", "--format", "json").stdout)
    assert (rec["case_id"], rec["amount"], rec["status"]) == ("C005", "2080.00", "open")
    rid = rec["recovery_id"]
    collect = ("recovery", "collect", rid, "--by", "S003", "--reason", "receipt 7")
    assert cli(*collect, "--amount", "2080.01").exit_code == 1
    assert cli(*collect, "--amount", "80.00").exit_code == 0
    waived = cli("recovery", "waive", rid, "--by", "S006", "--reason", "destitute")
    assert waived.exit_code == 1 and "interest" in waived.output  # his brother's case
    table = cli("recoveries", "--case", "C005")
    assert "2000.00" in table.stdout  # outstanding


@pytest.mark.parametrize("dry_run", [True, False])
def test_end_deceased_through_the_command_line(cli: Any, dry_run: bool) -> None:
    staffed(cli)
    cli("import", "deaths", str(FIXTURES / "deaths.csv"), "--by", "S001")
    args = ["cases", "end-deceased", "--as-of", "2026-12-01", "--by", "S001", "--format", "json"]
    doc = json.loads(cli(*args, *(["--dry-run"] if dry_run else [])).stdout)
    assert [(e["case_id"], e["effective_to"]) for e in doc["ended"]] == [("C003", "2026-04-12")]
    again = json.loads(cli(*args).stdout)
    assert again["ended"] == ([] if not dry_run else doc["ended"])
