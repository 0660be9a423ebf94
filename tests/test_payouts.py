"""Payout runs on both stores: arrears, ends, recoveries, idempotent prepare, maker-checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidledger.wiring import Services
from disbursement.runs import BudgetExceeded, Payouts
from ledger.errors import NotAuthorised
from ledger.period import Period
from tests.builders import (
    FINANCE,
    FINANCE_APPROVER,
    SUPERVISOR,
    case_rows,
    fixture_row,
    load,
    with_staff,
)
from tests.conftest import FIXTURES

P = Period.parse


@pytest.fixture
def payouts(svc: Services, tmp_path: Path) -> Payouts:
    with_staff(svc)
    payouts = Payouts(svc.app, svc.db, svc.config, svc.sync, today=svc.today, batch_events=4)
    payouts.chunk_cases = 2  # many small chunks: exercises the keyset pagination
    payouts.bank_files = tmp_path  # type: ignore[attr-defined]
    return payouts


def paid(svc: Services, case_id: str) -> list[tuple[str, str, int]]:
    return [
        (period, kind, int(amount))
        for period, kind, amount in svc.db.query(
            "SELECT period, kind, amount FROM payments WHERE case_id = ? ORDER BY period, kind",
            (case_id,),
        )
    ]


def run_month(p: Payouts, period: str, *, export: bool = True) -> str:
    """Prepare (finance), approve (finance approver) and export the month: its money sent."""
    result = p.prepare(P(period), program=None, by=FINANCE)
    assert result.run_id is not None
    p.approve(result.run_id, by=FINANCE_APPROVER)
    if export:
        out = p.bank_files / f"{result.run_id}.xml"  # type: ignore[attr-defined]
        p.export(result.run_id, fmt="pain001", out=out, by=FINANCE)
    return result.run_id


def test_regular_payments_follow_the_first_day_rule(svc: Services, payouts: Payouts) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    result = payouts.prepare(P("2026-02"), program=None, by="S003")
    # C005 starts 2026-03-01: nothing for February. The others are in effect on 2026-02-01.
    assert {r[0] for r in svc.db.query("SELECT case_id FROM payments")} == {
        "C001",
        "C002",
        "C003",
        "C004",
    }
    assert result.amount == 156000 + 118050 + 20000 + 9050


def test_back_dated_case_gets_one_arrears_payment_per_unpaid_month(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    run_month(payouts, "2026-09")  # the program's first approved run
    run_month(payouts, "2026-10")
    late = fixture_row("C001").replace("C001", "C900").replace("2026-01-01", "2026-08-01")
    load(svc, "cases", case_rows(tmp_path, "late.csv", late))
    payouts.prepare(P("2026-12"), program=None, by="S003")
    # Never before the first approved run (2026-09), one arrears per missing month.
    assert paid(svc, "C900") == [
        ("2026-09", "arrears", 156000),
        ("2026-10", "arrears", 156000),
        ("2026-11", "arrears", 156000),
        ("2026-12", "regular", 156000),
    ]
    # Cases already paid get only the months not yet paid (November) as arrears.
    assert paid(svc, "C002")[-2:] == [
        ("2026-11", "arrears", 118050),
        ("2026-12", "regular", 118050),
    ]


def test_back_dated_increase_pays_the_difference_as_arrears(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    run_month(payouts, "2026-09")
    raised = fixture_row("C001").replace("1560.00,2026-01-01", "1660.00,2026-09-01")
    load(svc, "cases", case_rows(tmp_path, "raise.csv", raised))
    payouts.prepare(P("2026-10"), program="dibao", by="S003")
    assert paid(svc, "C001") == [
        ("2026-09", "arrears", 10000),
        ("2026-09", "regular", 156000),
        ("2026-10", "regular", 166000),
    ]


def test_no_payment_after_effective_to(svc: Services, payouts: Payouts) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")  # C004 ends 2026-12-31
    payouts.prepare(P("2027-01"), program="disability_living", by="S003")
    assert paid(svc, "C004") == []


def test_back_dated_termination_raises_recoveries_not_netting(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    run_month(payouts, "2026-06")
    run_month(payouts, "2026-07")
    ended = fixture_row("C005").replace("2026-03-01,,", "2026-03-01,2026-05-31,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", ended))
    result = payouts.prepare(P("2026-08"), program=None, by="S003")
    recoveries = svc.db.query(
        "SELECT period, amount, reason FROM recoveries WHERE case_id = 'C005' ORDER BY period"
    )
    assert [(p, int(a), r) for p, a, r in recoveries] == [
        ("2026-06", 208000, "terminated"),
        ("2026-07", 208000, "terminated"),
    ]
    assert paid(svc, "C005") == [("2026-06", "regular", 208000), ("2026-07", "regular", 208000)]
    assert result.recovery_amount == 416000
    # Recoveries are listed, never netted: the run pays every other case in full.
    assert result.amount == 156000 + 118050 + 20000 + 9050


def test_death_after_a_paid_month_raises_a_recovery_and_holds_later_payments(
    svc: Services, payouts: Payouts
) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    run_month(payouts, "2026-05")
    run_month(payouts, "2026-06")
    # C003's beneficiary died on 2026-04-12: reported only now.
    load(svc, "deaths", FIXTURES / "deaths.csv")
    result = payouts.prepare(P("2026-07"), program=None, by="S003")
    recoveries = svc.db.query("SELECT period, reason FROM recoveries WHERE case_id = 'C003'")
    assert sorted(recoveries) == [("2026-05", "death"), ("2026-06", "death")]
    held = svc.db.query("SELECT held FROM payments WHERE case_id = 'C003' AND period = '2026-07'")
    assert held == [("paid_after_death",)]
    findings = svc.db.query("SELECT type, case_id, period FROM findings")
    assert ("paid_after_death", "C003", "2026-07") in findings
    assert result.held == 1


def test_preparing_the_same_period_again_records_nothing(svc: Services, payouts: Payouts) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    first = payouts.prepare(P("2026-04"), program=None, by="S003")
    head = svc.app.recorder.max_notification_id()
    again = payouts.prepare(P("2026-04"), program=None, by="S003")
    assert (again.added, again.amended, again.cancelled, again.recoveries) == (0, 0, 0, 0)
    assert (again.run_id, again.payments) == (first.run_id, first.payments)
    assert svc.app.recorder.max_notification_id() == head


def test_the_preparer_cannot_approve(svc: Services, payouts: Payouts) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    result = payouts.prepare(P("2026-04"), program=None, by="S003")
    with pytest.raises(NotAuthorised):
        payouts.approve(result.run_id or "", by="S003")
    payouts.approve(result.run_id or "", by="S005")
    assert svc.db.query("SELECT status, approved_by FROM runs") == [("approved", "S005")]


def test_budget_needs_an_override_with_a_reason(svc: Services, payouts: Payouts) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    payouts.config = payouts.config.model_copy(
        update={
            "programs": {
                **payouts.config.programs,
                "dibao": payouts.config.programs["dibao"].model_copy(update={"budget_fen": 100000}),
            }
        }
    )
    result = payouts.prepare(P("2026-04"), program="dibao", by="S003")
    with pytest.raises(BudgetExceeded):
        payouts.approve(result.run_id or "", by="S005")
    approval = payouts.approve(
        result.run_id or "", by="S005", override_reason="standard raised mid-year"
    )
    assert approval.run.approved_by == "S005"
    assert svc.db.query("SELECT override_reason FROM runs") == [("standard raised mid-year",)]


def test_held_payment_release_needs_another_person(svc: Services, payouts: Payouts) -> None:
    load(svc, "cases", FIXTURES / "cases.csv")
    load(svc, "deaths", FIXTURES / "deaths.csv")
    payouts.prepare(P("2026-06"), program="elderly", by="S003")
    ((pid,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    with pytest.raises(NotAuthorised):
        payouts.release(pid, by="S003", reason="checked")
    payouts.release(pid, by="S005", reason="death record was for a namesake; verified in person")
    # paid_after_death is critical: a second release, by a supervisor.
    assert svc.db.query("SELECT held FROM payments WHERE payment_id = ?", (pid,)) != [("",)]
    payouts.release(pid, by=SUPERVISOR, reason="seen the person, alive")
    assert svc.db.query("SELECT held FROM payments WHERE payment_id = ?", (pid,)) == [("",)]


def test_rebuilt_payout_read_models_equal_incremental_ones(
    svc: Services, payouts: Payouts, tmp_path: Path
) -> None:
    from projections.reports import payouts_report
    from projections.runner import catch_up, reset

    load(svc, "cases", FIXTURES / "cases.csv")
    run_month(payouts, "2026-05")
    load(svc, "deaths", FIXTURES / "deaths.csv")
    ended = fixture_row("C005").replace("2026-03-01,,", "2026-03-01,2026-04-30,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", ended))
    run_id = run_month(payouts, "2026-06")
    ((held,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    payouts.release(held, by=FINANCE_APPROVER, reason="verified alive at home visit")
    payouts.release(held, by=SUPERVISOR, reason="verified alive at home visit")

    def everything() -> dict[str, object]:
        tables = ("runs", "payments", "recoveries", "findings", "payouts_monthly")
        state: dict[str, object] = {
            t: sorted(svc.db.query(f"SELECT * FROM {t}"), key=repr) for t in tables
        }
        for period in ("2026-05", "2026-06"):
            for dims in (["program", "department", "region"], ["village", "kind"], []):
                state[f"{period}/{dims}"] = payouts_report(svc.db, period, dims)
        return state

    incremental = everything()
    assert incremental["recoveries"] and incremental["payouts_monthly"] and run_id
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models, page_size=7)
    assert everything() == incremental


def test_monthly_read_model_agrees_with_the_report(svc: Services, payouts: Payouts) -> None:
    from projections.reports import payouts_report

    load(svc, "cases", FIXTURES / "cases.csv")
    load(svc, "deaths", FIXTURES / "deaths.csv")
    run_month(payouts, "2026-06")
    report = {r["program"]: r["amount"] for r in payouts_report(svc.db, "2026-06", ["program"])}
    monthly = {
        program: f"{int(amount) // 100}.{int(amount) % 100:02d}"
        for program, amount in svc.db.query(
            "SELECT program, SUM(amount) FROM payouts_monthly WHERE period = '2026-06' "
            "AND kind <> 'recovery' GROUP BY program"
        )
    }
    assert report == monthly
    assert "elderly" not in report  # its only payment is held (beneficiary died)


def _planned_rows(svc: Services, table: str) -> float:
    """What PostgreSQL's planner takes ``table`` to hold (-1: never analyzed)."""
    return float(svc.db.query("SELECT reltuples FROM pg_class WHERE relname = ?", (table,))[0][0])


