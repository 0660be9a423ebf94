"""Supplement runs (一次性生活补贴) on both stores: paid once to the cases in effect on a day,
per case or per person; a run of their own beside the month's, approved by a second person,
exported and reconciled like any run; never counted as what a month was paid."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from aidledger.wiring import Services
from disbursement.runs import Payouts
from ledger.duties import DutyRefused
from ledger.payment import RunClosed, SupplementTerms
from ledger.period import Period
from projections.trail import history_document, load_trail
from reconciliation.banksim import Anomalies, camt054, read_pain001
from tests.builders import (
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    FINANCE_APPROVER_2,
    case_rows,
    fixture_row,
    load,
    with_staff,
)
from tests.conftest import FIXTURES

P = Period.parse
DEC = P("2026-12")
TERMS = SupplementTerms(
    programs=("dibao", "tekun"),
    amount=10000,
    per="person",
    in_effect_on=date(2026, 12, 1),
    reason="2026年一次性生活补贴",
)


@pytest.fixture
def payouts(svc: Services, tmp_path: Path) -> Payouts:
    """The fixture's cases, and C006: a 低保 case that ended before the supplement's day."""
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    ended = (
        fixture_row("C001")
        .replace("C001", "C006")
        .replace("610102195001010011", "610102195001010038")
        .replace("2026-01-01,", "2026-01-01,2026-11-30")
        .replace(",,", ",")
    )
    load(svc, "cases", case_rows(tmp_path, "ended.csv", ended))
    p = svc.payouts
    p.bank_files = tmp_path  # type: ignore[attr-defined]
    return p


def paid(svc: Services, run_id: str) -> dict[str, int]:
    return {
        c: int(a)
        for c, a in svc.db.query(
            "SELECT case_id, amount FROM payments WHERE run_id = ? AND cancelled = 0", (run_id,)
        )
    }


def test_a_supplement_pays_each_case_in_effect_once_in_a_run_of_its_own(
    svc: Services, payouts: Payouts
) -> None:
    assert svc.db.query("SELECT effective_to FROM cases WHERE case_id = 'C006'")[0][0]
    result = payouts.prepare_supplement(DEC, TERMS, by=FINANCE)
    run_id = result.run_id
    assert run_id == f"R202612-{TERMS.scope}-1"
    # 100.00 per person: C001 (3 people), C002 (tekun, 1), C005 (4); C006 had ended.
    assert paid(svc, run_id) == {"C001": 30000, "C002": 10000, "C005": 40000}
    assert {k for (k,) in svc.db.query("SELECT kind FROM payments")} == {"supplement"}
    again = payouts.prepare_supplement(DEC, TERMS, by=FINANCE)
    assert (again.run_id, again.changed, again.payments) == (run_id, False, 3)

    # The month's run is another run; it pays the month and no supplement.
    monthly = payouts.prepare(DEC, program=None, by=FINANCE)
    assert monthly.run_id == "R202612-all-1"
    assert paid(svc, "R202612-all-1")["C001"] == 156000

    with pytest.raises(RunClosed, match="Cancel it first"):
        payouts.prepare_supplement(DEC, TERMS.model_copy(update={"amount": 20000}), by=FINANCE)
    other = TERMS.model_copy(update={"reason": "春节一次性补贴", "per": "case", "amount": 5000})
    second = payouts.prepare_supplement(DEC, other, by=FINANCE)
    assert second.run_id not in (run_id, "R202612-all-1")
    assert paid(svc, second.run_id or "") == {"C001": 5000, "C002": 5000, "C005": 5000}
    ids = [r[0] for r in svc.db.query("SELECT payment_id FROM payments WHERE case_id = 'C001'")]
    assert len(ids) == len(set(ids)) == 3


def test_a_supplement_is_approved_by_another_exported_and_never_paid_twice(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    run_id = payouts.prepare_supplement(DEC, TERMS, by=FINANCE).run_id or ""
    with pytest.raises(DutyRefused, match="finance_approver"):
        payouts.approve(run_id, by=FINANCE)
    monthly = payouts.prepare(DEC, program=None, by=FINANCE).run_id or ""
    # Approving one run does not make the other stale: neither changes what the other pays.
    approval = payouts.approve(run_id, by=FINANCE_APPROVER)
    assert (approval.payable.payments, approval.payable.amount) == (3, 80000)
    payouts.approve(monthly, by=FINANCE_APPROVER_2)
    x = payouts.export(run_id, fmt="pain001", out=tmp_path / "sup.xml", by=FINANCE)
    assert (x.payments, x.amount) == (3, 80000)
    instructed = read_pain001((tmp_path / "sup.xml").read_bytes())
    assert sorted(i.amount for i in instructed) == ["100.00", "300.00", "400.00"]
    # Prepared again once approved: nothing is owed, no new run.
    again = payouts.prepare_supplement(DEC, TERMS, by=FINANCE)
    assert again.run_id is None
    assert svc.db.query("SELECT COUNT(*) FROM runs WHERE scope = ?", (TERMS.scope,))[0][0] == 1
    # Sent, the supplement is no money of the month: January's run owes no recovery for it.
    payouts.export(monthly, fmt="pain001", out=tmp_path / "dec.xml", by=FINANCE)
    january = payouts.prepare(P("2027-01"), program=None, by=FINANCE)
    assert january.recoveries == 0 and "arrears" not in january.by_kind


def test_a_supplement_is_reconciled_like_any_run(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    first = payouts.prepare_supplement(DEC, TERMS, by=FINANCE).run_id or ""
    other = TERMS.model_copy(update={"reason": "春节一次性补贴"})
    second = payouts.prepare_supplement(DEC, other, by=FINANCE).run_id or ""
    for n, run_id in enumerate((first, second)):
        payouts.approve(run_id, by=FINANCE_APPROVER)
        out = tmp_path / f"sup-{n}.xml"
        payouts.export(run_id, fmt="pain001", out=out, by=FINANCE)
        sent = read_pain001(out.read_bytes())
        answer = tmp_path / f"camt-{n}.xml"
        late = {sent[0].end_to_end_id: 4} if n == 0 else {}
        answer.write_bytes(camt054(sent, Anomalies(late_days=late)))
        svc.bank.import_file(answer, by=FINANCE)
    result = svc.reconciliation.reconcile(DEC, as_of=date(2027, 1, 31), by=FINANCE)
    # Two supplements of one month to the same cases are no duplicate payment.
    assert result.raised == {"late_payment": 1}
    assert result.payments == 6


def test_a_decision_after_the_supplement_was_prepared_makes_it_stale(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    run_id = payouts.prepare_supplement(DEC, TERMS, by=FINANCE).run_id or ""
    # C005's household grows to 5 from November: the supplement's day sees 5 people.
    grown = fixture_row("C005").replace(",4,2080.00,2026-03-01", ",5,2400.00,2026-11-01")
    load(svc, "cases", case_rows(tmp_path, "grown.csv", grown), by=CASEWORKER)
    with pytest.raises(RunClosed, match="aidledger payout supplement --period 2026-12"):
        payouts.approve(run_id, by=FINANCE_APPROVER)
    again = payouts.prepare_supplement(DEC, TERMS, by=FINANCE)
    assert (again.run_id, again.amended) == (run_id, 1)
    assert paid(svc, run_id)["C005"] == 50000
    payouts.approve(run_id, by=FINANCE_APPROVER)


def test_a_cancelled_supplement_may_be_prepared_on_other_terms(
    svc: Services, payouts: Payouts
) -> None:
    run_id = payouts.prepare_supplement(DEC, TERMS, by=FINANCE).run_id or ""
    payouts.cancel(run_id, by=FINANCE, reason="the notice says 50.00")
    fixed = TERMS.model_copy(update={"amount": 5000})
    renewed = payouts.prepare_supplement(DEC, fixed, by=FINANCE)
    assert renewed.run_id == f"R202612-{TERMS.scope}-2"
    assert paid(svc, renewed.run_id or "") == {"C001": 15000, "C002": 5000, "C005": 20000}


def test_a_supplement_to_a_holder_reported_dead_is_held(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    deaths = tmp_path / "deaths.csv"
    deaths.write_text(
        "id_number,date_of_death,source\n610102198004040041,2026-11-20,公安人口库比对\n",
        encoding="utf-8",
    )
    load(svc, "deaths", deaths)
    run_id = payouts.prepare_supplement(DEC, TERMS, by=FINANCE).run_id or ""
    held = dict(
        svc.db.query(
            "SELECT case_id, held FROM payments WHERE run_id = ? AND held <> ''", (run_id,)
        )
    )
    assert held == {"C005": "paid_after_death"}


def test_the_case_history_shows_the_supplement_on_a_row_of_its_own(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    monthly = payouts.prepare(DEC, program=None, by=FINANCE).run_id or ""
    payouts.approve(monthly, by=FINANCE_APPROVER)
    run_id = payouts.prepare_supplement(DEC, TERMS, by=FINANCE).run_id or ""
    payouts.approve(run_id, by=FINANCE_APPROVER)
    trail = load_trail(svc.app, svc.db, "C001")
    assert trail is not None
    doc = history_document(
        "C001", trail, as_of=date(2026, 12, 15), known_at=None, timezone="UTC", config=svc.config
    )
    december = {m["kind"]: m for m in doc["money"] if m["period"] == "2026-12"}
    assert (december["monthly"]["due"], december["monthly"]["instructed"]) == ("1560.00", "1560.00")
    assert (december["supplement"]["due"], december["supplement"]["outstanding"]) == (
        "300.00",
        "300.00",  # approved, not yet sent
    )
    instructed = [e for e in doc["events"] if e["type"] == "PaymentInstructed"]
    assert sorted(e["kind"] for e in instructed if e["period"] == "2026-12") == [
        "regular",
        "supplement",
    ]


def test_payout_supplement_on_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER).exit_code == 0
    args = (
        *("payout", "supplement", "--period", "2026-12", "--programs", "dibao,tekun"),
        *("--amount", "100.00", "--per", "person", "--in-effect-on", "2026-12-01"),
        *("--reason", "2026年一次性生活补贴", "--by", FINANCE),
    )
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert (doc["payments"], doc["amount"]) == (3, "800.00")
    assert doc["run_id"].startswith("R202612-supplement-")
    again = cli(*args)
    assert again.exit_code == 0 and "is up to date: nothing changed" in again.output
    refused = cli(*[a if a != "dibao,tekun" else "dibao,temporary" for a in args])
    assert refused.exit_code == 1 and "temporary is one-off relief" in refused.output
    shown = json.loads(cli("payout", "show", doc["run_id"], "--format", "json").output)
    assert shown["by_kind"] == [{"kind": "supplement", "payments": 3, "amount": "800.00"}]
    report = cli("payout", "approve", doc["run_id"], "--by", FINANCE_APPROVER)
    assert report.exit_code == 0 and "3 payable, 800.00" in report.output
