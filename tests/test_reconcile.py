"""Reconciliation end to end on both stores, through a simulated bank."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from aidledger.wiring import Services
from ledger.errors import InputRefused
from ledger.period import Period
from ledger.synthetic import CASE_COLUMNS, STAFF_COLUMNS, generate_county, write_csv
from reconciliation.banksim import Anomalies, Instructed, camt054, pain002, read_pain001
from reconciliation.service import list_findings
from tests.test_checks import SPEC_FINDING_TYPES

PERIOD = "2026-06"
AS_OF = date(2026, 7, 31)


def imported_county(svc: Services, tmp_path: Path, *, cases: int, seed: int, frauds: bool) -> None:
    """A generated county's staff and cases files, imported."""
    county = generate_county(cases=cases, seed=seed, frauds=frauds)
    write_csv(tmp_path / "staff.csv", county.staff, STAFF_COLUMNS)
    write_csv(tmp_path / "cases.csv", county.cases, CASE_COLUMNS)
    svc.importer.import_file("staff", tmp_path / "staff.csv", by="S0001", today=AS_OF)
    svc.importer.import_file("cases", tmp_path / "cases.csv", by="S0002", today=AS_OF)


def exported_month(
    svc: Services, tmp_path: Path, *, cases: int, seed: int, frauds: bool, held: bool = False
) -> list[Instructed]:
    """A county imported, June prepared (by S0004, finance), approved (S0005) and exported as
    ``run.xml``: the payments as the bank reads them."""
    imported_county(svc, tmp_path, cases=cases, seed=seed, frauds=frauds)
    run = svc.payouts.prepare(Period.parse(PERIOD), program=None, by="S0004")
    assert run.run_id and (run.held > 0) is held
    svc.payouts.approve(run.run_id, by="S0005")
    svc.payouts.export(run.run_id, fmt="pain001", out=tmp_path / "run.xml", by="S0004")
    return read_pain001((tmp_path / "run.xml").read_bytes())


@pytest.fixture
def month(svc: Services, tmp_path: Path) -> tuple[Services, list[Instructed], Path]:
    """A county of 60 clean cases, June prepared, approved and exported."""
    return svc, exported_month(svc, tmp_path, cases=60, seed=21, frauds=False), tmp_path


def bank_answers(
    svc: Services, tmp_path: Path, payments: list[Instructed], anomalies: Anomalies | None = None
) -> None:
    (tmp_path / "status.xml").write_bytes(pain002(payments, anomalies))
    (tmp_path / "booked.xml").write_bytes(camt054(payments, anomalies))
    svc.bank.import_file(tmp_path / "status.xml", by="S0004", today=AS_OF)
    svc.bank.import_file(tmp_path / "booked.xml", by="S0004", today=AS_OF)


def report_death(svc: Services, tmp_path: Path, id_number: str, died: date) -> None:
    """The deaths feed reports one death (as the public security bureau's feed does)."""
    deaths = tmp_path / "deaths.csv"
    deaths.write_text(
        f"id_number,date_of_death,source\n{id_number},{died.isoformat()},公安\n", encoding="utf-8"
    )
    svc.importer.import_file("deaths", deaths, by="S0002", today=AS_OF)


def finding_types(svc: Services) -> list[str]:
    return sorted(f["type"] for f in list_findings(svc.db, period=PERIOD, status="all"))


def test_a_clean_month_reconciles_to_zero_findings(month) -> None:  # type: ignore[no-untyped-def]
    svc, payments, tmp_path = month
    bank_answers(svc, tmp_path, payments)
    result = svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert result.payments == len(payments) > 20
    assert finding_types(svc) == []
    executed = svc.db.query("SELECT COUNT(*) FROM payment_results WHERE status = 'executed'")
    assert executed == [(len(payments),)]