def test_prepare_plans_with_statistics_of_the_register_it_reads(
    svc: Services, payouts: Payouts
) -> None:
    # After a month's bulk import the planner knew `cases` as it was before the import and
    # sorted the whole register for every chunk: prepare brings the statistics up to date.
    if svc.db.dialect != "postgresql":
        pytest.skip("SQLite plans without statistics")
    svc.importer.import_file("cases", FIXTURES / "cases.csv", by="S001")
    cases = svc.db.query("SELECT COUNT(*) FROM cases")[0][0]
    assert _planned_rows(svc, "cases") != cases  # never analyzed: -1
    payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert _planned_rows(svc, "cases") == cases


def test_export_checks_its_lines_with_statistics_of_the_event_log(
    svc: Services, payouts: Payouts
) -> None:
    # Each line is checked against its payment's events, a query of the log per 500: planned
    # on an event log never analyzed, each was a parallel scan (418 s for a province).
    if svc.db.dialect != "postgresql":
        pytest.skip("SQLite plans without statistics")
    svc.importer.import_file("cases", FIXTURES / "cases.csv", by="S001")
    assert _planned_rows(svc, "aidledger_events") < 0  # never analyzed
    run_month(payouts, "2026-12")
    events = svc.db.query("SELECT COUNT(*) FROM aidledger_events")[0][0]
    assert 0 < _planned_rows(svc, "aidledger_events") <= events
