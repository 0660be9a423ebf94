"""Duties on the money's aggregates as pure rules: runs, payments, findings, recoveries.

No store: each aggregate is built from its events, the check is asked, and either the event is
triggered or the refusal names the rule.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ledger.duties import Actor, DutyRefused
from ledger.errors import AidLedgerError
from ledger.payment import (
    BudgetExceeded,
    Finding,
    Parties,
    Payment,
    PayoutRun,
    ReadModelTampered,
    Recovery,
    Released,
    RunBatch,
    RunClosed,
    RunReview,
    Tally,
    finding_aggregate_id,
    recovery_aggregate_id,
)

FINANCE = Actor("F1", frozenset({"finance"}), "610102")
APPROVER = Actor("FA1", frozenset({"finance_approver"}), "610102", "P-FA1", "ACC-FA1")
APPROVER_2 = Actor("FA2", frozenset({"finance_approver"}), "610102")
SUPERVISOR = Actor("SU1", frozenset({"supervisor"}), "610102")
SUPERVISOR_2 = Actor("SU2", frozenset({"supervisor"}), "610102")
AUDITOR = Actor("AU1", frozenset({"auditor"}), "610102")
INTERESTED = Actor("SU3", frozenset({"supervisor"}), "610102", "P-BENEFICIARY")


def payment(pid: str = "P1", amount: int = 100000, held: tuple[str, ...] = ()) -> Payment:
    event = Payment.instruction(
        by=FINANCE.staff_id,
        payment_id=pid,
        run_id="R202612-all-1",
        case_id="C1",
        program="dibao",
        department="civil_affairs",
        region_code="610102001001",
        period="2026-12",
        kind="regular",
        amount=amount,
        payment_date=date(2026, 12, 10),
        creditor_account="6228480000000000011",
        creditor_name="王秀兰",
        id_number="P-BENEFICIARY",
        held=held,
    )
    p: Payment = event.mutate(None)  # type: ignore[assignment]
    return p


def prepared_run(*payments: Payment, complete: bool = True) -> PayoutRun:
    run = PayoutRun.prepare(FINANCE, period="2026-12", scope="all", seq=1)
    batch = RunBatch()
    for p in payments:
        batch.tally = batch.tally.plus(p.share)
        batch.added += 1
        if p.held:
            batch.held_ids.append(p.payment_id)
    run.record_batch(FINANCE.staff_id, batch)
    if complete:
        run.finish(FINANCE.staff_id, through=10, added=len(payments), amended=0, cancelled=0)
    run.collect_events()
    return run


def review_of(run: PayoutRun, *held: Payment, **changes: Any) -> RunReview:
    """What a service would find for an untouched store: the read models equal the events."""
    held_tally = Tally()
    for p in held:
        held_tally = held_tally.plus(p.share)
    values: dict[str, Any] = {
        "read_model": run.tally,
        "read_model_held": frozenset(p.payment_id for p in held),
        "held": held_tally,
        "held_ids": frozenset(p.payment_id for p in held),
    }
    values.update(changes)
    return RunReview(**values)


def test_a_run_is_approved_by_a_finance_approver_other_than_its_preparer() -> None:
    paid, held = payment("P1"), payment("P2", 5000, ("staff_account",))
    run = prepared_run(paid, held)
    with pytest.raises(DutyRefused, match="needs the role finance_approver"):
        run.approve(FINANCE, review_of(run, held))
    both = Actor("F1", frozenset({"finance", "finance_approver"}), "610102")
    with pytest.raises(DutyRefused, match=r"prepared run .*: a second person must approve"):
        run.approve(both, review_of(run, held))
    payable = run.approve(APPROVER, review_of(run, held))
    assert (payable.payments, payable.amount) == (1, 100000)
    approved = run.collect_events()[-1]
    assert isinstance(approved, PayoutRun.Approved)
    assert (approved.payments, approved.held, approved.held_amount) == (1, 1, 5000)


def test_an_approver_with_an_interest_or_out_of_region_is_refused_naming_no_one() -> None:
    run = prepared_run(payment())
    with pytest.raises(DutyRefused, match="an interest in 2 of its payments") as refused:
        run.approve(APPROVER, review_of(run, interested=2))
    assert "P-BENEFICIARY" not in str(refused.value)
    with pytest.raises(DutyRefused, match="3 of its payments are outside"):
        run.approve(APPROVER, review_of(run, outside_scope=3))


def test_an_incomplete_or_stale_run_cannot_be_approved() -> None:
    unfinished = prepared_run(payment(), complete=False)
    with pytest.raises(RunClosed, match=r"not completely prepared.*prepare --period 2026-12"):
        unfinished.approve(APPROVER, review_of(unfinished))
    run = prepared_run(payment())
    with pytest.raises(RunClosed, match="stale: 4 case"):
        run.approve(APPROVER, review_of(run, stale=True, changed_cases=4))


def test_read_models_that_differ_from_the_events_are_refused_never_approved() -> None:
    p = payment()
    run = prepared_run(p)
    forged = Tally()
    forged.add(p.payment_id, 10203050, "6222999999999999", "王秀兰")
    with pytest.raises(ReadModelTampered, match="differ from what its events recorded"):
        run.approve(APPROVER, review_of(run, read_model=forged, tampered=("P1",)))
    # A held payment shown as not held in the read models is refused too.
    held = payment("P2", 5000, ("staff_account",))
    run = prepared_run(p, held)
    with pytest.raises(ReadModelTampered, match="hold back other payments"):
        run.approve(APPROVER, review_of(run, held, read_model_held=frozenset()))


def test_over_budget_needs_a_recorded_override() -> None:
    run = prepared_run(payment())
    with pytest.raises(BudgetExceeded, match="--override-reason"):
        run.approve(APPROVER, review_of(run, over_budget=("dibao 1000.00 > budget 500.00",)))
    run.approve(APPROVER, review_of(run, over_budget=("x",)), override_reason="mid-year raise")
    assert run.collect_events()[-1].override_reason == "mid-year raise"  # type: ignore[attr-defined]


def test_a_bank_file_must_hold_exactly_what_was_approved() -> None:
    p = payment()
    run = prepared_run(p)
    run.approve(APPROVER, review_of(run))
    batches = run.batches_to_export()
    forged = Tally()
    forged.add(p.payment_id, 100000, "6222999999999999", "王秀兰")  # another account
    with pytest.raises(ReadModelTampered, match="Nothing was written or sent"):
        run.record_export(
            FINANCE, batches=batches, written=forged, fmt="pain001", filename="x", sha256="0"
        )
    run.record_export(
        FINANCE, batches=batches, written=p.share, fmt="pain001", filename="x", sha256="0"
    )
    assert run.exported_batch == 1


def test_only_finance_cancels_and_only_an_unapproved_run() -> None:
    run = prepared_run(payment())
    with pytest.raises(DutyRefused):
        run.cancel(APPROVER, reason="typo")
    with pytest.raises(AidLedgerError, match="needs a reason"):
        run.cancel(FINANCE, reason=" ")
    run.cancel(FINANCE, reason="prepared for the wrong month")
    assert run.status == "cancelled"
    approved = prepared_run(payment())
    approved.approve(APPROVER, review_of(approved))
    with pytest.raises(RunClosed, match="already approved"):
        approved.cancel(FINANCE, reason="too late")


def test_a_release_is_by_a_finance_approver_or_supervisor_not_the_preparer() -> None:
    p = payment(held=("shared_account",))  # high, not critical: one release
    for who in (FINANCE, AUDITOR):
        with pytest.raises(DutyRefused, match=r"finance_approver .* or supervisor"):
            p.release(who, reason="ok", run_preparers={"F1"}, run_approved=False)
    preparer = Actor("F1", frozenset({"finance", "supervisor"}), "610102")
    with pytest.raises(DutyRefused, match="the preparer may not release"):
        p.release(preparer, reason="ok", run_preparers={"F1"}, run_approved=False)
    with pytest.raises(DutyRefused, match="interest"):
        p.release(INTERESTED, reason="ok", run_preparers={"F1"}, run_approved=False)
    p.release(SUPERVISOR, reason="one household", run_preparers={"F1"}, run_approved=False)
    assert p.held == ()


def test_a_critical_hold_needs_two_releases_the_second_by_another_a_supervisor() -> None:
    p = payment(held=("paid_after_death",))
    p.release(APPROVER, reason="namesake", run_preparers={"F1"}, run_approved=False)
    assert p.held == ("paid_after_death",), "still held after the first release"
    with pytest.raises(DutyRefused, match="already released"):
        p.release(APPROVER, reason="again", run_preparers={"F1"}, run_approved=False)
    with pytest.raises(DutyRefused, match=r"second release .* needs a supervisor"):
        p.release(APPROVER_2, reason="again", run_preparers={"F1"}, run_approved=False)
    p.release(SUPERVISOR, reason="seen alive", run_preparers={"F1"}, run_approved=False)
    assert p.held == ()


def test_a_payment_released_after_approval_waits_for_another_approval() -> None:
    held = payment("P2", 5000, ("shared_account",))
    run = prepared_run(payment("P1"), held)
    run.approve(APPROVER, review_of(run, held))
    held.release(APPROVER, reason="ok", run_preparers={"F1"}, run_approved=True)
    released = held.collect_events()[-1]
    assert isinstance(released, Payment.Released) and released.needs_approval
    waiting = Released("P2", ("FA1",), held.share, interested=False)
    with pytest.raises(DutyRefused, match="FA1 released 1 of these payments"):
        run.approve_releases(APPROVER, [waiting])
    with pytest.raises(DutyRefused, match="interest in 1 of the released"):
        run.approve_releases(APPROVER_2, [Released("P2", ("FA1",), held.share, True)])
    total = run.approve_releases(APPROVER_2, [waiting])
    assert (total.payments, total.amount) == (1, 5000)
    assert run.batches_to_export() == (1, 2)


def finding(severity: str = "high") -> Finding:
    f: Finding = Finding._create(
        Finding.Raised,
        id=finding_aggregate_id("F-1"),
        by="reconcile",
        finding_id="F-1",
        type="shared_account" if severity == "high" else "staff_account",
        severity=severity,
        period="2026-12",
        program="dibao",
        department="civil_affairs",
        region_code="610102001001",
        case_id="C1",
        payment_id="P1",
        amount=100000,
        detail="",
    )
    return f


PARTIES = Parties(frozenset({"P-BENEFICIARY"}), frozenset({"6228480000000000011"}))


def test_a_finding_is_resolved_by_a_supervisor_or_finance_approver_without_interest() -> None:
    f = finding()
    with pytest.raises(DutyRefused):
        f.resolve(AUDITOR, resolution="corrected", comment="", parties=PARTIES)
    with pytest.raises(DutyRefused, match="interest"):
        f.resolve(INTERESTED, resolution="false_positive", comment="", parties=PARTIES)
    f.resolve(APPROVER, resolution="corrected", comment="bank resent", parties=PARTIES)
    assert f.status == "resolved"
    with pytest.raises(RunClosed, match="already resolved"):
        f.resolve(SUPERVISOR, resolution="corrected", comment="", parties=PARTIES)


def test_a_critical_false_positive_needs_a_supervisor() -> None:
    f = finding("critical")
    with pytest.raises(DutyRefused, match="only a supervisor may resolve it as false_positive"):
        f.resolve(APPROVER, resolution="false_positive", comment="", parties=PARTIES)
    f.resolve(SUPERVISOR, resolution="false_positive", comment="a namesake", parties=PARTIES)


def test_auditors_comment_supervisors_assign_to_someone_without_interest() -> None:
    f = finding()
    f.comment(AUDITOR, text="asked for the bank statement")
    with pytest.raises(DutyRefused):
        f.assign(AUDITOR, to=SUPERVISOR_2, parties=PARTIES)
    with pytest.raises(DutyRefused, match="interest"):
        f.assign(SUPERVISOR, to=INTERESTED, parties=PARTIES)
    f.assign(SUPERVISOR, to=SUPERVISOR_2, parties=PARTIES)


def recovery(amount: int = 100000) -> Recovery:
    r: Recovery = Recovery._create(
        Recovery.Raised,
        id=recovery_aggregate_id("REC1"),
        by="F1",
        recovery_id="REC1",
        run_id="R202612-all-1",
        case_id="C1",
        program="dibao",
        department="civil_affairs",
        region_code="610102001001",
        period="2026-11",
        amount=amount,
        paid=amount,
        owed=0,
        reason="death",
    )
    return r


def test_a_recovery_is_collected_by_finance_in_parts_never_above_what_is_outstanding() -> None:
    r = recovery()
    with pytest.raises(RunClosed, match="not owed"):
        r.collect(FINANCE, amount=100, reason="receipt 1", run_approved=False, parties=Parties())
    with pytest.raises(DutyRefused):
        r.collect(SUPERVISOR, amount=100, reason="x", run_approved=True, parties=Parties())
    r.collect(FINANCE, amount=40000, reason="receipt 1", run_approved=True, parties=Parties())
    assert (r.outstanding, r.status) == (60000, "open")
    with pytest.raises(AidLedgerError, match=r"more than the 600.00 outstanding"):
        r.collect(FINANCE, amount=60001, reason="r", run_approved=True, parties=Parties())
    r.collect(FINANCE, amount=60000, reason="receipt 2", run_approved=True, parties=Parties())
    assert (r.outstanding, r.status) == (0, "collected")


def test_only_a_supervisor_waives_and_not_their_own_relatives() -> None:
    r = recovery()
    with pytest.raises(DutyRefused):
        r.waive(FINANCE, reason="poor", run_approved=True, parties=PARTIES)
    with pytest.raises(DutyRefused, match="interest"):
        r.waive(INTERESTED, reason="poor", run_approved=True, parties=PARTIES)
    r.waive(SUPERVISOR, reason="household destitute", run_approved=True, parties=PARTIES)
    assert (r.status, r.outstanding) == ("waived", 0)
