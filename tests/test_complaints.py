"""Complaints (举报投诉) on a store (SQLite and PostgreSQL): recorded and worked through the
command line, due days from the config in the store, overdue ones listed and counted in the
metrics, the duties that need the store's facts (who decided the case, relatives), the finding
a substantiated complaint raises, the history as of and as known at a day, and who complained
never shown anywhere and encrypted with a key."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cipher import AESCipher
from typer.testing import CliRunner

from aidledger.cli import app
from aidledger.serve import read_snapshot
from aidledger.settings import Settings
from aidledger.wiring import Services, init_store
from eligibility.complaints import Complaints
from ledger.duties import DutyRefused
from ledger.period import Period
from ledger.programs import shipped_config_path
from tests.builders import (
    ADMIN,
    CASEWORKER,
    FINANCE,
    SUPERVISOR,
    Clock,
    as_stored,
    case_rows,
    every_table_as_text,
    load,
    with_staff,
    write_file,
)
from tests.conftest import FIXTURES

#: Staff beyond the fixture's: a supervisor who approves cases, and one who approves runs.
APPROVING_SUPERVISOR, PAYING_SUPERVISOR = "S009", "S010"
MORE_STAFF = (
    f"{APPROVING_SUPERVISOR},钱多多,610102198303030142,6217000000000000109,approver;supervisor,610102",
    f"{PAYING_SUPERVISOR},孙有为,610102198404040155,6217000000000000110,"
    "finance_approver;supervisor,610102",
)
STAFF_HEADER = "staff_id,name,id_number,bank_account,role,region_code"
#: A case decided by the fixture's caseworker and approved by the approving supervisor.
C006 = (
    "C006,dibao,610102001003,赵小燕,610102199005050043,2,980.00,2026-01-01,,"
    f"6228480000000000016,赵小燕,S001,{APPROVING_SUPERVISOR}"
)
NAME, PHONE = "欧阳明月", "13912345678"


@pytest.fixture
def county(svc: Services, tmp_path: Path) -> Services:
    """The fixture's staff and cases, two more supervisors, and C006 approved by one."""
    with_staff(svc)
    load(svc, "staff", write_file(tmp_path, "more-staff.csv", STAFF_HEADER, *MORE_STAFF))
    load(svc, "cases", FIXTURES / "cases.csv")
    load(svc, "cases", case_rows(tmp_path, "c006.csv", C006))
    return svc


def complaints(svc: Services, day: date | None = None) -> Complaints:
    """The service acting on ``day`` (default the store's today)."""
    if day is not None:
        svc.settings.today = day
    return svc.service(Complaints)


def staffed(cli: Any) -> None:
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", ADMIN).exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER).exit_code == 0


# -- through the command line ------------------------------------------------------------------


