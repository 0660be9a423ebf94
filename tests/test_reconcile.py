"""Reconciliation end to end on both stores, through a simulated bank."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from aidledger.synthetic import CASE_COLUMNS, STAFF_COLUMNS, generate_county, write_csv
from aidledger.wiring import Services
from ledger.errors import InputRefused
from ledger.period import Period
from ledger.store import as_date
from projections.bank import EXECUTIONS, RESULTS_JOIN, STATUS
from reconciliation.bank import BankImportSummary
from reconciliation.banksim import Anomalies, Instructed, camt054, pain002, read_pain001
from reconciliation.service import list_findings
from tests.builders import (
    BANK,
    F_ARREARS,
    F_CLOSED,
    F_FROZEN,
    F_NO_ACCOUNT,
    F_PAID,
    F_WRONG_NAME,
    answered,
)
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


def _returned_then_corrected(
    svc: Services, tmp_path: Path, payments: list[Instructed], change: Any
) -> tuple[str, str]:
    """The first payment returned by the bank, then its case's row changed by ``change``."""
    returned = payments[0].end_to_end_id
    bank_answers(svc, tmp_path, payments, Anomalies(returned={returned: "AC04"}))
    ((case_id,),) = svc.db.query("SELECT case_id FROM payments WHERE payment_id = ?", (returned,))
    lines = (tmp_path / "cases.csv").read_text(encoding="utf-8").splitlines()
    row = next(line for line in lines if line.startswith(case_id + ","))
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(lines[0] + "\n" + change(row) + "\n", encoding="utf-8")
    svc.importer.import_file("cases", fixed, by="S0002", today=AS_OF)
    return returned, case_id


def test_a_reissue_to_a_staff_members_account_is_held_as_any_payment(month) -> None:  # type: ignore[no-untyped-def]
    svc, payments, tmp_path = month
    ((staff_id, staff_account),) = svc.db.query(
        "SELECT staff_id, bank_account FROM staff WHERE staff_id = 'S0006'"
    )

    def to_staff(row: str) -> str:
        fields = row.split(",")
        fields[9] = staff_account
        return ",".join(fields)

    _, case_id = _returned_then_corrected(svc, tmp_path, payments, to_staff)
    svc.payouts.prepare(Period.parse("2026-07"), program=None, by="S0004")
    reissue = svc.db.query(
        "SELECT held, creditor_account FROM payments WHERE kind = 'reissue' AND case_id = ?",
        (case_id,),
    )
    assert reissue == [("staff_account", staff_account)]
    held = list_findings(svc.db, period=PERIOD, status="all")
    assert [(f["type"], f["case_id"]) for f in held] == [("staff_account", case_id)]
    assert staff_id not in {f.get("detail") for f in held}


def test_a_reissue_is_held_for_an_overdue_review_as_the_months_payment_is(month) -> None:  # type: ignore[no-untyped-def]
    """With ``suspend_when_overdue``, a reissue for a month that began after its case's review
    became overdue is held as ``review_overdue``, as that month's first payment would be."""
    from ledger.config_store import load_config
    from ledger.programs import shipped_config_path

    svc, payments, tmp_path = month
    ((early,),) = svc.db.query(
        "SELECT p.payment_id FROM payments p JOIN cases c ON c.case_id = p.case_id "
        "WHERE c.start_date <= '2025-04-01' ORDER BY p.payment_id LIMIT 1"
    )
    payments = sorted(payments, key=lambda p: p.end_to_end_id != early)
    config = tmp_path / "programs.toml"
    config.write_text(
        shipped_config_path().read_text(encoding="utf-8")
        + '\n[reviews]\nfrom = "2020-01-01"\nsuspend_when_overdue = true\nreview_grace_days = 0\n',
        encoding="utf-8",
    )
    svc.configs.apply(config, effective_from=date(2026, 1, 1), by="S0001")
    svc.config = load_config(svc.app, svc.db, svc.today)
    for name in ("importer", "payouts", "reconciliation", "configs", "history"):
        svc.__dict__.pop(name, None)

    def new_account(row: str) -> str:
        fields = row.split(",")
        fields[9] = "6217000011112222333"
        return ",".join(fields)

    returned, case_id = _returned_then_corrected(svc, tmp_path, payments, new_account)
    assert returned == early
    svc.payouts.prepare(Period.parse("2026-07"), program=None, by="S0004")
    held = svc.db.query(
        "SELECT kind, period, held FROM payments WHERE case_id = ? AND run_id <> ? ORDER BY kind",
        (case_id, svc.db.query("SELECT run_id FROM payments WHERE payment_id = ?", (early,))[0][0]),
    )
    assert held == [("regular", "2026-07", "review_overdue"), ("reissue", PERIOD, "review_overdue")]


