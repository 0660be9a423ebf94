"""Payout controls that hold, on both stores: interrupted and stale runs, a tampered read model,
cancel, release after approval, recoveries only for money sent, 应退尽退, config in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aidledger.wiring import Services
from disbursement.recoveries import Recoveries
from disbursement.runs import Payouts
from eligibility.deceased import Deceased
from ledger import chain
from ledger.duties import DutyRefused
from ledger.errors import AidLedgerError, ConfigError, InputRefused, InvalidValue, NotAuthorised
from ledger.payment import BudgetExceeded, ReadModelTampered, RunClosed
from ledger.period import Period
from ledger.store import EventBatch
from projections.reports import payouts_report
from tests.builders import (
    ADMIN,
    FINANCE,
    FINANCE_APPROVER,
    FINANCE_APPROVER_2,
    SUPERVISOR,
    case_rows,
    fixture_row,
    load,
    with_staff,
    write_file,
)
from tests.conftest import FIXTURES

P = Period.parse


@pytest.fixture
def county(svc: Services) -> Services:
    """The fixture staff and cases, imported."""
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    return svc


def payouts(svc: Services, **attrs: Any) -> Payouts:
    p = svc.payouts
    for k, v in attrs.items():
        setattr(p, k, v)
    return p


def payments(svc: Services, run_id: str) -> list[tuple[str, int, str, str]]:
    return [
        (pid, int(a), acct, held)
        for pid, a, acct, held in svc.db.query(
            "SELECT payment_id, amount, creditor_account, held FROM payments "
            "WHERE run_id = ? AND cancelled = 0 ORDER BY payment_id",
            (run_id,),
        )
    ]


def exported(svc: Services, period: str, out: Path) -> str:
    """Prepare, approve and export a month: its money sent."""
    run = svc.payouts.prepare(P(period), program=None, by=FINANCE)
    assert run.run_id
    svc.payouts.approve(run.run_id, by=FINANCE_APPROVER)
    svc.payouts.export(run.run_id, fmt="pain001", out=out / f"{period}.xml", by=FINANCE)
    return run.run_id


class Crash(Exception):
    pass


def test_an_interrupted_prepare_cannot_be_approved_and_the_next_completes_the_same_run(
    county: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")  # a held payment and its finding too
    p = payouts(svc, batch_events=2, chunk_cases=2)
    flush, flushes = EventBatch.flush, [0]

    def dying(self: EventBatch) -> None:
        flushes[0] += 1
        if flushes[0] == 3:  # killed between two transactions
            raise Crash
        flush(self)

    monkeypatch.setattr(EventBatch, "flush", dying)
    with pytest.raises(Crash):
        p.prepare(P("2026-06"), program=None, by=FINANCE)
    monkeypatch.setattr(EventBatch, "flush", flush)
    svc.sync()  # what the next command does first
    ((run_id, complete, written),) = svc.db.query("SELECT run_id, complete, payments FROM runs")
    assert (complete, 0 < int(written) < 5) == (0, True)
    assert svc.payouts.review.list_runs()[0]["status"] == "incomplete"
    with pytest.raises(RunClosed, match="not completely prepared"):
        svc.payouts.approve(run_id, by=FINANCE_APPROVER)

    again = p.prepare(P("2026-06"), program=None, by=FINANCE)
    assert again.run_id == run_id and not again.new_run
    assert svc.db.query("SELECT COUNT(*), MIN(complete) FROM runs") == [(1, 1)]
    assert len(payments(svc, run_id)) == 5
    # Exactly what a fresh prepare pays: preparing once more changes nothing, records nothing.
    head = svc.app.recorder.max_notification_id()
    up_to_date = p.prepare(P("2026-06"), program=None, by=FINANCE)
    assert (up_to_date.added, up_to_date.amended, up_to_date.cancelled) == (0, 0, 0)
    assert svc.app.recorder.max_notification_id() == head
    assert svc.db.query("SELECT COUNT(*) FROM findings") == [(1,)]
    svc.payouts.approve(run_id, by=FINANCE_APPROVER)


@pytest.mark.parametrize("when", ["before approval", "after approval"])
def test_a_payments_row_changed_behind_the_application_is_refused_never_sent(
    county: Services, tmp_path: Path, when: str
) -> None:
    svc = county
    run_id = svc.payouts.prepare(P("2026-04"), program=None, by=FINANCE).run_id or ""
    if when == "after approval":
        svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    # Someone with database access sends C002's money (1180.50) elsewhere, a hundred times over.
    with svc.db.transaction() as tx:
        tx.execute(
            "UPDATE payments SET amount = 10203050, creditor_account = '6222999999999999' "
            "WHERE case_id = 'C002'"
        )
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "run.xml"
    if when == "before approval":
        with pytest.raises(ReadModelTampered, match="differ from what its events recorded") as e:
            svc.payouts.approve(run_id, by=FINANCE_APPROVER)
        # Each payment's row against its own events (`Review.tampered`) names the one changed.
        (changed,) = svc.db.query("SELECT payment_id FROM payments WHERE case_id = 'C002'")
        assert str(e.value).split("; payments differing: ")[1].startswith(f"{changed[0]}.")
        assert svc.db.query("SELECT status FROM runs") == [("prepared",)]
    else:
        with pytest.raises(ReadModelTampered, match="Nothing was written or sent"):
            svc.payouts.export(run_id, fmt="pain001", out=out, by=FINANCE)
        assert svc.db.query("SELECT status FROM runs") == [("approved",)]
    assert list((tmp_path / "out").iterdir()) == [], "no bank file, no partial file"
    assert chain.verify(svc.db).ok, "the log itself was not touched"


@pytest.mark.parametrize(
    "change",
    [
        "creditor_account = '6217000000000000103'",
        "creditor_name = '钱七'",
        "amount = amount + 1",
        "kind = 'arrears'",
        "period = '2026-03'",
        "payment_date = '2026-04-11'",
    ],
)
def test_every_line_of_a_bank_file_is_checked_against_its_events_even_when_the_digest_is_fooled(
    county: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The run's digest is a sum of hashes: changes to many rows can be forged to leave the sum
    as it was. Stand for such a forgery with a digest blind to everything but the payment id:
    any field of a line changed behind the application (here each one the bank file shows) is
    still refused, line by line, against the payment's own instruction as the log holds it,
    before anything is written."""
    import ledger.payment

    svc = county
    real = ledger.payment.payment_digest
    monkeypatch.setattr(
        ledger.payment,
        "payment_digest",
        lambda pid, amount, account, name: real(pid, 0, "", ""),
    )
    run_id = svc.payouts.prepare(P("2026-04"), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    with svc.db.transaction() as tx:
        tx.execute(f"UPDATE payments SET {change} WHERE case_id = 'C002'")
    (tmp_path / "out").mkdir()
    with pytest.raises(ReadModelTampered, match=r"1 payment\(s\) of the bank file differ"):
        svc.payouts.export(run_id, fmt="pain001", out=tmp_path / "out" / "r.xml", by=FINANCE)
    assert list((tmp_path / "out").iterdir()) == []
    assert svc.db.query("SELECT status FROM runs") == [("approved",)]


STAFF_S003_ACCOUNT = "6217000000000000103"
NEW_CASE = (
    "C007,tekun,610102001003,赵六,610102196002020099,1,1500.00,2026-11-01,,{account},赵六,S001,S002"
)


def test_arrears_are_paid_to_the_account_the_case_has_now_never_an_earlier_one(
    county: Services, tmp_path: Path
) -> None:
    """A case recorded late for November with a staff member's card, its account then changed
    from December: November's arrears go to the card it has now, which the checks looked at."""
    svc = county
    exported(svc, "2026-11", tmp_path)
    load(svc, "cases", case_rows(tmp_path, "c7.csv", NEW_CASE.format(account=STAFF_S003_ACCOUNT)))
    clean = NEW_CASE.format(account="6228480000000000777").replace("2026-11-01", "2026-12-01")
    load(svc, "cases", case_rows(tmp_path, "c7-card.csv", clean))
    run_id = svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE).run_id
    paid = svc.db.query(
        "SELECT period, kind, creditor_account, held FROM payments "
        "WHERE run_id = ? AND case_id = 'C007' ORDER BY period",
        (run_id,),
    )
    assert paid == [
        ("2026-11", "arrears", "6228480000000000777", ""),
        ("2026-12", "regular", "6228480000000000777", ""),
    ]