def test_a_complaint_from_intake_to_its_linked_finding_through_the_command_line(
    cli: Any,
) -> None:
    staffed(cli)
    opened = cli(
        *("complaint", "open", "--channel", "hotline", "--category", "fraud", "--case", "C005"),
        *("--summary", "举报该户经营小卖部，收入未申报", "--complainant", NAME, "--phone", PHONE),
        *("--by", CASEWORKER),
    )
    assert opened.exit_code == 0, opened.output
    cid = opened.stdout.strip()
    assert cid == "CP-20261215-001"
    (row,) = json.loads(cli("complaints", "--format", "json").stdout)
    assert (row["status"], row["case_id"], row["program"], row["department"]) == (
        "received",
        "C005",
        "dibao",
        "civil_affairs",
    )
    assert (row["received_on"], row["due"], row["anonymous"]) == ("2026-12-15", "2026-12-30", False)

    refused = cli("complaint", "assign", cid, "--to", CASEWORKER, "--by", SUPERVISOR)
    assert refused.exit_code == 1 and "S001 decided or approved what it complains of" in (
        refused.stderr
    )
    assert cli("complaint", "assign", cid, "--to", SUPERVISOR, "--by", SUPERVISOR).exit_code == 0
    assert cli("complaint", "comment", cid, "--text", "已调取流水", "--by", "S004").exit_code == 0
    referred = cli("complaint", "refer", cid, "--to", "纪检监察", "--reason", "涉及工作人员")
    assert referred.exit_code == 2  # --by is required
    assert (
        cli(
            *("complaint", "refer", cid, "--to", "纪检监察", "--reason", "涉及工作人员"),
            *("--by", SUPERVISOR),
        ).exit_code
        == 0
    )
    not_theirs = cli("complaint", "respond", cid, "--detail", "已受理", "--by", CASEWORKER)
    assert not_theirs.exit_code == 1 and "assigned to S006" in not_theirs.stderr
    assert cli("complaint", "respond", cid, "--detail", "已受理", "--by", SUPERVISOR).exit_code == 0

    resolved = cli(
        *("complaint", "resolve", cid, "--outcome", "substantiated"),
        *("--detail", "核实属实，停发并追回", "--by", SUPERVISOR),
    )
    assert resolved.exit_code == 0, resolved.output
    history = json.loads(cli("complaint", "history", cid, "--format", "json").stdout)
    fid = history["state"]["finding_id"]
    assert fid and fid in resolved.stdout
    assert [e["type"] for e in history["events"]] == [
        "ComplaintOpened",
        "ComplaintAssigned",
        "ComplaintCommented",
        "ComplaintReferred",
        "ComplaintResponded",
        "ComplaintResolved",
    ]
    (finding,) = json.loads(
        cli(
            "findings",
            "--period",
            "2026-12",
            "--type",
            "complaint_substantiated",
            "--format",
            "json",
        ).stdout
    )
    assert (finding["finding_id"], finding["case_id"], finding["severity"]) == (fid, "C005", "high")
    assert (finding["program"], finding["region_code"]) == ("dibao", "610102003001")
    assert cid in finding["detail"]

    assert json.loads(cli("complaints", "--format", "json").stdout) == []
    (done,) = json.loads(cli("complaints", "--status", "resolved", "--format", "json").stdout)
    assert (done["outcome"], done["finding_id"], done["resolved_by"]) == (
        "substantiated",
        fid,
        SUPERVISOR,
    )
    assert cli("complaint", "reopen", cid, "--reason", "复查", "--by", SUPERVISOR).exit_code == 0
    (again,) = json.loads(cli("complaints", "--format", "json").stdout)
    assert (again["status"], again["due"], again["finding_id"]) == ("reopened", "2026-12-30", fid)


def test_every_new_recording_command_refuses_a_staff_member_without_its_role(cli: Any) -> None:
    staffed(cli)
    cid = cli(
        *("complaint", "open", "--channel", "visit", "--category", "service"),
        *("--summary", "态度差", "--anonymous", "--by", CASEWORKER),
    ).stdout.strip()
    rid = cli(
        *("verification", "request", "--case", "C001", "--department", "bank"),
        *("--due", "2026-12-31", "--by", CASEWORKER),
    ).stdout.strip()
    for args, role in (
        (["verification", "request", "--case", "C001", "--department", "tax"], "caseworker"),
        (["verification", "answer", rid, "--detail", "无"], "caseworker"),
        (["complaint", "open", "--channel", "web", "--category", "missed"], "caseworker"),
        (["complaint", "assign", cid, "--to", CASEWORKER], "supervisor"),
        (["complaint", "refer", cid, "--to", "纪检监察", "--reason", "x"], "caseworker"),
        (["complaint", "respond", cid, "--detail", "x"], "caseworker"),
        (
            ["complaint", "resolve", cid, "--outcome", "unsubstantiated", "--detail", "x"],
            "supervisor",
        ),
        (["complaint", "reopen", cid, "--reason", "x"], "supervisor"),
    ):
        extra = ["--due", "2026-12-31"] if args[:2] == ["verification", "request"] else []
        extra += ["--summary", "x", "--anonymous"] if args[:2] == ["complaint", "open"] else []
        result = cli(*args, *extra, "--by", "S004")
        assert result.exit_code == 1, args
        assert "S004 may not" in result.stderr and role in result.stderr, (args, result.stderr)
    # An auditor reads everything and comments.
    assert cli("complaint", "comment", cid, "--text", "seen", "--by", "S004").exit_code == 0