def test_a_returned_payment_for_a_month_no_longer_owed_is_not_reissued(month) -> None:  # type: ignore[no-untyped-def]
    """The case ended, back-dated, before the returned month began: nothing to send again."""
    svc, payments, tmp_path = month

    def ended_and_new_card(row: str) -> str:
        fields = row.split(",")
        fields[8] = "2026-05-31"
        fields[9] = "6217000011112222333"
        return ",".join(fields)

    _returned_then_corrected(svc, tmp_path, payments, ended_and_new_card)
    svc.payouts.prepare(Period.parse("2026-07"), program=None, by="S0004")
    assert svc.db.query("SELECT COUNT(*) FROM payments WHERE kind = 'reissue'") == [(0,)]


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


# -- what a bank file means -------------------------------------------------------------------
# Other banks' files (tests/fixtures/bank/public) and fixtures of ours for what they lack, made
# to answer this month's payments (tests/builders.py): only booked entries in the payment's
# currency are results; the rest is kept with the file, shown and never counted.


def imported(svc: Services, path: Path, data: bytes, today: date = AS_OF) -> BankImportSummary:
    path.write_bytes(data)
    return svc.bank.import_file(path, by="S0004", today=today)


def results(svc: Services, *pids: str) -> list[tuple[str, int, Any]]:
    """(status, executions, executed_on) of each payment, as reconciliation reads them."""
    out = []
    for pid in pids:
        ((status, executions, on),) = svc.db.query(
            f"SELECT {STATUS}, {EXECUTIONS}, pr.executed_on FROM payments p {RESULTS_JOIN} "
            "WHERE p.payment_id = ?",
            (pid,),
        )
        out.append((status, int(executions), as_date(on)))
    return out


def kept(svc: Services, file_id: str) -> list[tuple[Any, ...]]:
    """The file's entries that are no payment's result: (seq, kind, payment, matched,
    period, currency, status, aside)."""
    rows = svc.db.query(
        "SELECT seq, kind, end_to_end_id, matched, period, currency, status, aside "
        "FROM bank_entries WHERE file_id = ? AND (aside IS NOT NULL OR matched = 0) ORDER BY seq",
        (file_id,),
    )
    return [(int(s), k, e, int(m), *rest) for s, k, e, m, *rest in rows]


def findings_of(svc: Services, period: str = PERIOD) -> list[tuple[str, str | None, str]]:
    return sorted(
        (f["type"], f["payment_id"], f["detail"])
        for f in list_findings(svc.db, period=period, status="all")
    )


def test_a_booking_in_another_currency_is_no_execution_and_raises_amount_mismatch(month) -> None:  # type: ignore[no-untyped-def]
    """Another bank's 001.08 sample: its USD debit names one of our CNY payments, for the very
    number instructed. Not an execution: kept with the file, and amount_mismatch names USD. The
    payment is paid when the bank executes it in CNY, and only once."""
    svc, payments, tmp_path = month
    e = [p.end_to_end_id for p in payments]
    sample = (BANK / "public" / "camt.054.001.08_prefixed-ns_splmtrydata.xml").read_bytes()
    data = answered(sample, {"E2E-0002": payments[0]})
    assert f'Ccy="USD">{payments[0].amount}<'.encode() in data
    summary = imported(svc, tmp_path / "usd.xml", data)
    assert (summary.matched, summary.by_kind) == (1, {"not counted (in USD)": 1})
    assert summary.set_aside == {"in USD": 1, "credit without return information": 1}
    assert results(svc, e[0]) == [("instructed", 0, None)]
    assert kept(svc, summary.file_id) == [
        (1, "credited", "E2E-0001", 0, "2026-01", "EUR", "BOOK", "no_return_information"),
        (2, "executed", e[0], 1, "2026-01", "USD", "BOOK", "currency"),
    ]
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=payments[0].requested, by="S0004")
    ((kind, pid, detail),) = findings_of(svc)
    assert (kind, pid) == ("amount_mismatch", e[0])
    assert f"instructed {payments[0].amount} CNY, bank executed {payments[0].amount} USD" in detail
    # The bank pays it in CNY: executed once, and the USD booking is still reported.
    (tmp_path / "cny.xml").write_bytes(camt054(payments[:1]))
    svc.bank.import_file(tmp_path / "cny.xml", by="S0004", today=AS_OF)
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    assert results(svc, e[0]) == [("executed", 1, payments[0].requested)]
    assert [k for k, p, _ in findings_of(svc) if p == e[0]] == ["amount_mismatch"]
    assert findings_of(svc, "2026-01") == []  # money sent to us is no unknown payment


