"""The money trail on both stores: a case's history shows every event of its money, each view
"as known at" a past day equals what was recorded by then, and the money table's sums agree with
the payouts report and the recoveries register."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aidledger.wiring import Services
from disbursement.recoveries import Recoveries
from ledger.money import format_fen, parse_fen
from ledger.period import Period
from projections.reports import payouts_report
from projections.trail import history_document, load_trail
from reconciliation.banksim import Anomalies, camt054, read_pain001
from tests.builders import (
    FINANCE,
    FINANCE_APPROVER,
    FINANCE_APPROVER_2,
    SUPERVISOR,
    Clock,
    case_rows,
    fixture_row,
    load,
    with_staff,
)
from tests.conftest import FIXTURES

P = Period.parse


def history(
    svc: Services, case_id: str, *, as_of: date, known_at: date | None = None
) -> dict[str, Any]:
    trail = load_trail(svc.app, svc.db, case_id)
    assert trail is not None
    return history_document(
        case_id,
        trail,
        as_of=as_of,
        known_at=known_at,
        timezone=svc.settings.timezone,
        config=svc.config,
    )


def month(svc: Services, period: str, out: Path, *, anomalies: Anomalies | None = None) -> str:
    """Prepare, approve, export a month and import the bank's camt.054 for it."""
    run = svc.payouts.prepare(P(period), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(run, by=FINANCE_APPROVER)
    path = out / f"{period}.xml"
    svc.payouts.export(run, fmt="pain001", out=path, by=FINANCE)
    booked = out / f"{period}-camt.xml"
    booked.write_bytes(camt054(read_pain001(path.read_bytes()), anomalies))
    svc.bank.import_file(booked, by=FINANCE)
    return run


def types(doc: dict[str, Any]) -> Counter[str]:
    return Counter(e["type"] for e in doc["events"])


@pytest.fixture
def out(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out"


def test_a_case_history_shows_every_event_of_its_money_with_who_and_when(
    svc: Services, tmp_path: Path, out: Path
) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    load(svc, "deaths", FIXTURES / "deaths.csv")  # C003's beneficiary died on 2026-04-12
    june = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(june, by=FINANCE_APPROVER)
    svc.payouts.export(june, fmt="pain001", out=out / "jun.xml", by=FINANCE)
    first = read_pain001((out / "jun.xml").read_bytes())
    c001 = next(p for p in first if p.name == "王秀兰")
    (out / "camt.xml").write_bytes(camt054(first, Anomalies(returned={c001.end_to_end_id: "AC04"})))
    svc.bank.import_file(out / "camt.xml", by=FINANCE)
    svc.payouts.refund(c001.end_to_end_id, by=FINANCE, reason="closed account; money back")
    ((held,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    svc.payouts.release(held, by=FINANCE_APPROVER, reason="namesake")
    svc.payouts.release(held, by=SUPERVISOR, reason="visited: alive")
    svc.payouts.approve(june, by=FINANCE_APPROVER_2)
    svc.payouts.export(june, fmt="pain001", out=out / "jun-2.xml", by=FINANCE)
    ((fid,),) = svc.db.query("SELECT finding_id FROM findings WHERE case_id = 'C003'")
    svc.reconciliation.assign(fid, to=FINANCE_APPROVER, by=SUPERVISOR)
    svc.reconciliation.resolve(fid, resolution="false_positive", comment="alive", by=SUPERVISOR)
    raised = fixture_row("C001").replace("1560.00,2026-01-01", "1660.00,2026-07-01")
    ended = fixture_row("C005").replace("2026-03-01,,", "2026-03-01,2026-05-31,")
    load(svc, "cases", case_rows(tmp_path, "changes.csv", raised, ended))
    july = svc.payouts.prepare(P("2026-07"), program=None, by=FINANCE).run_id or ""
    svc.payouts.cancel(july, by=FINANCE, reason="prepared too early")
    july = svc.payouts.prepare(P("2026-07"), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(july, by=FINANCE_APPROVER)
    ((rid,),) = svc.db.query("SELECT recovery_id FROM recoveries WHERE case_id = 'C005'")
    svc.service(Recoveries).collect(rid, amount=80000, by=FINANCE, reason="receipt 1")

    doc = history(svc, "C001", as_of=date(2026, 7, 15))
    assert set(doc) == {"case_id", "as_of", "known_at", "state", "events", "money"}
    seen = types(doc)
    for kind in (
        "CaseApproved",
        "MonthlyAmountChanged",
        "PaymentInstructed",
        "RunApproved",
        "PaymentExported",
        "BankResult",
        "PaymentRefunded",
        "PaymentCancelled",
    ):
        assert seen[kind] >= 1, kind
    for e in doc["events"]:
        assert {
            "type",
            "by",
            "by_name",
            "recorded_at",
            "effective_from",
            "period",
            "source",
        } <= set(e)
    change = next(e for e in doc["events"] if e["type"] == "MonthlyAmountChanged")
    assert change["changes"] == {"monthly_amount": ["1560.00", "1660.00"]}
    assert change["source"].startswith("changes.csv@") and change["by_name"] == "周建国"
    results = [e for e in doc["events"] if e["type"] == "BankResult"]
    assert [r["status"] for r in results] == ["executed", "returned"]
    returned = results[1]
    assert (
        returned["status"],
        returned["amount"],
        returned["reason_code"],
        returned["file_name"],
    ) == (
        "returned",
        "1560.00",
        "AC04",
        "camt.xml",
    )
    exported = [e for e in doc["events"] if e["type"] == "PaymentExported"]
    assert exported[0]["file_name"] == "jun.xml" and len(exported[0]["file_sha256"]) == 64
    approvals = [e for e in doc["events"] if e["type"] == "RunApproved"]
    assert {(e["run_id"], e["by"]) for e in approvals} >= {(june, FINANCE_APPROVER)}
    assert doc["events"] == sorted(doc["events"], key=lambda e: e["recorded_at"])

    c003 = types(history(svc, "C003", as_of=date(2026, 7, 15)))
    for kind in (
        "DeathReported",
        "PaymentHeld",
        "PaymentReleased",
        "FindingRaised",
        "FindingAssigned",
        "FindingPaymentReleased",
        "FindingResolved",
    ):
        assert c003[kind] >= 1, kind
    c003_doc = history(svc, "C003", as_of=date(2026, 7, 15))
    files = [e["file_name"] for e in c003_doc["events"] if e["type"] == "PaymentExported"]
    assert "jun-2.xml" in files and "jun.xml" not in files, "released after approval: its own file"

    c005 = history(svc, "C005", as_of=date(2026, 7, 15))
    assert {"RecoveryRaised", "RecoveryCollected"} <= set(types(c005))
    (june_money,) = [m for m in c005["money"] if m["period"] == "2026-06"]
    assert (june_money["due"], june_money["sent"], june_money["recovery_owed"]) == (
        "0.00",
        "2080.00",
        "2080.00",
    )
    assert (june_money["recovery_collected"], june_money["outstanding"]) == ("800.00", "-1280.00")


def test_each_view_known_at_a_past_day_equals_what_was_recorded_by_then(
    svc: Services, tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch, svc)
    clock.set(date(2026, 9, 5))
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    snapshots: dict[date, dict[str, Any]] = {}

    def snapshot(day: date) -> None:
        snapshots[day] = history(svc, "C001", as_of=day)

    snapshot(date(2026, 9, 5))
    clock.set(date(2026, 9, 20))
    month(svc, "2026-09", out)
    snapshot(date(2026, 9, 20))
    clock.set(date(2026, 10, 3))
    raised = fixture_row("C001").replace("1560.00,2026-01-01", "1660.00,2026-10-01")
    load(svc, "cases", case_rows(tmp_path, "raise.csv", raised))
    snapshot(date(2026, 10, 3))
    clock.set(date(2026, 10, 20))
    month(svc, "2026-10", out)
    snapshot(date(2026, 10, 20))
    clock.set(date(2026, 11, 2))
    ended = fixture_row("C001").replace("1560.00,2026-01-01,,", "1660.00,2026-01-01,2026-09-30,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", ended))
    snapshot(date(2026, 11, 2))
    clock.set(date(2026, 11, 20))
    run = svc.payouts.prepare(P("2026-11"), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(run, by=FINANCE_APPROVER)
    snapshot(date(2026, 11, 20))

    clock.set(date(2026, 12, 1))
    for day, then in snapshots.items():
        later = history(svc, "C001", as_of=day, known_at=day)
        assert later["events"] == then["events"], day
        assert later["state"] == then["state"], day
        assert later["money"] == then["money"], day
    # Days between the steps know what the day before knew; before anything, nothing.
    between = history(svc, "C001", as_of=date(2026, 10, 10), known_at=date(2026, 10, 10))
    assert between["events"] == snapshots[date(2026, 10, 3)]["events"]
    assert history(svc, "C001", as_of=date(2026, 9, 1), known_at=date(2026, 9, 1))["events"] == []
    # As known on 2026-10-20, October was paid at the raised amount; known now, it was not owed.
    october = [m for m in snapshots[date(2026, 10, 20)]["money"] if m["period"] == "2026-10"]
    assert october[0]["due"] == "1660.00"
    now = history(svc, "C001", as_of=date(2026, 11, 20))
    assert [m["due"] for m in now["money"] if m["period"] == "2026-10"] == ["0.00"]
    assert [m["recovery_owed"] for m in now["money"] if m["period"] == "2026-10"] == ["1660.00"]


@pytest.mark.parametrize("seed", [3, 11])
def test_the_money_tables_of_all_cases_add_up_to_the_report_and_the_register(
    svc: Services, tmp_path: Path, out: Path, seed: int
) -> None:
    """Generated months (raises, ends, deaths, returns, held and released payments): summed over
    every case, the money tables equal `report payouts` and the recoveries register."""
    import random

    from aidledger.synthetic import (
        ADMIN,
        CASE_COLUMNS,
        CASEWORKER,
        DEATH_COLUMNS,
        STAFF_COLUMNS,
        generate_county,
        write_csv,
    )

    rng = random.Random(seed)
    county = generate_county(cases=120, seed=seed, start=date(2026, 6, 1))
    for name, rows, cols in (
        ("staff", county.staff, STAFF_COLUMNS),
        ("cases", county.cases, CASE_COLUMNS),
    ):
        write_csv(tmp_path / f"{name}.csv", rows, cols)
    svc.importer.import_file("staff", tmp_path / "staff.csv", by=ADMIN)
    svc.importer.import_file("cases", tmp_path / "cases.csv", by=CASEWORKER)
    from aidledger.synthetic import FINANCE as F
    from aidledger.synthetic import FINANCE_APPROVER as FA

    for i, period in enumerate(("2026-06", "2026-07", "2026-08")):
        run = svc.payouts.prepare(P(period), program=None, by=F).run_id or ""
        svc.payouts.approve(run, by=FA)
        path = out / f"{period}.xml"
        svc.payouts.export(run, fmt="pain001", out=path, by=F)
        sent = read_pain001(path.read_bytes())
        returned = {p.end_to_end_id: "AC04" for p in rng.sample(sent, 3)}
        (out / f"{period}.camt").write_bytes(camt054(sent, Anomalies(returned=returned)))
        svc.bank.import_file(out / f"{period}.camt", by=F)
        # Decisions for next month: some ended back-dated, some raised, a death.
        rows = rng.sample(
            [c for c in county.cases if not c["effective_to"] and c["effective_from"] < "2026-06"],
            6,
        )
        changed = []
        for k, c in enumerate(rows):
            row = dict(c)
            if k % 2:  # ended back-dated: this month's money, sent, was not owed
                row["effective_to"] = P(period).previous().last_day.isoformat()
            else:
                row["monthly_amount"] = f"{parse_fen(row['monthly_amount']) // 100 + 10}.00"
                row["effective_from"] = f"{period}-01"
            changed.append(row)
        write_csv(tmp_path / f"d{i}.csv", changed, CASE_COLUMNS)
        svc.importer.import_file("cases", tmp_path / f"d{i}.csv", by=CASEWORKER)
        dead = rng.choice(county.cases)
        write_csv(
            tmp_path / f"x{i}.csv",
            [
                {
                    "id_number": dead["id_number"],
                    "date_of_death": P(period).previous().day(15).isoformat(),
                    "source": "公安",
                }
            ],
            DEATH_COLUMNS,
        )
        svc.importer.import_file("deaths", tmp_path / f"x{i}.csv", by=CASEWORKER)
    run = svc.payouts.prepare(P("2026-09"), program=None, by=F).run_id or ""
    svc.payouts.approve(run, by=FA)

    totals: dict[tuple[str, str], int] = defaultdict(int)
    owed: dict[tuple[str, str], int] = defaultdict(int)
    for (case_id,) in svc.db.query("SELECT case_id FROM cases"):
        for m in history(svc, case_id, as_of=date(2026, 9, 30))["money"]:
            key = (m["period"], m["program"])
            totals[key] += parse_fen(m["instructed"]) - parse_fen(m["held"])
            owed[key] += parse_fen(m["recovery_owed"])
    report: dict[tuple[str, str], int] = defaultdict(int)
    for period in ("2026-06", "2026-07", "2026-08", "2026-09"):
        for r in payouts_report(svc.db, period, ["program"]):
            report[(period, r["program"])] += parse_fen(r["amount"])
    assert {k: v for k, v in totals.items() if v} == dict(report)
    register: dict[tuple[str, str], int] = defaultdict(int)
    for r in svc.service(Recoveries).list(status="all"):
        register[(r["period"], r["program"])] += parse_fen(r["amount"])
    assert {k: v for k, v in owed.items() if v} == dict(register)
    assert register, "the generated months raised recoveries"


def test_findings_say_what_explains_them_and_fit_100_columns(svc: Services, out: Path) -> None:
    from rich.console import Console

    from aidledger.cli.audit import findings_table
    from reconciliation.service import list_findings

    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    run = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(run, by=FINANCE_APPROVER)
    svc.payouts.export(run, fmt="pain001", out=out / "run.xml", by=FINANCE)
    sent = read_pain001((out / "run.xml").read_bytes())
    anomalies = Anomalies(
        amount={sent[0].end_to_end_id: "1.00"},
        name={sent[1].end_to_end_id: "王大力"},
        unknown=[("202606R1XXXXXXXXXXXXXXXXXXXX", "888.00", date(2026, 6, 10))],
    )
    (out / "bank.xml").write_bytes(camt054(sent, anomalies))
    svc.bank.import_file(out / "bank.xml", by=FINANCE)
    svc.reconciliation.reconcile(P("2026-06"), as_of=date(2026, 6, 30), by=FINANCE)
    found = {f["type"]: f for f in list_findings(svc.db, period="2026-06")}
    amount = found["amount_mismatch"]
    assert (amount["instructed_amount"], amount["bank_amount"]) == (sent[0].amount, "1.00")
    assert amount["amount"] == format_fen(parse_fen(sent[0].amount) - 100)  # the difference
    assert amount["file_name"] == "bank.xml"
    assert found["name_mismatch"]["bank_name"] == "王*力"  # masked
    assert (found["unknown_payment"]["bank_amount"], found["unknown_payment"]["file_name"]) == (
        "888.00",
        "bank.xml",
    )
    console = Console(width=100, record=True, color_system=None)
    console.print(findings_table(list(found.values()), "findings 2026-06"))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    for f in found.values():
        assert f["finding_id"] in text and (f["case_id"] or "") in text