def test_arrears_of_a_case_ended_before_the_month_are_held_as_a_regular_payment_would_be(
    county: Services, tmp_path: Path
) -> None:
    """November only, to a staff member's card, recorded after November's run: the case is not
    in effect in December, yet its arrears are checked like any payment and held."""
    svc = county
    exported(svc, "2026-11", tmp_path)
    november = NEW_CASE.format(account=STAFF_S003_ACCOUNT).replace(
        "2026-11-01,,", "2026-11-01,2026-11-30,"
    )
    load(svc, "cases", case_rows(tmp_path, "c7.csv", november))
    run_id = svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE).run_id
    assert svc.db.query(
        "SELECT period, kind, held FROM payments WHERE run_id = ? AND case_id = 'C007'", (run_id,)
    ) == [("2026-11", "arrears", "staff_account")]


def test_a_held_payment_marked_payable_behind_the_application_is_not_exported(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")
    run_id = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    with svc.db.transaction() as tx:
        tx.execute("UPDATE payments SET held = '' WHERE held <> ''")
    with pytest.raises(ReadModelTampered):
        svc.payouts.export(run_id, fmt="csv", out=tmp_path / "run.csv", by=FINANCE)
    assert not (tmp_path / "run.csv").exists()


def test_a_run_prepared_before_new_decisions_is_stale_until_prepared_again(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    exported(svc, "2026-11", tmp_path)
    run_id = svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE).run_id or ""
    before = payments(svc, run_id)
    raised = fixture_row("C001").replace("1560.00,2026-01-01", "1660.00,2026-12-01")
    new_card = fixture_row("C002").replace("6228480000000000012", "6228480000000000099")
    new_card = new_card.replace("2026-02-01", "2026-12-01")
    ended = fixture_row("C005").replace("2026-03-01,,", "2026-03-01,2026-11-30,")
    load(svc, "cases", case_rows(tmp_path, "changes.csv", raised, new_card, ended))
    (listed,) = svc.payouts.review.list_runs("2026-12")
    assert listed["stale"] is True
    assert svc.payouts.review.show(run_id)["changed_cases"] == 3
    with pytest.raises(RunClosed, match="stale: 3 case"):
        svc.payouts.approve(run_id, by=FINANCE_APPROVER)

    again = svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert (again.run_id, again.added, again.amended, again.cancelled) == (run_id, 0, 2, 1)
    assert svc.payouts.review.list_runs("2026-12")[0]["stale"] is False
    after = {pid: (amount, account) for pid, amount, account, _ in payments(svc, run_id)}
    assert len(after) == len(before) - 1  # C005 ended with November
    assert sorted(after.values()) == sorted(
        [
            (166000, "6228480000000000011"),
            (118050, "6228480000000000099"),
            (20000, "6228480000000000013"),
            (9050, "6228480000000000014"),
        ]
    )
    approval = svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    assert approval.payable.amount == 166000 + 118050 + 20000 + 9050


def test_a_critical_hold_is_lifted_by_its_two_releases_never_by_a_register_changed_since(
    county: Services, tmp_path: Path
) -> None:
    """C003's holder is reported dead on 2026-04-12: June is held. One caseworker moves the
    date of death past June, prepares again, even cancels and prepares anew: still held. Only
    two releases, the second by a supervisor, let it go."""
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")
    run_id = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""

    def c003(run: str) -> list[tuple[str, str]]:
        return [
            (pid, held)
            for pid, _, _, held in payments(svc, run)
            if svc.db.query("SELECT case_id FROM payments WHERE payment_id = ?", (pid,))[0][0]
            == "C003"
        ]

    ((pid, held),) = c003(run_id)
    assert held == "paid_after_death"
    moved = write_file(
        tmp_path, "later.csv", "id_number,date_of_death,source", "610102193505050050,2026-11-05,x"
    )
    load(svc, "deaths", moved)
    svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE)
    assert c003(run_id) == [(pid, "paid_after_death")]
    svc.payouts.cancel(run_id, by=FINANCE, reason="prepare it anew")
    again = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""
    assert c003(again) == [(pid, "paid_after_death")]
    svc.payouts.release(pid, by=FINANCE_APPROVER, reason="the feed corrected the date")
    assert c003(again) == [(pid, "paid_after_death")]  # a first release of a critical hold
    svc.payouts.release(pid, by=SUPERVISOR, reason="checked with the police station")
    assert c003(again) == [(pid, "")]
    svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE)
    assert c003(again) == [(pid, "")]