def test_a_rejection_of_our_payment_in_another_currency_is_not_counted(month) -> None:  # type: ignore[no-untyped-def]
    """The ISO example pain.002 rejects its payment in USD: named as one of ours, it is not
    taken for our CNY payment's rejection (which would have it reissued)."""
    svc, payments, tmp_path = month
    sample = (BANK / "public" / "pain.002.001.03_iso-mdr-example_txsts-rjct-am05.xml").read_bytes()
    data = answered(sample, {"VA100327/0123": payments[1]}, block="TxInfAndSts")
    summary = imported(svc, tmp_path / "status.xml", data)
    assert summary.by_kind == {"not counted (in USD)": 1}
    assert results(svc, payments[1].end_to_end_id) == [("instructed", 0, None)]
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    found = {(k, p): d for k, p, d in findings_of(svc)}
    detail = found[("amount_mismatch", payments[1].end_to_end_id)]
    assert f"bank rejected {payments[1].amount} USD" in detail
    assert ("returned_not_reissued", payments[1].end_to_end_id) not in found


def test_entries_not_booked_are_kept_with_the_file_and_never_counted(month) -> None:  # type: ignore[no-untyped-def]
    """PDNG and INFO entries (001.08 Sts/Cd, 001.02 Sts) are shown, not executed; an entry
    without a status element is booked; a pending entry naming no payment is no unknown
    payment; the booking that follows a pending entry with the same reference counts."""
    svc, payments, tmp_path = month
    e = [p.end_to_end_id for p in payments]
    v08 = (BANK / "camt054_v08_what_entries_mean.xml").read_bytes()
    summary = imported(
        svc, tmp_path / "v08.xml", answered(v08, {F_NO_ACCOUNT: payments[0], F_CLOSED: payments[1]})
    )
    assert summary.by_kind == {
        "not counted (not booked: PDNG)": 1,
        "not counted (not booked: INFO)": 1,
    }
    v02 = (BANK / "camt054_v02_what_entries_mean.xml").read_bytes()
    summary02 = imported(
        svc, tmp_path / "v02.xml", answered(v02, {F_PAID: payments[2], F_WRONG_NAME: payments[3]})
    )
    assert summary02.by_kind == {"executed": 1, "not counted (not booked: PDNG)": 1}
    assert summary02.set_aside["not booked: PDNG"] == 2  # the unknown one too
    assert results(svc, e[0], e[1], e[2], e[3]) == [
        ("instructed", 0, None),
        ("instructed", 0, None),
        ("instructed", 0, None),
        ("executed", 1, date(2026, 12, 10)),  # no Sts element: booked
    ]
    assert [r[1:] for r in kept(svc, summary.file_id) if r[2] in (e[0], e[1])] == [
        ("executed", e[0], 1, "2026-12", "CNY", "PDNG", "not_booked"),
        ("executed", e[1], 1, "2026-12", "CNY", "INFO", "not_booked"),
    ]
    # In January (the v02 file's creation day): its return naming a payment of no one is
    # reported; its pending entry naming no payment is not.
    svc.reconciliation.reconcile(Period.parse("2027-01"), as_of=AS_OF, by="S0004")
    ((kind, _, detail),) = findings_of(svc, "2027-01")
    assert kind == "unknown_payment" and f"returned entry 4 of file {summary02.file_id}" in detail
    # The monthly statement books what the daily one had pending, under the same reference.
    booked = answered(v08.replace(b"<Cd>PDNG</Cd>", b"<Cd>BOOK</Cd>"), {F_NO_ACCOUNT: payments[0]})
    imported(svc, tmp_path / "monthly.xml", booked)
    assert results(svc, e[0]) == [("executed", 1, date(2026, 12, 15))]