def test_complaint_days_come_from_the_config_in_force_in_the_store(
    cli: Any, tmp_path: Path
) -> None:
    staffed(cli)
    text = shipped_config_path().read_text(encoding="utf-8")
    config = tmp_path / "programs.toml"
    config.write_text(
        text.replace("complaint_days = 15", "complaint_days = 10\nby_category = { fraud = 30 }"),
        encoding="utf-8",
    )
    assert cli("config", "apply", str(config), "--by", ADMIN).exit_code == 0
    for category in ("fraud", "service"):
        result = cli(
            *("complaint", "open", "--channel", "letter", "--category", category),
            *("--summary", "来信", "--anonymous", "--region", "610102", "--by", CASEWORKER),
        )
        assert result.exit_code == 0, result.output
    rows = json.loads(cli("complaints", "--format", "json").stdout)
    assert {r["category"]: r["due"] for r in rows} == {
        "fraud": "2027-01-14",
        "service": "2026-12-25",
    }
    assert [r["complaint_id"] for r in rows] == ["CP-20261215-002", "CP-20261215-001"]


# -- the rules that need the store's facts -------------------------------------------------------


def test_who_decided_or_approved_the_case_or_its_run_and_the_interested_may_not_resolve_it(
    county: Services, tmp_path: Path
) -> None:
    service = complaints(county)
    about_c006 = service.open(
        channel="visit",
        category="favouritism",
        summary="村干部亲属违规享受低保",
        case_id="C006",
        anonymous=True,
        by=CASEWORKER,
    )
    cid = about_c006.complaint_id
    with pytest.raises(DutyRefused, match="S009 decided or approved"):
        service.resolve(cid, outcome="unsubstantiated", detail="x", by=APPROVING_SUPERVISOR)
    with pytest.raises(DutyRefused, match="S009 may not be assigned"):
        service.assign(cid, to=APPROVING_SUPERVISOR, by=SUPERVISOR)
    load(
        county,
        "relatives",
        write_file(
            tmp_path, "rel.csv", "staff_id,id_number,relation", "S006,610102199005050043,sister"
        ),
    )
    with pytest.raises(DutyRefused, match="interest"):
        service.resolve(cid, outcome="unsubstantiated", detail="x", by=SUPERVISOR)

    run_id = county.payouts.prepare(Period.parse("2026-06"), program=None, by=FINANCE).run_id
    assert run_id is not None
    county.payouts.approve(run_id, by=PAYING_SUPERVISOR)
    ((pid,),) = county.db.query(
        "SELECT payment_id FROM payments WHERE case_id = 'C001' AND period = '2026-06'"
    )
    about_payment = service.open(
        channel="hotline", category="funds", summary="到账金额不足", payment_id=pid,
        anonymous=True, by=CASEWORKER,
    )  # fmt: skip
    assert (about_payment.case_id, about_payment.region_code) == ("C001", "610102001001")
    with pytest.raises(DutyRefused, match="S010 decided or approved"):
        service.resolve(
            about_payment.complaint_id, outcome="substantiated", detail="x", by=PAYING_SUPERVISOR
        )
    service.resolve(
        about_payment.complaint_id, outcome="substantiated", detail="查实", by=APPROVING_SUPERVISOR
    )
    # Neither decider nor interested: S010 resolves the complaint about C006.
    done = service.resolve(
        cid, outcome="partly_substantiated", detail="部分属实", by=PAYING_SUPERVISOR
    )
    assert done.finding_id is not None
    (row,) = county.db.query(
        "SELECT type, case_id, status FROM findings WHERE finding_id = ?", (done.finding_id,)
    )
    assert row == ("complaint_substantiated", "C006", "open")
    # A funds complaint found true raises no finding of its own (the money has its checks).
    assert county.db.query("SELECT COUNT(*) FROM findings WHERE case_id = 'C001'")[0][0] == 0


def test_a_substantiated_complaint_raises_its_finding_once_and_reopens_it(county: Services) -> None:
    service = complaints(county)
    cid = service.open(
        channel="web", category="fraud", summary="隐瞒收入", case_id="C002", anonymous=True,
        by=CASEWORKER,
    ).complaint_id  # fmt: skip
    fid = service.resolve(cid, outcome="substantiated", detail="属实", by=SUPERVISOR).finding_id
    assert fid is not None
    county.reconciliation.resolve(fid, resolution="corrected", comment="停发", by=SUPERVISOR)
    service.reopen(cid, reason="复查", by=SUPERVISOR)
    again = service.resolve(cid, outcome="substantiated", detail="仍属实", by=SUPERVISOR)
    assert again.finding_id == fid
    assert county.db.query(
        "SELECT status, COUNT(*) FROM findings WHERE type = 'complaint_substantiated' "
        "GROUP BY status"
    ) == [("open", 1)]
    other = service.open(
        channel="web", category="fraud", summary="隐瞒收入", case_id="C003", anonymous=True,
        by=CASEWORKER,
    ).complaint_id  # fmt: skip
    assert service.resolve(other, outcome="unsubstantiated", detail="不属实", by=SUPERVISOR)
    assert county.db.query("SELECT COUNT(*) FROM findings")[0][0] == 1