def test_one_seeded_anomaly_of_each_type_gives_exactly_those_findings(month) -> None:  # type: ignore[no-untyped-def]
    svc, payments, tmp_path = month
    e = [p.end_to_end_id for p in payments]
    anomalies = Anomalies(
        amount={e[0]: "9999.00"},
        account={e[1]: "6217000000009999"},
        name={e[2]: "冒名者"},
        late_days={e[3]: 6},
        returned={e[4]: "AC04"},
        rejected={e[5]: "AC01"},
        twice={e[6]},
        missing={e[7]},
        unknown=[("202606R1UNKNOWNUNKNOWNUNKNO", "300.00", date(2026, 6, 10))],
    )
    bank_answers(svc, tmp_path, payments, anomalies)
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert finding_types(svc) == sorted(
        [
            "amount_mismatch",
            "account_mismatch",
            "name_mismatch",
            "late_payment",
            "returned_not_reissued",
            "returned_not_reissued",
            "duplicate_payment",
            "missing_result",
            "unknown_payment",
        ]
    )
    by_payment = {f["payment_id"]: f for f in list_findings(svc.db, period=PERIOD)}
    assert by_payment[e[0]]["type"] == "amount_mismatch"
    assert "9999.00" in by_payment[e[0]]["detail"]
    assert by_payment[e[5]]["type"] == "returned_not_reissued"


def test_reimporting_and_reconciling_again_changes_nothing(month) -> None:  # type: ignore[no-untyped-def]
    svc, payments, tmp_path = month
    anomalies = Anomalies(amount={payments[0].end_to_end_id: "1.00"})
    bank_answers(svc, tmp_path, payments, anomalies)
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    before = (svc.app.recorder.max_notification_id(), list_findings(svc.db, period=PERIOD))
    again = svc.bank.import_file(tmp_path / "booked.xml", by="S0004", today=AS_OF)
    assert again.already_imported
    second = svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert second.raised == {}
    assert (svc.app.recorder.max_notification_id(), list_findings(svc.db, period=PERIOD)) == before


def test_the_same_entry_in_another_statement_is_not_a_second_execution(month) -> None:  # type: ignore[no-untyped-def]
    svc, payments, tmp_path = month
    bank_answers(svc, tmp_path, payments)
    (tmp_path / "monthly.xml").write_bytes(camt054(payments) + b"\n")  # same entries, new file
    monthly = svc.bank.import_file(tmp_path / "monthly.xml", by="S0004", today=AS_OF)
    assert not monthly.already_imported
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert finding_types(svc) == []


def test_bank_results_appear_in_the_case_history(month) -> None:  # type: ignore[no-untyped-def]
    from ledger.payment import payment_aggregate_id

    svc, payments, tmp_path = month
    bank_answers(svc, tmp_path, payments, Anomalies(returned={payments[0].end_to_end_id: "AC04"}))
    events = list(svc.app.events.get(payment_aggregate_id(payments[0].end_to_end_id)))
    types = [type(x).__name__ for x in events]
    assert types == ["Instructed", "StatusReported", "Executed", "Returned"]
    assert events[-1].reason_code == "AC04"  # type: ignore[attr-defined]
    assert events[-1].file_id.startswith("BF-")  # type: ignore[attr-defined]


def test_returned_payment_is_reissued_once_the_account_is_corrected(month) -> None:  # type: ignore[no-untyped-def]
    svc, payments, tmp_path = month
    returned = payments[0].end_to_end_id
    bank_answers(svc, tmp_path, payments, Anomalies(returned={returned: "AC04"}))
    ((case_id,),) = svc.db.query("SELECT case_id FROM payments WHERE payment_id = ?", (returned,))
    lines = (tmp_path / "cases.csv").read_text(encoding="utf-8").splitlines()
    row = next(line for line in lines if line.startswith(case_id + ","))
    account = row.split(",")[9]
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(
        lines[0] + "\n" + row.replace(account, "6217000011112222333") + "\n", encoding="utf-8"
    )
    svc.importer.import_file("cases", fixed, by="S0002", today=AS_OF)
    july = svc.payouts.prepare(Period.parse("2026-07"), program=None, by="S0004")
    reissue = svc.db.query(
        "SELECT period, kind, amount, creditor_account, reissue_of FROM payments "
        "WHERE kind = 'reissue'"
    )
    assert reissue == [
        (
            PERIOD,
            "reissue",
            int(payments[0].amount.replace(".", "")),
            "6217000011112222333",
            returned,
        )
    ]
    assert svc.db.query("SELECT status FROM payment_results WHERE payment_id = ?", (returned,)) == [
        ("reissued",)
    ]
    assert july.run_id
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert "returned_not_reissued" not in finding_types(svc)