def test_a_paid_payment_booked_again_after_a_pending_entry_is_paid_twice(month) -> None:  # type: ignore[no-untyped-def]
    """A pending entry kept with its file does not make the booking that follows it, under the
    same reference, look like a repeat of a statement: a second execution, reported."""
    svc, payments, tmp_path = month
    e0 = payments[0].end_to_end_id
    imported(svc, tmp_path / "paid.xml", camt054(payments[:1]))
    v08 = (BANK / "camt054_v08_what_entries_mean.xml").read_bytes()
    imported(svc, tmp_path / "daily.xml", answered(v08, {F_NO_ACCOUNT: payments[0]}))
    booked = v08.replace(b"<Cd>PDNG</Cd>", b"<Cd>BOOK</Cd>")
    imported(svc, tmp_path / "monthly.xml", answered(booked, {F_NO_ACCOUNT: payments[0]}))
    assert [r[:2] for r in results(svc, e0)] == [("executed", 2)]
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=payments[0].requested, by="S0004")
    assert [k for k, p, _ in findings_of(svc) if p == e0] == ["duplicate_payment", "late_payment"]


def test_an_entry_without_booking_date_is_reported_in_a_month(month) -> None:  # type: ignore[no-untyped-def]
    """No BookgDt: booked on the value date; neither date: on the file's creation day
    (GrpHdr/CreDtTm); a 回盘 row without a date naming no payment: in the month of the
    import's today. Each unknown one raises unknown_payment in that month."""
    svc, payments, tmp_path = month
    v08 = (BANK / "camt054_v08_what_entries_mean.xml").read_bytes()
    summary = imported(svc, tmp_path / "v08.xml", answered(v08, {F_ARREARS: payments[0]}))
    assert results(svc, payments[0].end_to_end_id) == [("executed", 1, date(2026, 12, 11))]
    unknown = [r for r in kept(svc, summary.file_id) if r[3] == 0 and r[7] is None]
    assert [(r[2], r[4]) for r in unknown] == [
        (F_PAID, "2026-12"),  # entries naming none of this month's payments
        (F_WRONG_NAME, "2026-12"),
        ("202612R1UNDATEDUNKNOWNUNDATE", "2026-12"),  # from CreDtTm 2026-12-12
        (F_PAID, "2026-12"),
    ]
    icbc = (BANK / "icbc.txt").read_bytes()
    header, first = icbc.split(b"\r\n")[:2]
    row = first.replace(b"|20261210|", b"||").replace(
        F_PAID.encode(), b"202607R1NOSUCHPAYMENTNOSUCHPA"
    )
    imported(svc, tmp_path / "huipan.txt", header + b"\r\n" + row + b"\r\n", date(2026, 7, 3))
    svc.reconciliation.reconcile(Period.parse("2026-12"), as_of=AS_OF, by="S0004")
    svc.reconciliation.reconcile(Period.parse("2026-07"), as_of=AS_OF, by="S0004")
    undated = [kind for kind, _, d in findings_of(svc, "2026-12") if "UNDATEDUNKNOWN" in d]
    assert undated == ["unknown_payment"]
    ((kind, _, detail),) = findings_of(svc, "2026-07")
    assert kind == "unknown_payment" and "202607R1NOSUCHPAYMENTNOSUCHPA" in detail


def test_a_credit_is_a_return_only_when_the_bank_says_so(month) -> None:  # type: ignore[no-untyped-def]
    """A credit naming an executed payment, without return information or a reversal, is money
    sent to us: the payment stays executed and is never reported returned. A reversal
    (RvslInd) and the bank's return code (RRTN) are returns, without a reason given."""
    svc, payments, tmp_path = month
    e = [p.end_to_end_id for p in payments]
    imported(svc, tmp_path / "paid.xml", camt054(payments[:3]))
    v08 = (BANK / "camt054_v08_what_entries_mean.xml").read_bytes()
    # Entry 1 pays F_PAID again and entry 8 reverses it: here, both on payments[1].
    summary = imported(
        svc, tmp_path / "v08.xml", answered(v08, {F_FROZEN: payments[0], F_PAID: payments[1]})
    )
    assert summary.by_kind == {
        "executed": 1,
        "returned": 1,
        "not counted (credit without return information)": 1,
    }
    v02 = (BANK / "camt054_v02_what_entries_mean.xml").read_bytes()
    imported(svc, tmp_path / "v02.xml", answered(v02, {F_FROZEN: payments[2]}))
    assert [r[0] for r in results(svc, *e[:3])] == ["executed", "returned", "returned"]
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=date(2027, 2, 28), by="S0004")
    returned = {p for k, p, _ in findings_of(svc) if k == "returned_not_reissued"}
    assert returned == {e[1], e[2]}