def test_a_release_stands_through_later_prepares_while_the_hold_it_lifted_is_unchanged(
    county: Services, tmp_path: Path
) -> None:
    """C006 shares C001's account: both held (shared_account). C001's is released, then its
    amount changes and the run is prepared again, and again: still released, and the last
    prepare, with nothing new, records nothing."""
    svc = county
    shared = NEW_CASE.format(account="6228480000000000011").replace("C007", "C006")
    load(svc, "cases", case_rows(tmp_path, "c6.csv", shared))
    run_id = svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE).run_id or ""
    ((pid,),) = svc.db.query(
        "SELECT payment_id FROM payments WHERE case_id = 'C001' AND held = 'shared_account'"
    )
    svc.payouts.release(pid, by=FINANCE_APPROVER, reason="a couple's joint account")
    raised = fixture_row("C001").replace("1560.00,2026-01-01", "1660.00,2026-12-01")
    load(svc, "cases", case_rows(tmp_path, "raise.csv", raised))
    svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    held = "SELECT amount, held FROM payments WHERE payment_id = ?"
    assert svc.db.query(held, (pid,)) == [(166000, "")]
    before = svc.app.recorder.max_notification_id()
    svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE)
    assert svc.db.query(held, (pid,)) == [(166000, "")]
    assert svc.app.recorder.max_notification_id() == before
    svc.payouts.approve(run_id, by=FINANCE_APPROVER_2)