def test_refunded_payment_ends_returned_not_reissued(month) -> None:  # type: ignore[no-untyped-def]
    svc, payments, tmp_path = month
    returned = payments[0].end_to_end_id
    bank_answers(svc, tmp_path, payments, Anomalies(returned={returned: "MD07"}))
    svc.payouts.refund(returned, by="S0004", reason="beneficiary deceased; money back to fund")
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert finding_types(svc) == []


def test_finding_workflow_and_reopening(month) -> None:  # type: ignore[no-untyped-def]
    svc, payments, tmp_path = month
    bank_answers(svc, tmp_path, payments, Anomalies(missing={payments[0].end_to_end_id}))
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    (finding,) = list_findings(svc.db, period=PERIOD)
    fid = finding["finding_id"]
    svc.reconciliation.assign(fid, to="S0005", by="S0006")  # a supervisor assigns
    svc.reconciliation.comment(fid, text="called the bank", by="S0005")
    svc.reconciliation.resolve(fid, resolution="corrected", comment="bank resent", by="S0005")
    assert list_findings(svc.db, period=PERIOD) == []
    # The cause is still there: the next reconciliation reopens it.
    result = svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert result.reopened == 1
    (reopened,) = list_findings(svc.db, period=PERIOD)
    assert (reopened["finding_id"], reopened["status"], reopened["assigned_to"]) == (
        fid,
        "open",
        "S0005",
    )
    history = [h["type"] for h in svc.reconciliation.history(fid)]
    assert history == [
        "FindingRaised",
        "FindingAssigned",
        "FindingCommented",
        "FindingResolved",
        "FindingReopened",
    ]


def test_a_malformed_bank_file_is_refused_and_records_nothing(month) -> None:  # type: ignore[no-untyped-def]
    svc, _, tmp_path = month
    bad = tmp_path / "bad.xml"
    bad.write_bytes(
        b"<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:"
        b"camt.054.001.02'><BkToCstmrDbtCdtNtfctn><Ntfctn><Ntry>"
    )
    head = svc.app.recorder.max_notification_id()
    with pytest.raises(InputRefused):
        svc.bank.import_file(bad, by="S0004", today=AS_OF)
    assert svc.app.recorder.max_notification_id() == head


def bank_mistakes(e: list[str]) -> Anomalies:
    """One of each mistake a bank makes, on the first seven payments (ids ``e``)."""
    return Anomalies(
        amount={e[0]: "1.00"},
        account={e[1]: "6217000000009999"},
        name={e[2]: "冒名者"},
        late_days={e[3]: 3},
        returned={e[4]: "AC04"},
        twice={e[5]},
        missing={e[6]},
    )


def test_every_finding_type_from_one_county_with_planted_frauds(
    svc: Services, tmp_path: Path
) -> None:
    """Planted frauds are held before export (and raise their types); the bank's mistakes and
    a death reported after payment are raised by reconciliation: all twelve types, no others."""
    payments = exported_month(svc, tmp_path, cases=200, seed=4, frauds=True, held=True)
    e = [p.end_to_end_id for p in payments]
    mistakes = bank_mistakes(e)
    mistakes.unknown = [("202606R1NOSUCHPAYMENTNOSUCHPA", "10.00", date(2026, 6, 12))]
    bank_answers(svc, tmp_path, payments, mistakes)
    # The beneficiary of e[7] died on 2026-06-05; the feed reports it only now.
    ((id_number,),) = svc.db.query("SELECT id_number FROM payments WHERE payment_id = ?", (e[7],))
    report_death(svc, tmp_path, id_number, date(2026, 6, 5))
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert set(finding_types(svc)) == SPEC_FINDING_TYPES
    dead = [f for f in list_findings(svc.db, period=PERIOD, type_="paid_after_death")]
    assert [f["payment_id"] for f in dead] == [e[7]]