def test_overdue_complaints_are_listed_and_counted_by_category(county: Services) -> None:
    fraud = complaints(county, date(2026, 12, 1)).open(
        channel="hotline", category="fraud", summary="骗保", case_id="C005", anonymous=True,
        by=CASEWORKER,
    )  # fmt: skip
    complaints(county, date(2026, 12, 10)).open(
        channel="letter", category="service", summary="态度差", region="610102", anonymous=True,
        by=CASEWORKER,
    )  # fmt: skip
    on = date(2026, 12, 20)
    (late,) = complaints(county, on).list(overdue=True)
    assert (late["complaint_id"], late["due"], late["days_overdue"]) == (
        fraud.complaint_id,
        "2026-12-16",
        4,
    )
    assert len(complaints(county, on).list()) == 2

    def gauges() -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for family in read_snapshot(county.db, periods=3, today=on):
            if family.name.startswith("aidledger_complaints"):
                out[family.name] = {s.labels["category"]: s.value for s in family.samples}
        return out

    counted = gauges()
    assert counted["aidledger_complaints_overdue"] == {
        "wrongly_covered": 0, "missed": 0, "fraud": 1, "favouritism": 0, "funds": 0, "service": 0
    }  # fmt: skip
    opened = counted["aidledger_complaints_open"]
    assert (opened["fraud"], opened["service"], opened["missed"]) == (1, 1, 0)
    complaints(county, date(2026, 12, 21)).respond(
        fraud.complaint_id, reply="已核查", by=CASEWORKER
    )
    assert gauges()["aidledger_complaints_overdue"]["fraud"] == 0
    assert complaints(county, date(2026, 12, 21)).list(overdue=True) == []


def test_history_as_of_a_day_and_as_known_at_the_end_of_a_day(
    county: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch, county)
    clock.set(date(2026, 12, 1))
    cid = complaints(county).open(
        channel="hotline", category="missed", summary="应保未保", region="610102001001",
        complainant=NAME, phone=PHONE, by=CASEWORKER,
    ).complaint_id  # fmt: skip
    clock.set(date(2026, 12, 5))
    complaints(county).assign(cid, to=CASEWORKER, by=SUPERVISOR)
    clock.set(date(2026, 12, 20))
    complaints(county).respond(cid, reply="已纳入低保", by=CASEWORKER)

    def history(as_of: date, known_at: date | None = None) -> dict[str, Any]:
        return complaints(county).history(
            cid, as_of=as_of, known_at=known_at, timezone="Asia/Shanghai"
        )

    assert history(date(2026, 11, 30))["state"] is None
    state = history(date(2026, 12, 10))["state"]
    assert (state["status"], state["assigned_to"], state["days_overdue"]) == (
        "assigned",
        CASEWORKER,
        0,
    )
    assert history(date(2026, 12, 18))["state"]["days_overdue"] == 2
    assert history(date(2026, 12, 20))["state"]["status"] == "responded"
    known = history(date(2026, 12, 20), known_at=date(2026, 12, 4))
    assert [e["type"] for e in known["events"]] == ["ComplaintOpened"]
    assert (known["state"]["status"], known["state"]["days_overdue"]) == ("received", 4)
    opened = history(date(2026, 12, 20))["events"][0]
    assert opened["complainant"] == "given (not shown)" and opened["by_name"] == "周建国"
    assert not {"complainant_name", "complainant_phone"} & set(opened)


# -- who complained, never shown -----------------------------------------------------------------


@pytest.fixture
def encrypted(settings: Settings) -> Iterator[tuple[Services, str]]:
    key = AESCipher.create_key(16)
    svc = init_store(settings.model_copy(update={"cipher_key": key}))
    yield svc, key
    svc.close()