def relatives_file(tmp_path: Path, *rows: str) -> Path:
    return write_file(tmp_path, "relatives.csv", "staff_id,id_number,relation", *rows)


def test_the_actor_read_by_key_is_the_actor_of_the_whole_registry(
    county: Services, tmp_path: Path
) -> None:
    from projections.registers import load_directory

    svc = county
    load(
        svc,
        "relatives",
        relatives_file(
            tmp_path,
            "S005,610102198004040041,配偶",
            "S005,610102196002020021,父亲",
            "S002,610102196002020021,父亲",
        ),
    )
    registry = load_directory(svc.db)
    staff_ids = sorted(registry.terms)
    assert len(staff_ids) >= 8
    for staff_id in staff_ids:
        assert svc.payouts.actor(staff_id) == registry.actor(staff_id, svc.payouts.today)
    assert len(svc.payouts.actor("S005").relatives) == 2
    with pytest.raises(DutyRefused, match="not in the staff registry"):
        svc.payouts.actor("S999")


def test_a_cancelled_run_pays_nothing_and_the_next_prepare_pays_the_same_ids(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    first = svc.payouts.prepare(P("2026-04"), program=None, by=FINANCE).run_id or ""
    ids = [p[0] for p in payments(svc, first)]
    with pytest.raises(DutyRefused):
        svc.payouts.cancel(first, by=FINANCE_APPROVER, reason="wrong month")
    svc.payouts.cancel(first, by=FINANCE, reason="prepared before the standard was raised")
    with pytest.raises(RunClosed, match="cancelled"):
        svc.payouts.approve(first, by=FINANCE_APPROVER)
    second = svc.payouts.prepare(P("2026-04"), program=None, by=FINANCE).run_id or ""
    assert second == first.replace("-1", "-2")
    assert [p[0] for p in payments(svc, second)] == ids  # the same EndToEndIds
    assert payments(svc, first) == []
    svc.payouts.approve(second, by=FINANCE_APPROVER)
    rows = payouts_report(svc.db, "2026-04", [])
    assert (rows[0]["payments"], rows[0]["amount"]) == (5, "5111.00")
    assert [r["status"] for r in svc.payouts.review.list_runs()] == ["approved", "cancelled"]


def test_a_payment_released_after_approval_is_exported_after_a_second_approval(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    # C003's beneficiary died on 2026-04-12: June's payment is held (critical).
    load(svc, "deaths", FIXTURES / "deaths.csv")
    run_id = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    x = svc.payouts.export(run_id, fmt="pain001", out=tmp_path / "1.xml", by=FINANCE)
    assert x.payments == 4 and x.awaiting == 0
    ((held,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    svc.payouts.release(held, by=FINANCE_APPROVER, reason="namesake in the death feed")
    svc.payouts.release(held, by=SUPERVISOR, reason="visited: alive")
    # Not in the next file until a finance approver who released none of it approves it.
    with pytest.raises(AidLedgerError, match="re-export writes them again"):
        svc.payouts.export(run_id, fmt="pain001", out=tmp_path / "2.xml", by=FINANCE)
    again = svc.payouts.export(
        run_id, fmt="pain001", out=tmp_path / "2.xml", by=FINANCE, reason="bank lost it"
    )
    assert (again.payments, again.awaiting) == (4, 1)
    with pytest.raises(NotAuthorised, match="released 1 of these payments"):
        svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    svc.payouts.approve(run_id, by=FINANCE_APPROVER_2)
    third = svc.payouts.export(run_id, fmt="pain001", out=tmp_path / "3.xml", by=FINANCE)
    assert (third.payments, third.amount, third.batches) == (1, 20000, (2, 2))
    assert held.encode() in (tmp_path / "3.xml").read_bytes()
    assert held.encode() not in (tmp_path / "1.xml").read_bytes()
    finding_events = [e["type"] for e in svc.reconciliation.history(_finding_of(svc, held))]
    assert finding_events.count("FindingPaymentReleased") == 2


def test_whoever_released_a_payment_before_the_approval_may_not_approve_the_run(
    county: Services,
) -> None:
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")
    run_id = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""
    ((held,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    svc.payouts.release(held, by=FINANCE_APPROVER, reason="namesake in the death feed")
    svc.payouts.release(held, by=SUPERVISOR, reason="visited: alive")
    with pytest.raises(NotAuthorised, match=r"released payments of run .*four eyes"):
        svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    svc.payouts.approve(run_id, by=FINANCE_APPROVER_2)


OTHER_COUNTY = (
    "S011,钱多多,610103198303030157,6217000000000000111,finance,610102009",
    "S012,孙少,61010319840404016X,6217000000000000112,finance_approver,610102009",
)


def test_another_countys_finance_staff_may_not_cancel_export_or_approve_releases_of_a_run(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    staff = (FIXTURES / "staff.csv").read_text(encoding="utf-8").splitlines()
    load(svc, "staff", write_file(tmp_path, "staff2.csv", staff[0], *staff[1:], *OTHER_COUNTY))
    load(svc, "deaths", FIXTURES / "deaths.csv")
    run_id = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""
    with pytest.raises(NotAuthorised, match=r"may not cancel run .* outside S011's region"):
        svc.payouts.cancel(run_id, by="S011", reason="mine now")
    svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    (tmp_path / "out").mkdir()
    with pytest.raises(NotAuthorised, match=r"may not export run .* outside S011's region"):
        svc.payouts.export(run_id, fmt="pain001", out=tmp_path / "out" / "r.xml", by="S011")
    assert list((tmp_path / "out").iterdir()) == []
    ((held,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    svc.payouts.release(held, by=FINANCE_APPROVER, reason="namesake")
    svc.payouts.release(held, by=SUPERVISOR, reason="visited: alive")
    with pytest.raises(NotAuthorised, match="may not approve released payments of run"):
        svc.payouts.approve(run_id, by="S012")
    svc.payouts.approve(run_id, by=FINANCE_APPROVER_2)


def test_payments_released_after_the_approval_stay_within_the_budget_or_need_an_override(
    county: Services,
) -> None:
    """June's elderly run holds its one payment (C003's 200.00: reported dead) and pays 0.00
    within a budget of 100.00; releasing C003's 200.00 after the approval would exceed it."""
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")
    elderly = svc.config.programs["elderly"].model_copy(update={"budget_fen": 10000})
    svc.payouts.config = svc.config.model_copy(
        update={"programs": {**svc.config.programs, "elderly": elderly}}
    )
    run_id = svc.payouts.prepare(P("2026-06"), program="elderly", by=FINANCE).run_id or ""
    svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    ((held,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    svc.payouts.release(held, by=FINANCE_APPROVER, reason="namesake")
    svc.payouts.release(held, by=SUPERVISOR, reason="visited: alive")
    with pytest.raises(BudgetExceeded, match=r"elderly 200.00 > budget 100.00"):
        svc.payouts.approve(run_id, by=FINANCE_APPROVER_2)
    svc.payouts.approve(run_id, by=FINANCE_APPROVER_2, override_reason="the county topped it up")


def test_a_prepare_that_withdraws_its_own_recovery_leaves_its_run_up_to_date(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    exported(svc, "2026-06", tmp_path)
    ended = fixture_row("C005").replace("2026-03-01,,", "2026-03-01,2026-05-31,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", ended))
    july = svc.payouts.prepare(P("2026-07"), program=None, by=FINANCE).run_id or ""
    assert svc.db.query("SELECT case_id, status FROM recoveries") == [("C005", "open")]
    load(svc, "cases", case_rows(tmp_path, "again.csv", fixture_row("C005")))
    svc.payouts.prepare(P("2026-07"), program=None, by=FINANCE)
    assert svc.db.query("SELECT case_id, status FROM recoveries") == [("C005", "withdrawn")]
    assert svc.payouts.review.list_runs("2026-07")[0]["stale"] is False
    svc.payouts.approve(july, by=FINANCE_APPROVER)


def _finding_of(svc: Services, pid: str) -> str:
    ((fid,),) = svc.db.query("SELECT finding_id FROM findings WHERE payment_id = ?", (pid,))
    return str(fid)


def test_recoveries_are_raised_only_for_money_sent(county: Services, tmp_path: Path) -> None:
    svc = county
    exported(svc, "2026-06", tmp_path)  # June sent
    july = svc.payouts.prepare(P("2026-07"), program=None, by=FINANCE).run_id or ""
    svc.payouts.approve(july, by=FINANCE_APPROVER)  # July approved, never exported
    ended = fixture_row("C005").replace("2026-03-01,,", "2026-03-01,2026-05-31,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", ended))
    # C003 died 2026-04-12: June's payment to it was sent (no death known then).
    load(svc, "deaths", FIXTURES / "deaths.csv")
    svc.payouts.prepare(P("2026-08"), program=None, by=FINANCE)
    owed = sorted(
        (c, p, r) for c, p, r in svc.db.query("SELECT case_id, period, reason FROM recoveries")
    )
    assert owed == [("C003", "2026-06", "death"), ("C005", "2026-06", "terminated")]


def test_the_recoveries_register_collects_in_parts_and_waives(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    exported(svc, "2026-06", tmp_path)
    ended = fixture_row("C005").replace("2026-03-01,,", "2026-03-01,2026-05-31,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", ended))
    run = svc.payouts.prepare(P("2026-07"), program=None, by=FINANCE).run_id or ""
    register = svc.service(Recoveries)
    assert register.list() == [], "not owed before its run is approved"
    svc.payouts.approve(run, by=FINANCE_APPROVER)
    ((rid, amount, collected, outstanding, status),) = [
        (r["recovery_id"], r["amount"], r["collected"], r["outstanding"], r["status"])
        for r in register.list()
    ]
    assert (amount, collected, outstanding, status) == ("2080.00", "0.00", "2080.00", "open")
    register.collect(rid, amount=50000, by=FINANCE, reason="receipt 0012")
    with pytest.raises(Exception, match=r"more than the 1580.00 outstanding"):
        register.collect(rid, amount=158001, by=FINANCE, reason="receipt 0013")
    with pytest.raises(DutyRefused):
        register.waive(rid, by=FINANCE, reason="poor")
    register.waive(rid, by=SUPERVISOR, reason="household destitute after the death")
    (row,) = register.list(status="all")
    assert (row["collected"], row["outstanding"], row["status"]) == ("500.00", "0.00", "waived")
    assert register.list(status="open") == []


def test_end_deceased_ends_each_case_once_and_they_stop_raising_holds(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")  # C003's beneficiary died 2026-04-12
    deceased = svc.service(Deceased)
    head = svc.app.recorder.max_notification_id()
    dry = deceased.end_deceased(as_of=P("2026-12").first_day, by="S001", dry_run=True)
    assert [(e.case_id, e.date_of_death.isoformat()) for e in dry.ended] == [("C003", "2026-04-12")]
    assert svc.app.recorder.max_notification_id() == head, "a dry run records nothing"
    with pytest.raises(DutyRefused):
        deceased.end_deceased(as_of=P("2026-12").first_day, by=FINANCE, dry_run=False)
    done = deceased.end_deceased(as_of=P("2026-12").first_day, by="S001", dry_run=False)
    assert [e.case_id for e in done.ended] == ["C003"]
    assert svc.db.query("SELECT effective_to FROM cases WHERE case_id = 'C003'") in (
        [("2026-04-12",)],
        [(P("2026-04").day(12),)],
    )
    again = deceased.end_deceased(as_of=P("2026-12").first_day, by="S001", dry_run=False)
    assert again.ended == []
    result = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE)
    assert result.held == 0 and svc.db.query("SELECT COUNT(*) FROM findings") == [(0,)]
    # The old system's register still has the case open: that row is refused, by line.
    with pytest.raises(InputRefused, match="C003: its holder is reported dead on 2026-04-12"):
        load(svc, "cases", case_rows(tmp_path, "again.csv", fixture_row("C003")))


def test_no_decision_keeps_a_dead_holders_case_in_effect_after_the_death(
    county: Services, tmp_path: Path
) -> None:
    """C003's holder died 2026-04-12. The month's register repeating the case as it stands
    passes (end-deceased has not run yet); a raise, a reinstatement in two steps, or a new
    case for the same person are refused by line; end-deceased then ends even a case that
    began after the death."""
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")
    load(svc, "cases", case_rows(tmp_path, "same.csv", fixture_row("C003")))  # unchanged
    raised = fixture_row("C003").replace(",200,2026-01-01,", ",300,2026-05-01,")
    with pytest.raises(InputRefused, match="line 2, column effective_to: case C003: its holder"):
        load(svc, "cases", case_rows(tmp_path, "raise.csv", raised))
    before_death = fixture_row("C003").replace("2026-01-01,,", "2026-01-01,2026-04-11,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", before_death))  # ends it: allowed
    with pytest.raises(InputRefused, match="C003: its holder is reported dead"):
        reopen = case_rows(tmp_path, "reopen.csv", fixture_row("C001"), fixture_row("C003"))
        load(svc, "cases", reopen)
    new = fixture_row("C003").replace("C003,", "C009,").replace("2026-01-01,,", "2026-06-01,,")
    with pytest.raises(InputRefused, match="C009: its holder is reported dead"):
        load(svc, "cases", case_rows(tmp_path, "new.csv", new))
    # A case recorded before the death was known, starting after it, is ended too.
    late = write_file(
        tmp_path, "d2.csv", "id_number,date_of_death,source", "610102198004040041,2026-02-01,x"
    )
    load(svc, "deaths", late)  # C005 (from 2026-03-01) belongs to someone dead since February
    done = svc.service(Deceased).end_deceased(
        as_of=P("2026-12").first_day, by="S001", dry_run=False
    )
    assert [e.case_id for e in done.ended] == ["C005"]
    assert svc.payouts.prepare(P("2026-06"), program="dibao", by=FINANCE).payments == 1  # C001


def test_a_dibao_holder_s_death_leaves_a_household_to_reassess(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    deaths = write_file(
        tmp_path, "d.csv", "id_number,date_of_death,source", "610102195001010011,2026-05-02,公安"
    )
    load(svc, "deaths", deaths)
    done = svc.service(Deceased).end_deceased(
        as_of=P("2026-06").first_day, by="S001", dry_run=False
    )
    assert [(e.case_id, e.household_to_reassess) for e in done.ended] == [("C001", True)]


def test_the_programs_config_is_applied_in_the_store_and_used_from_its_day(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    shipped = svc.configs
    text = (FIXTURES.parent.parent / "ledger" / "programs.toml").read_text(encoding="utf-8")
    budgeted = text.replace(
        'max_monthly = "5000.00"\nmid_month = "first_day"',
        'max_monthly = "5000.00"\nmid_month = "first_day"\nbudget = "1000.00"',
        1,
    )
    path = tmp_path / "programs.toml"
    path.write_text(budgeted, encoding="utf-8")
    with pytest.raises(DutyRefused, match="admin"):
        shipped.apply(path, effective_from=None, by=FINANCE)
    applied = shipped.apply(path, effective_from=None, by=ADMIN)
    assert applied.recorded and not shipped.apply(path, effective_from=None, by=ADMIN).recorded
    bad = tmp_path / "bad.toml"
    bad.write_text("[programs.dibao]\nname = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        shipped.apply(bad, effective_from=None, by=ADMIN)
    # A new process reads the config in force today from the store: dibao has a budget.
    from aidledger.wiring import open_services

    reopened = open_services(svc.settings)
    try:
        assert reopened.config.programs["dibao"].budget_fen == 100000
        run = reopened.payouts.prepare(P("2026-04"), program="dibao", by=FINANCE).run_id or ""
        from disbursement.runs import BudgetExceeded

        with pytest.raises(BudgetExceeded):
            reopened.payouts.approve(run, by=FINANCE_APPROVER)
    finally:
        reopened.close()


def first_program(text: str) -> str:
    """The program whose table comes first in a config's text."""
    line = next(x for x in text.splitlines() if x.startswith("[programs."))
    return line.strip("[]").split(".")[1]


def test_a_config_coming_into_force_after_the_prepare_makes_the_run_stale_and_moves_its_day(
    county: Services, tmp_path: Path
) -> None:
    """A config applied on the 15th, in force from the 20th, moves a program's payment day: on
    the 21st the run prepared on the 15th is stale, and prepared again pays on the new day."""
    from aidledger.wiring import open_services

    svc = county
    text = (FIXTURES.parent.parent / "ledger" / "programs.toml").read_text(encoding="utf-8")
    day = next(line for line in text.splitlines() if line.startswith("payment_day"))
    path = tmp_path / "programs.toml"
    path.write_text(text.replace(day, "payment_day = 25", 1), encoding="utf-8")
    svc.configs.apply(path, effective_from=P("2026-12").day(20), by=ADMIN)
    run_id = svc.payouts.prepare(P("2026-12"), program=None, by=FINANCE).run_id or ""
    svc.settings.today = P("2026-12").day(21)
    later = open_services(svc.settings)
    try:
        assert later.payouts.review.list_runs("2026-12")[0]["stale"] is True
        with pytest.raises(RunClosed, match="stale"):
            later.payouts.approve(run_id, by=FINANCE_APPROVER)
        later.payouts.prepare(P("2026-12"), program=None, by=FINANCE)
        days = later.db.query(
            "SELECT DISTINCT payment_date FROM payments WHERE run_id = ? AND program = ?",
            (run_id, first_program(text)),
        )
        assert [str(d) for (d,) in days] == ["2026-12-25"]
        later.payouts.approve(run_id, by=FINANCE_APPROVER)
    finally:
        later.close()


def test_a_period_more_than_a_month_ahead_is_refused(county: Services) -> None:
    # Today in the tests' stores is 2026-12-15: 2027-01 may be prepared, 2027-02 not.
    with pytest.raises(InvalidValue, match="more than one month after today"):
        county.payouts.prepare(P("2027-02"), program=None, by=FINANCE)
    assert county.payouts.prepare(P("2027-01"), program=None, by=FINANCE).run_id


def test_payout_show_has_the_documented_shape_and_compares_with_last_month(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    load(svc, "deaths", FIXTURES / "deaths.csv")
    exported(svc, "2026-05", tmp_path)
    new_case = (
        fixture_row("C001")
        .replace("C001", "C006")
        .replace("610102195001010011", "610102198506060069")
        .replace("2026-01-01", "2026-06-01")  # from June: no arrears for May
    )
    load(svc, "cases", case_rows(tmp_path, "new.csv", new_case))
    run_id = svc.payouts.prepare(P("2026-06"), program=None, by=FINANCE).run_id or ""
    doc = svc.payouts.review.show(run_id)
    assert set(doc) == {
        "run_id",
        "period",
        "status",
        "prepared_by",
        "approved_by",
        "stale",
        "changed_cases",
        "totals",
        "by_program",
        "by_kind",
        "held",
        "previous",
    }
    assert set(doc["totals"]) == {
        "payments",
        "amount",
        "held",
        "held_amount",
        "payable",
        "payable_amount",
    }
    assert set(doc["held"][0]) == {
        "payment_id",
        "case_id",
        "kind",
        "amount",
        "reason",
        "finding_id",
    }
    assert doc["held"][0]["reason"] == "paid_after_death"
    assert doc["previous"]["added_cases"] == 1 and doc["previous"]["removed_cases"] == 0
    assert doc["previous"]["amount_delta"] == "1560.00"
    assert {r["kind"] for r in doc["by_kind"]} == {"regular"}


def test_relatives_make_an_interest_in_decisions_and_approvals(
    county: Services, tmp_path: Path
) -> None:
    svc = county
    # S002 (approver) and S005 (finance approver) each register a relative: 刘洋 of C005.
    relatives = relatives_file(
        tmp_path, "S005,610102198004040041,配偶", "S002,610102196002020021,父亲"
    )
    assert load(svc, "relatives", relatives).new == 2
    assert load(svc, "relatives", relatives).already_imported
    # A decision on C002 approved by S002: refused by line.
    raised = fixture_row("C002").replace("1180.50,2026-02-01", "1280.50,2026-12-01")
    with pytest.raises(InputRefused, match="S002 has an interest in this case"):
        load(svc, "cases", case_rows(tmp_path, "raise.csv", raised))
    run_id = svc.payouts.prepare(P("2026-04"), program=None, by=FINANCE).run_id or ""
    with pytest.raises(NotAuthorised, match="interest in 1 of its payments") as refused:
        svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    assert "刘洋" not in str(refused.value) and "610102198004040041" not in str(refused.value)
    svc.payouts.approve(run_id, by=FINANCE_APPROVER_2)
