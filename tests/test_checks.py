"""Each reconciliation check raises its finding type, and its clean twin raises nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from reconciliation import checks
from reconciliation.checks import ForeignEntry, PaymentView, UnmatchedEntry

PAID = PaymentView(
    payment_id="202612R1AAAAAAAAAAAAAAAAAAAA",
    case_id="C1",
    program="dibao",
    department="civil_affairs",
    region_code="610102001001",
    period="2026-12",
    kind="regular",
    amount=156000,
    payment_date=date(2026, 12, 10),
    creditor_account="6228480000000000011",
    creditor_name="王秀兰",
    id_number="610102195001010011",
    status="executed",
    executions=1,
    executed_amount=156000,
    executed_on=date(2026, 12, 10),
    reported_account="6228480000000000011",
    reported_name="王秀兰",
)
EXCLUDES = {"dibao": ("tekun",), "tekun": ("dibao",), "elderly": ()}


def types(drafts: list[checks.Draft]) -> list[str]:
    return [d.type for d in drafts]


def test_duplicate_payment_executed_twice() -> None:
    assert types(checks.check_duplicate_payment([replace(PAID, executions=2)])) == [
        "duplicate_payment"
    ]
    assert checks.check_duplicate_payment([PAID]) == []


def test_duplicate_payment_when_the_original_and_its_reissue_were_both_executed() -> None:
    reissue = replace(
        PAID, payment_id="202612S1BBBBBBBBBBBBBBBBBBBB", kind="reissue", reissue_of=PAID.payment_id
    )
    found = checks.check_duplicate_payment([PAID, reissue])
    assert types(found) == ["duplicate_payment"] and found[0].key == (
        "C1",
        "dibao",
        "2026-12",
        "regular",
    )
    returned = replace(PAID, status="reissued", executions=0)
    assert checks.check_duplicate_payment([returned, reissue]) == []


def test_amount_mismatch() -> None:
    found = checks.check_amount_mismatch([replace(PAID, executed_amount=165000)])
    assert types(found) == ["amount_mismatch"] and found[0].amount == 9000
    assert "1560.00" in found[0].detail and "1650.00" in found[0].detail
    assert checks.check_amount_mismatch([PAID]) == []


def test_account_mismatch_masks_the_accounts() -> None:
    found = checks.check_account_mismatch([replace(PAID, reported_account="6217000099998888")])
    assert types(found) == ["account_mismatch"]
    assert "6217000099998888" not in found[0].detail and "8888" in found[0].detail
    assert checks.check_account_mismatch([PAID]) == []


def test_name_mismatch_ignores_spacing() -> None:
    assert types(checks.check_name_mismatch([replace(PAID, reported_name="王秀英")])) == [
        "name_mismatch"
    ]
    assert checks.check_name_mismatch([replace(PAID, reported_name="王 秀兰")]) == []


def test_unknown_payment_takes_the_booking_month() -> None:
    entry = UnmatchedEntry(
        "BF-1", 7, "executed", "202611R1ZZZZ", 50000, date(2026, 11, 30), "6217000000000000001"
    )
    (found,) = checks.check_unknown_payment([entry])
    assert (found.type, found.period, found.amount) == ("unknown_payment", "2026-11", 50000)
    assert checks.check_unknown_payment([]) == []


def test_unknown_payment_without_booking_day_takes_the_month_it_was_reported_in() -> None:
    e = UnmatchedEntry("BF-1", 3, "executed", "X1", 30000, None, None, "USD", "2027-01")
    (found,) = checks.check_unknown_payment([e])
    assert found.period == "2027-01"
    assert "300.00 USD to none" in found.detail  # an amount not in CNY says so


def test_a_payment_booked_in_another_currency_is_an_amount_mismatch() -> None:
    usd = ForeignEntry("BF-1", 2, "executed", PAID.payment_id, 156000, "USD", date(2026, 12, 10))
    pending = replace(PAID, status="instructed", executions=0, executed_amount=None)
    (found,) = checks.check_currency_mismatch([usd], {PAID.payment_id: pending})
    assert (found.type, found.period, found.amount) == ("amount_mismatch", "2026-12", 156000)
    assert found.key == ("C1", PAID.payment_id, "USD")  # apart from a CNY amount's mismatch
    assert "instructed 1560.00 CNY, bank executed 1560.00 USD (entry 2 of file BF-1" in (
        found.detail
    )
    # A payment not among the period's approved ones raises nothing here.
    assert checks.check_currency_mismatch([usd], {}) == []


def test_late_payment() -> None:
    found = checks.check_late_payment([replace(PAID, executed_on=date(2026, 12, 14))])
    assert types(found) == ["late_payment"] and "4 days late" in found[0].detail
    assert checks.check_late_payment([PAID]) == []


def test_missing_result_after_the_configured_days() -> None:
    sent = replace(PAID, status="instructed", executions=0, executed_amount=None, executed_on=None)
    assert types(checks.check_missing_result([sent], date(2026, 12, 16), 5)) == ["missing_result"]
    assert checks.check_missing_result([sent], date(2026, 12, 15), 5) == []
    assert checks.check_missing_result([replace(sent, exported=False)], date(2027, 1, 30), 5) == []
    assert checks.check_missing_result([PAID], date(2027, 1, 30), 5) == []


def test_returned_not_reissued_after_the_configured_days() -> None:
    returned = replace(PAID, status="returned", result_on=date(2026, 12, 12), result_reason="AC04")
    assert types(checks.check_returned_not_reissued([returned], date(2027, 1, 12), 30)) == [
        "returned_not_reissued"
    ]
    assert checks.check_returned_not_reissued([returned], date(2027, 1, 11), 30) == []
    for settled in ("reissued", "refunded"):
        assert (
            checks.check_returned_not_reissued(
                [replace(returned, status=settled)], date(2027, 6, 1), 30
            )
            == []
        )


def test_paid_after_death_for_the_period_or_on_the_date() -> None:
    died_before_month = {PAID.id_number: date(2026, 11, 20)}
    assert types(checks.check_paid_after_death([PAID], died_before_month)) == ["paid_after_death"]
    died_before_execution = {PAID.id_number: date(2026, 12, 5)}
    assert types(checks.check_paid_after_death([PAID], died_before_execution)) == [
        "paid_after_death"
    ]
    assert checks.check_paid_after_death([PAID], {PAID.id_number: date(2026, 12, 20)}) == []
    rejected = replace(PAID, status="rejected")
    assert checks.check_paid_after_death([rejected], died_before_month) == []


def test_duplicate_beneficiary_across_exclusive_programs_and_within_one() -> None:
    tekun = replace(
        PAID, case_id="C2", program="tekun", payment_id="P2", creditor_account="6228480000000000099"
    )
    found = checks.check_beneficiaries([PAID, tekun], EXCLUDES, {}, {})
    assert sorted((d.type, d.payment.case_id) for d in found) == [  # type: ignore[union-attr]
        ("duplicate_beneficiary", "C1"),
        ("duplicate_beneficiary", "C2"),
    ]
    twice = replace(tekun, program="dibao")
    assert types(checks.check_beneficiaries([PAID, twice], EXCLUDES, {}, {})) == [
        "duplicate_beneficiary",
        "duplicate_beneficiary",
    ]
    elderly = replace(tekun, program="elderly")  # elderly allowance may go with dibao
    assert checks.check_beneficiaries([PAID, elderly], EXCLUDES, {}, {}) == []


def test_shared_account_between_households_but_not_within_one() -> None:
    other = replace(
        PAID,
        case_id="C3",
        payment_id="P3",
        id_number="610102196002020021",
        creditor_name="李德明",
        region_code="610102009009",
    )
    found = checks.check_beneficiaries([PAID, other], EXCLUDES, {}, {})
    assert sorted(types(found)) == ["shared_account", "shared_account"]
    grandma = replace(
        PAID, case_id="C4", payment_id="P4", program="elderly", id_number="610102193505050050"
    )  # paid to the household head's card
    assert checks.check_beneficiaries([PAID, grandma], EXCLUDES, {}, {}) == []


def test_staff_account_by_account_or_person() -> None:
    by_account = checks.check_beneficiaries([PAID], EXCLUDES, {PAID.creditor_account: "S001"}, {})
    by_person = checks.check_beneficiaries([PAID], EXCLUDES, {}, {PAID.id_number: "S002"})
    assert types(by_account) == types(by_person) == ["staff_account"]
    assert "S001" in by_account[0].detail and "S002" in by_person[0].detail
    assert checks.check_beneficiaries([PAID], EXCLUDES, {"6217000000000000101": "S001"}, {}) == []


#: The finding types of the product contract (README, "Bank files and findings"), written out
#: from it, not from the code.
SPEC_FINDING_TYPES = frozenset(
    {
        "duplicate_payment",
        "amount_mismatch",
        "account_mismatch",
        "name_mismatch",
        "unknown_payment",
        "late_payment",
        "missing_result",
        "returned_not_reissued",
        "paid_after_death",
        "duplicate_beneficiary",
        "shared_account",
        "staff_account",
    }
)


def test_every_finding_type_of_the_spec_has_a_severity() -> None:
    assert set(checks.SEVERITY) == SPEC_FINDING_TYPES