def test_who_complained_is_encrypted_with_a_key_and_never_shown(
    encrypted: tuple[Services, str], caplog: pytest.LogCaptureFixture
) -> None:
    svc, key = encrypted
    caplog.set_level(logging.DEBUG)
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    service = complaints(svc)
    cid = service.open(
        channel="hotline", category="fraud", summary="举报骗保", case_id="C005",
        complainant=NAME, phone=PHONE, by=CASEWORKER,
    ).complaint_id  # fmt: skip
    service.respond(cid, reply="已受理", by=CASEWORKER)
    service.resolve(cid, outcome="substantiated", detail="属实", by=SUPERVISOR)
    stored = every_table_as_text(svc)
    assert "举报骗保" in stored  # the summary is listed: the scan reads the read models
    for secret in (NAME, PHONE):
        assert secret not in stored and as_stored(secret) not in stored

    runner = CliRunner()
    env = {"AIDLEDGER_CIPHER_KEY": key, "AIDLEDGER_TODAY": "2026-12-15"}
    shown = []
    for args in (
        ["complaints", "--status", "all", "--format", "json"],
        ["complaints", "--status", "all"],
        ["complaint", "history", cid, "--format", "json"],
        ["complaint", "history", cid],
        ["findings", "--period", "2026-12", "--format", "json"],
        ["findings", "--period", "2026-12"],
    ):
        result = runner.invoke(app, ["--db", svc.settings.database_url, *args], env=env)
        assert result.exit_code == 0, (args, result.output)
        shown.append(result.output)
    shown.append(caplog.text)
    shown.append(str(read_snapshot(svc.db, periods=3, today=date(2026, 12, 31))))
    text = "\n".join(shown)
    assert cid in text and "given (not shown)" in text
    assert NAME not in text and PHONE not in text


def test_without_a_key_who_complained_is_in_the_event_log_only(svc: Services) -> None:
    """The counter-check of the scan above: in clear, the phone is found, in the log alone."""
    with_staff(svc)
    complaints(svc).open(
        channel="email", category="service", summary="回复慢", complainant=NAME, phone=PHONE,
        by=CASEWORKER,
    )  # fmt: skip
    assert PHONE in every_table_as_text(svc) and as_stored(NAME) in every_table_as_text(svc)
    from ledger.store import events_table

    read_models = "\n".join(
        str(row)
        for table in ("complaints", "findings", "aidledger_tracking")
        for row in svc.db.query(f"SELECT * FROM {table}")
    )
    assert PHONE not in read_models and NAME not in read_models
    assert svc.db.query(f"SELECT COUNT(*) FROM {events_table(svc.db.dialect)}")[0][0] > 0


def test_rebuilt_complaint_and_request_read_models_equal_incremental_ones(county: Services) -> None:
    from eligibility.verifications import Verifications
    from projections.runner import catch_up, reset

    service = complaints(county, date(2026, 12, 1))
    cid = service.open(
        channel="hotline", category="fraud", summary="骗保", case_id="C005", anonymous=True,
        by=CASEWORKER,
    ).complaint_id  # fmt: skip
    service.assign(cid, to=SUPERVISOR, by=SUPERVISOR)
    service.comment(cid, text="核查中", by="S004")
    service.respond(cid, reply="已受理", by=SUPERVISOR)
    service.resolve(cid, outcome="substantiated", detail="属实", by=SUPERVISOR)
    service.reopen(cid, reason="复查", by=SUPERVISOR)
    requests = county.service(Verifications)
    rid = requests.request(
        case_id="C001", department="bank", due=date(2026, 12, 10), by=CASEWORKER
    ).request_id
    requests.answer(rid, detail="存款未超标", by=CASEWORKER)

    def tables() -> dict[str, list[tuple[object, ...]]]:
        return {
            t: sorted(county.db.query(f"SELECT * FROM {t}"), key=repr)
            for t in ("complaints", "verification_requests", "findings")
        }

    incremental = tables()
    assert incremental["complaints"][0][3] == "reopened"
    reset(county.db, county.models)
    assert tables()["complaints"] == []
    catch_up(county.app, county.db, county.models, page_size=2)
    assert tables() == incremental
