"""The access log and masking on the command line (SQLite and PostgreSQL): who looked at
whose personal data, when and why; a view without its reason refused; masked by role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.builders import (
    ADMIN,
    AUDITOR,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    SUPERVISOR,
)
from tests.conftest import FIXTURES

NAME, ID_NUMBER, ACCOUNT = "王秀兰", "610102195001010011", "6228480000000000011"


def registered(cli: Any) -> None:
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", ADMIN).exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER).exit_code == 0


def access_log(cli: Any, *args: str) -> list[dict[str, Any]]:
    result = cli("access-log", "--by", AUDITOR, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def history(cli: Any, *args: str) -> Any:
    return cli("case", "history", "C001", "--format", "json", *args)


def test_a_case_history_with_by_is_recorded_with_who_what_and_why(cli: Any) -> None:
    registered(cli)
    shown = history(cli, "--by", AUDITOR, "--reason", "annual audit 2026")
    assert shown.exit_code == 0, shown.stderr
    (row,) = access_log(cli)
    assert row["staff_id"] == AUDITOR and row["reason"] == "annual audit 2026"
    assert (row["channel"], row["kind"], row["subject"], row["cases"]) == (
        "cli",
        "case_history",
        "C001",
        1,
    )
    assert row["recorded_at"].startswith("20")
    assert access_log(cli, "--case", "C001") == [row]
    assert access_log(cli, "--case", "C002") == []
    assert access_log(cli, "--staff", AUDITOR) == [row]
    assert access_log(cli, "--staff", ADMIN) == []
    assert access_log(cli, "--since", "2099-01-01") == []
    assert cli("verify").exit_code == 0, "the views are chained like every event"
    assert cli("projections", "rebuild").exit_code == 0
    assert access_log(cli) == [row], "a read model, rebuilt from the events"


def test_an_auditor_or_supervisor_without_a_reason_is_refused_and_nothing_recorded(
    cli: Any,
) -> None:
    registered(cli)
    for who in (AUDITOR, SUPERVISOR):
        refused = history(cli, "--by", who)
        assert refused.exit_code == 2 and "say why" in refused.stderr
        assert refused.stdout == ""
    assert access_log(cli) == []


def test_without_by_the_operator_sees_it_all_and_nothing_is_recorded(cli: Any) -> None:
    registered(cli)
    doc = json.loads(history(cli).stdout)
    assert doc["state"]["name"] == NAME and doc["state"]["id_number"] == ID_NUMBER
    assert access_log(cli) == []


def test_the_history_is_masked_by_the_role_of_the_viewer(cli: Any) -> None:
    registered(cli)

    def state_and_first_event(*args: str) -> tuple[dict[str, Any], dict[str, Any]]:
        result = history(cli, *args)
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        return doc["state"], doc["events"][0]

    for clear in (
        (CASEWORKER,),
        (SUPERVISOR, "--reason", "complaint 12"),
        (AUDITOR, "--reason", "audit"),
    ):
        state, event = state_and_first_event("--by", *clear)
        assert (state["name"], state["id_number"], state["bank_account"]) == (
            NAME,
            ID_NUMBER,
            ACCOUNT,
        ), clear
        assert event["name"] == NAME
    for masked in (ADMIN, FINANCE, FINANCE_APPROVER):
        state, event = state_and_first_event("--by", masked)
        assert (state["name"], state["id_number"], state["bank_account"]) == (
            "王*兰",
            "610102********0011",
            "6228****0011",
        ), masked
        assert event["name"] == "王*兰" and event["id_number"] == "610102********0011"
        assert NAME not in json.dumps(event, ensure_ascii=False)


def test_only_auditors_supervisors_and_admins_read_the_access_log(cli: Any) -> None:
    registered(cli)
    for reader in (AUDITOR, SUPERVISOR, ADMIN):
        assert cli("access-log", "--by", reader).exit_code == 0
    refused = cli("access-log", "--by", FINANCE)
    assert refused.exit_code == 1 and "may not read the access log" in refused.stderr
    assert cli("access-log", "--by", "NOBODY").exit_code == 1


def test_a_bank_file_and_a_findings_listing_are_recorded_with_their_cases(
    cli: Any, tmp_path: Path
) -> None:
    registered(cli)
    run = json.loads(
        cli("payout", "prepare", "--period", "2026-12", "--by", FINANCE, "--format", "json").stdout
    )["run_id"]
    assert cli("payout", "approve", run, "--by", FINANCE_APPROVER).exit_code == 0
    out = tmp_path / "dec.xml"
    exported = cli(
        "payout", "export", run, "--format", "pain001", "--out", str(out), "--by", FINANCE,
        "--reason", "December payday",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.stderr
    (bank,) = access_log(cli)
    assert (bank["staff_id"], bank["kind"], bank["reason"]) == (
        FINANCE,
        "bank_file",
        "December payday",
    )
    assert bank["subject"].startswith(f"dec.xml ({run}, ")
    reconciled = cli("reconcile", "--period", "2026-12", "--as-of", "2027-01-31", "--by", FINANCE)
    assert reconciled.exit_code == 0, reconciled.stderr
    listing = ("findings", "--period", "2026-12", "--format", "json", "--by", SUPERVISOR)
    assert cli(*listing).exit_code == 2, "a supervisor says why"
    found = cli(*listing, "--reason", "weekly review")
    assert found.exit_code == 0, found.stderr
    cases = sorted({f["case_id"] for f in json.loads(found.stdout)})
    assert cases
    newest = access_log(cli)[0]
    assert (newest["kind"], newest["cases"], newest["reason"]) == (
        "findings",
        len(cases),
        "weekly review",
    )
    assert newest["subject"] == "findings 2026-12 (status=open)"
    assert access_log(cli, "--case", cases[0])[0] == newest