def test_reading_only_payments_worth_checking_misses_no_finding(
    svc: Services, tmp_path: Path
) -> None:
    """Reconcile reads only the payments a per-payment check could raise a finding on; over a
    month with every kind of bank mistake, a death, and a name that differs only in spacing,
    at payment-day edges of ``missing_result``, that raises what reading all of them raises."""
    payments = exported_month(svc, tmp_path, cases=200, seed=4, frauds=True, held=True)
    e = [p.end_to_end_id for p in payments]
    ((name,),) = svc.db.query("SELECT creditor_name FROM payments WHERE payment_id = ?", (e[9],))
    # A death on a payment the bank got right: only the death makes it worth checking.
    ((id_number,),) = svc.db.query("SELECT id_number FROM payments WHERE payment_id = ?", (e[11],))
    mistakes = bank_mistakes(e)
    mistakes.name[e[9]] = f" {name[:1]} {name[1:]} "
    mistakes.rejected[e[8]] = "AC01"
    mistakes.missing.add(e[10])
    bank_answers(svc, tmp_path, payments, mistakes)
    report_death(svc, tmp_path, id_number, date(2026, 6, 5))
    ((day,),) = svc.db.query("SELECT MIN(payment_date) FROM payments")
    first = date.fromisoformat(str(day))
    reconciliation = svc.reconciliation
    seen = set()
    for as_of in (first, first + timedelta(5), first + timedelta(6), AS_OF, date(2026, 12, 31)):
        found = {}
        for only in (True, False):
            reconciliation.only_worth_checking = only
            drafts = reconciliation.payment_drafts(Period.parse(PERIOD), as_of)
            found[only] = sorted((d.type, d.key, d.detail) for d in drafts)
        assert found[True] == found[False]
        seen |= {t for t, _, _ in found[True]}
    assert seen == {
        "amount_mismatch",
        "account_mismatch",
        "name_mismatch",
        "late_payment",
        "missing_result",
        "returned_not_reissued",
        "duplicate_payment",
        "paid_after_death",
    }


def test_worth_checking_holds_for_results_rows_of_every_shape(month) -> None:  # type: ignore[no-untyped-def]
    """Results rows no bank file of the tests makes (an accepted-only row with no status, a
    reissued or refunded payment whose beneficiary died, an empty reported account, a name
    that differs only in spacing, no row at all, "instructed" written out): reading only the
    payments worth checking raises what reading them all raises, at any
    ``missing_result_days``."""
    svc, payments, tmp_path = month
    bank_answers(svc, tmp_path, payments)
    e = [p.end_to_end_id for p in payments]
    ((name,),) = svc.db.query("SELECT creditor_name FROM payments WHERE payment_id = ?", (e[4],))
    with svc.db.transaction() as tx:
        tx.execute(
            "UPDATE payment_results SET status = NULL, executions = 0 WHERE payment_id = ?", (e[0],)
        )
        for pid, status in ((e[1], "reissued"), (e[2], "refunded")):
            tx.execute("UPDATE payment_results SET status = ? WHERE payment_id = ?", (status, pid))
        tx.execute("UPDATE payment_results SET reported_account = '' WHERE payment_id = ?", (e[3],))
        tx.execute(
            "UPDATE payment_results SET reported_name = ? WHERE payment_id = ?",
            (f"{name[:1]}  {name[1:]}", e[4]),
        )
        tx.execute("DELETE FROM payment_results WHERE payment_id = ?", (e[5],))
        tx.execute("UPDATE payment_results SET status = 'instructed' WHERE payment_id = ?", (e[6],))
    for pid in (e[1], e[2]):
        ((id_number,),) = svc.db.query(
            "SELECT id_number FROM payments WHERE payment_id = ?", (pid,)
        )
        report_death(svc, tmp_path, id_number, date(2026, 6, 1))
    ((day,),) = svc.db.query("SELECT MIN(payment_date) FROM payments")
    first = date.fromisoformat(str(day))
    reconciliation = svc.reconciliation
    rules = reconciliation.config.reconciliation
    seen = set()
    for days in (0, 1, 5):
        reconciliation.config = reconciliation.config.model_copy(
            update={"reconciliation": rules.model_copy(update={"missing_result_days": days})}
        )
        for as_of in (first, first + timedelta(days), first + timedelta(days + 1), AS_OF):
            found = {}
            for only in (True, False):
                reconciliation.only_worth_checking = only
                drafts = reconciliation.payment_drafts(Period.parse(PERIOD), as_of)
                found[only] = [(d.type, d.key, d.detail) for d in drafts]
            assert found[True] == found[False]
            seen |= {t for t, _, _ in found[True]}
    assert seen == {"missing_result", "paid_after_death"}
