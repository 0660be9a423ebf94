"""One-off relief (临时救助) on both stores: a grants file is imported all or nothing and once;
each grant is paid once, as a ``one_off`` payment of the next run, whatever is prepared again
or cancelled; repeats are held; a grant has its money trail."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from aidledger.wiring import Services
from disbursement.runs import Payouts
from ledger.duties import DutyRefused
from ledger.grant import GRANT_COLUMNS
from ledger.payment import RunClosed
from ledger.period import Period
from projections.reports import payouts_report
from projections.runner import catch_up, reset
from projections.trail import history_document, load_trail
from tests.builders import (
    APPROVER,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    SUPERVISOR,
    case_rows,
    load,
    with_staff,
    write_file,
)
from tests.conftest import FIXTURES

P = Period.parse
HEADER = ",".join(GRANT_COLUMNS)
#: A grantee (valid check digit) and their card, and another.
ZHAO, ZHAO_CARD = "610102198505050010", "6228480000000000901"
QIAN, QIAN_CARD = "610102199001010028", "6228480000000000902"


def grant_line(
    grant_id: str,
    decided_on: str,
    *,
    amount: str = "2000.00",
    person: str = ZHAO,
    card: str = ZHAO_CARD,
    program: str = "temporary",
    decided_by: str = CASEWORKER,
    approved_by: str = APPROVER,
    reason: str = "房屋失火",
) -> str:
    name = "赵大山" if person == ZHAO else "钱小梅"
    return (
        f"{grant_id},{program},610102001001,{name},{person},3,{amount},{decided_on},{reason},"
        f"{card},{name},{decided_by},{approved_by}"
    )


def grants_file(tmp_path: Path, name: str, *lines: str) -> Path:
    return write_file(tmp_path, name, HEADER, *lines)


@pytest.fixture
def payouts(svc: Services, tmp_path: Path) -> Payouts:
    """The fixture's staff and cases, with November paid: temporary's first approved run."""
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    p = svc.payouts
    nov = p.prepare(P("2026-11"), program=None, by=FINANCE).run_id
    assert nov is not None
    p.approve(nov, by=FINANCE_APPROVER)
    return p


def one_offs(svc: Services, grant_id: str, *, standing: bool = True) -> list[tuple[str, ...]]:
    sql = (
        "SELECT p.payment_id, p.run_id, p.period, p.amount, p.held FROM payments p "
        "JOIN runs r ON r.run_id = p.run_id WHERE p.case_id = ? AND p.kind = 'one_off'"
    )
    if standing:
        sql += " AND p.cancelled = 0 AND r.status <> 'cancelled'"
    return [tuple(str(v) for v in r) for r in svc.db.query(sql + " ORDER BY p.run_id", (grant_id,))]


def test_a_grant_is_paid_once_whatever_is_prepared_again_or_cancelled(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    load(svc, "grants", grants_file(tmp_path, "g.csv", grant_line("G1", "2026-12-03")))
    first = payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert first.by_kind["one_off"] == 200000
    ((pid, run, period, amount, held),) = one_offs(svc, "G1")
    assert (run, period, amount, held) == (first.run_id, "2026-12", "200000", "")
    assert pid.startswith("202612O1")

    again = payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert not again.changed and one_offs(svc, "G1") == [(pid, run, period, amount, held)]

    assert first.run_id is not None
    payouts.cancel(first.run_id, by=FINANCE, reason="wrong bank date")
    assert one_offs(svc, "G1") == []
    renewed = payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert renewed.run_id == "R202612-all-2"
    # The same payment (same EndToEndId), in the new run; the cancelled one never stands.
    assert one_offs(svc, "G1") == [(pid, "R202612-all-2", period, amount, held)]
    assert len(one_offs(svc, "G1", standing=False)) == 1

    payouts.approve("R202612-all-2", by=FINANCE_APPROVER)
    january = payouts.prepare(P("2027-01"), program=None, by=FINANCE)
    assert "one_off" not in january.by_kind
    assert one_offs(svc, "G1") == [(pid, "R202612-all-2", period, amount, held)]

    # The read models rebuilt from the log say the same.
    tables = ("grants", "payments", "runs")
    before = {t: sorted(svc.db.query(f"SELECT * FROM {t}"), key=repr) for t in tables}
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models, page_size=7)
    assert {t: sorted(svc.db.query(f"SELECT * FROM {t}"), key=repr) for t in tables} == before


def test_a_run_of_temporary_alone_pays_its_grants_and_no_case(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    load(svc, "grants", grants_file(tmp_path, "g.csv", grant_line("G1", "2026-12-03")))
    result = payouts.prepare(P("2026-12"), program="temporary", by=FINANCE)
    assert result.run_id == "R202612-temporary-1" and result.payments == 1
    # The run of all programs does not pay it again.
    every = payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert "one_off" not in every.by_kind
    assert [r[1] for r in one_offs(svc, "G1")] == ["R202612-temporary-1"]


def test_a_grant_decided_before_the_first_approved_run_was_paid_by_the_system_before(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    load(
        svc,
        "grants",
        grants_file(
            tmp_path,
            "g.csv",
            grant_line("G0", "2026-10-05"),
            grant_line("G2", "2026-11-20", person=QIAN, card=QIAN_CARD, amount="800.00"),
        ),
    )
    payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert one_offs(svc, "G0") == []
    # Decided in November (after the first approved run began): paid for November.
    assert [(r[2], r[3]) for r in one_offs(svc, "G2")] == [("2026-11", "80000")]


def test_a_repeat_is_held_with_its_finding_until_someone_else_releases_it(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    history = [grant_line(f"G{n}", day) for n, day in ((1, "2026-01-10"), (2, "2026-05-10"))]
    history.append(grant_line("G3", "2026-09-10"))
    load(svc, "grants", grants_file(tmp_path, "history.csv", *history))
    load(svc, "grants", grants_file(tmp_path, "dec.csv", grant_line("G4", "2026-12-01")))
    result = payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert result.run_id is not None
    ((pid, _, _, _, held),) = one_offs(svc, "G4")
    assert held == "temporary_repeat"
    assert all(one_offs(svc, g) == [] for g in ("G1", "G2", "G3"))  # history: not paid
    ((ftype, severity, case_id, status, detail),) = svc.db.query(
        "SELECT type, severity, case_id, status, detail FROM findings WHERE payment_id = ?",
        (pid,),
    )
    assert (ftype, severity, case_id, status) == ("temporary_repeat", "high", "G4", "open")
    assert "4 grants of temporary within 12 months, 3 allowed" in detail and ZHAO not in detail
    with pytest.raises(DutyRefused, match="needs the role finance_approver"):
        payouts.release(pid, by=FINANCE, reason="known family")
    payouts.release(pid, by=SUPERVISOR, reason="a second fire: checked on the spot")
    approval = payouts.approve(result.run_id, by=FINANCE_APPROVER)
    assert approval.held.payments == 0
    assert one_offs(svc, "G4")[0][4] == ""


def test_a_grant_recorded_after_the_run_was_prepared_makes_it_stale(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    result = payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert result.run_id is not None
    load(svc, "grants", grants_file(tmp_path, "g.csv", grant_line("G1", "2026-12-03")))
    assert payouts.review.staleness(payouts._run(result.run_id)).reasons["grant"] == 1
    with pytest.raises(RunClosed, match="stale"):
        payouts.approve(result.run_id, by=FINANCE_APPROVER)
    again = payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert (again.run_id, again.added) == (result.run_id, 1)
    payouts.approve(result.run_id, by=FINANCE_APPROVER)


def test_a_grant_has_its_money_trail_and_report_payouts_counts_by_kind(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    load(svc, "grants", grants_file(tmp_path, "g.csv", grant_line("G1", "2026-12-03")))
    run_id = payouts.prepare(P("2026-12"), program=None, by=FINANCE).run_id
    assert run_id is not None
    payouts.approve(run_id, by=FINANCE_APPROVER)
    payouts.export(run_id, fmt="pain001", out=tmp_path / "dec.xml", by=FINANCE)
    trail = load_trail(svc.app, svc.db, "G1")
    assert trail is not None
    doc = history_document(
        "G1", trail, as_of=date(2026, 12, 15), known_at=None, timezone="UTC", config=svc.config
    )
    kinds = [(e["type"], e.get("kind")) for e in doc["events"]]
    assert kinds[:2] == [("GrantApproved", None), ("PaymentInstructed", "one_off")]
    assert {"RunApproved", "PaymentExported"} <= {t for t, _ in kinds}
    assert doc["events"][0]["effective_from"] == "2026-12-03"
    assert doc["state"]["amount"] == "2000.00" and doc["state"]["reason"] == "房屋失火"
    assert doc["money"] == [
        {
            "period": "2026-12",
            "program": "temporary",
            "kind": "one_off",
            "due": "2000.00",
            "instructed": "2000.00",
            "held": "0.00",
            "sent": "2000.00",
            "executed": "0.00",
            "returned": "0.00",
            "recovery_owed": "0.00",
            "recovery_collected": "0.00",
            "outstanding": "0.00",
        }
    ]
    before = history_document(
        "G1", trail, as_of=date(2026, 12, 2), known_at=None, timezone="UTC", config=svc.config
    )
    assert before["state"] is None
    rows = payouts_report(svc.db, "2026-12", ["program", "kind"])
    assert {"program": "temporary", "kind": "one_off"}.items() <= next(
        r for r in rows if r["program"] == "temporary"
    ).items()
    kinds_reported = {(r["program"], r["kind"]): (r["payments"], r["amount"]) for r in rows}
    assert kinds_reported[("temporary", "one_off")] == (1, "2000.00")
    assert kinds_reported[("dibao", "regular")] == (2, "3640.00")


# -- the command line ---------------------------------------------------------------------------


def test_a_grants_file_is_imported_once_and_a_recorded_grant_never_changes(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    good = grants_file(
        tmp_path,
        "g.csv",
        grant_line("G1", "2026-12-03"),
        grant_line("G2", "2026-12-04", person=QIAN, card=QIAN_CARD, amount="800.00"),
    )
    dry = cli("import", "grants", str(good), "--by", CASEWORKER, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "line 2  G1  new" in dry.output and "610102********0010" in dry.output
    assert ZHAO not in dry.output and "nothing recorded" in dry.output
    listed = cli("import", "list", "--format", "json")
    assert [i["kind"] for i in json.loads(listed.output)] == ["staff"]
    first = cli("import", "grants", str(good), "--by", CASEWORKER)
    assert first.exit_code == 0 and "2 rows: 2 new, 0 changed, 0 unchanged" in first.output
    again = cli("import", "grants", str(good), "--by", CASEWORKER)
    assert again.exit_code == 0 and "already imported" in again.output
    # The same grant in another file: unchanged; with another amount: refused by line.
    more = grants_file(
        tmp_path, "more.csv", grant_line("G1", "2026-12-03"), grant_line("G3", "2026-12-05")
    )
    result = cli("import", "grants", str(more), "--by", CASEWORKER)
    assert "2 rows: 1 new, 0 changed, 1 unchanged" in result.output
    changed = grants_file(tmp_path, "changed.csv", grant_line("G1", "2026-12-03", amount="3000.00"))
    refused = cli("import", "grants", str(changed), "--by", CASEWORKER)
    assert refused.exit_code == 1
    assert "line 2, column grant_id: grant G1 was recorded already with other values (amount)" in (
        refused.output
    )


def test_a_bad_grants_file_is_refused_with_every_line_and_nothing_recorded(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER).exit_code == 0
    bad = grants_file(
        tmp_path,
        "bad.csv",
        grant_line("G1", "2026-12-03"),
        grant_line("G2", "2026-12-03", program="dibao"),
        grant_line("G3", "2026-12-03", amount="10000.01"),
        grant_line("G4", "2026-12-16"),
        grant_line("G5", "2026-12-03", decided_by="S003"),  # finance, not a caseworker
        grant_line("G6", "2026-12-03", approved_by=CASEWORKER),
        grant_line("G7", "2026-12-03", person="610102197608080082"),  # the approver herself
        grant_line("G8", "2026-12-03", reason="=HYPERLINK(1)"),
        grant_line("G1", "2026-12-03", amount="10.00"),  # the same grant twice, other values
        grant_line("C001", "2026-12-03"),  # a case's id
    )
    result = cli("import", "grants", str(bad), "--by", CASEWORKER)
    assert result.exit_code == 1
    out = result.output
    for line, column in (
        (3, "program"),
        (4, "amount"),
        (5, "decided_on"),
        (6, "decided_by"),
        (7, "approved_by"),
        (8, "approved_by"),
        (9, "reason"),
        (10, "grant_id"),
        (11, "grant_id"),
    ):
        assert f"line {line}, column {column}" in out, (line, column, out)
    assert "line 2," not in out
    assert "has an interest in this case" in out and "CSV injection" in out
    assert "C001 is a case's id" in out
    listed = json.loads(cli("import", "list", "--format", "json").output)
    assert sorted(i["kind"] for i in listed) == ["cases", "staff"]


def test_only_a_caseworker_imports_grants(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    good = grants_file(tmp_path, "g.csv", grant_line("G1", "2026-12-03"))
    result = cli("import", "grants", str(good), "--by", FINANCE)
    assert result.exit_code == 1 and "needs the role caseworker" in result.output


def test_a_temporary_row_in_a_cases_file_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    row = (
        "C9,temporary,610102001001,赵大山,610102198505050010,3,2000.00,2026-12-01,2026-12-31,"
        "6228480000000000901,赵大山,S001,S002"
    )
    result = cli("import", "cases", str(case_rows(tmp_path, "c.csv", row)), "--by", CASEWORKER)
    assert result.exit_code == 1
    assert "line 2, column program: one-off relief: import grants" in result.output
