"""Verification requests to other departments (核查) on a store (SQLite and PostgreSQL):
requested and answered through the command line, ``verification_overdue`` raised once by
reconcile and by the daily job, closed by the answer; and what a request refuses."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aidledger.serve import Jobs, JobStats, Leadership, read_snapshot
from aidledger.wiring import Services
from eligibility.verifications import Verifications
from ledger.duties import DutyRefused
from ledger.verification import VerificationRefused
from tests.builders import ADMIN, CASEWORKER, FINANCE, load, with_staff, write_file
from tests.conftest import FIXTURES


def staffed(cli: Any) -> None:
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", ADMIN).exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER).exit_code == 0


def overdue_findings(cli: Any, status: str = "open") -> list[dict[str, Any]]:
    result = cli(
        *("findings", "--period", "2026-12", "--type", "verification_overdue"),
        *("--status", status, "--format", "json"),
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_an_unanswered_request_raises_a_finding_once_and_its_answer_closes_it(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    staffed(cli)
    asked = cli(
        *("verification", "request", "--case", "C001", "--department", "public_security"),
        *("--due", "2026-12-20", "--by", CASEWORKER),
    )
    assert asked.exit_code == 0, asked.output
    rid = asked.stdout.strip()
    again = cli(
        *("verification", "request", "--case", "C001", "--department", "public_security"),
        *("--due", "2026-12-20", "--by", CASEWORKER),
    )
    assert again.exit_code == 0 and again.stdout.strip() == rid
    assert "nothing recorded" in again.stderr
    other_due = cli(
        *("verification", "request", "--case", "C001", "--department", "public_security"),
        *("--due", "2026-12-28", "--by", CASEWORKER),
    )
    assert other_due.exit_code == 1 and "today already" in other_due.stderr
    (row,) = json.loads(cli("verifications", "--format", "json").stdout)
    assert (row["request_id"], row["status"], row["due"], row["requested_by"]) == (
        rid,
        "open",
        "2026-12-20",
        CASEWORKER,
    )

    def reconcile(as_of: str) -> str:
        result = cli("reconcile", "--period", "2026-12", "--as-of", as_of, "--by", FINANCE)
        assert result.exit_code == 0, result.output
        return str(result.stdout)

    assert "verification_overdue" not in reconcile("2026-12-20")  # the due day is in time
    assert "verification_overdue 1" in reconcile("2026-12-22")
    assert "new findings: none" in reconcile("2026-12-23")
    (finding,) = overdue_findings(cli)
    assert (finding["case_id"], finding["program"], finding["department"]) == (
        "C001",
        "dibao",
        "civil_affairs",
    )
    assert (finding["region_code"], finding["severity"]) == ("610102001001", "medium")
    assert rid in finding["detail"]

    monkeypatch.setenv("AIDLEDGER_TODAY", "2026-12-22")
    (late,) = json.loads(cli("verifications", "--overdue", "--format", "json").stdout)
    assert (late["days_overdue"], late["finding_id"]) == (2, finding["finding_id"])
    answered = cli("verification", "answer", rid, "--detail", "无机动车登记", "--by", CASEWORKER)
    assert answered.exit_code == 0 and finding["finding_id"] in answered.stdout
    (closed,) = overdue_findings(cli, "all")
    assert (closed["status"], closed["resolution"]) == ("resolved", "corrected")
    assert json.loads(cli("verifications", "--overdue", "--format", "json").stdout) == []
    assert "new findings: none" in reconcile("2026-12-31")
    twice = cli("verification", "answer", rid, "--detail", "again", "--by", CASEWORKER)
    assert twice.exit_code == 1 and "answered already" in twice.stderr


def test_the_daily_job_raises_overdue_requests_of_any_month(svc: Services) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    svc.service(Verifications).request(
        case_id="C002", department="housing", due=date(2026, 12, 20), by=CASEWORKER
    )
    assert svc.db.query("SELECT COUNT(*) FROM runs")[0][0] == 0  # no period is open
    jobs = Jobs(svc.settings, Leadership(svc.store), JobStats(), lambda: date(2027, 1, 5))
    jobs.reconcile(svc)
    jobs.reconcile(svc)
    rows = svc.db.query(
        "SELECT type, period, case_id, status, program FROM findings WHERE type = ?",
        ("verification_overdue",),
    )
    assert rows == [("verification_overdue", "2026-12", "C002", "open", "tekun")]
    ((fid,),) = svc.db.query("SELECT finding_id FROM findings")
    (raised,) = svc.reconciliation.history(fid)
    assert raised["by"] == "scheduler"
    # Counted with the open findings in the metrics, by type.
    (family,) = [f for f in read_snapshot(svc.db, periods=3) if f.name == "aidledger_findings_open"]
    assert [(s.labels["type"], s.labels["period"], s.value) for s in family.samples] == [
        ("verification_overdue", "2026-12", 1)
    ]


def test_a_request_refuses_what_breaks_a_rule(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    service = svc.service(Verifications)
    due = date(2026, 12, 31)
    with pytest.raises(DutyRefused, match="S004 may not request a verification"):
        service.request(case_id="C001", department="bank", due=due, by="S004")
    with pytest.raises(VerificationRefused, match="unknown department 'polise'"):
        service.request(case_id="C001", department="polise", due=due, by=CASEWORKER)
    with pytest.raises(VerificationRefused, match="before the request"):
        service.request(case_id="C001", department="bank", due=date(2026, 12, 1), by=CASEWORKER)
    load(
        svc,
        "relatives",
        write_file(
            tmp_path, "rel.csv", "staff_id,id_number,relation", "S001,610102195001010011,mother"
        ),
    )
    with pytest.raises(DutyRefused, match="interest"):
        service.request(case_id="C001", department="bank", due=due, by=CASEWORKER)
    # A paying department of the config may be asked too.
    assert service.request(case_id="C002", department="education", due=due, by=CASEWORKER).new
    assert svc.db.query("SELECT COUNT(*) FROM verification_requests")[0][0] == 1
