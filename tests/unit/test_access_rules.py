"""Masking by role and the access log's rules, as pure functions (no store)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.access import (
    MAX_REASON,
    AccessRecord,
    ReasonRequired,
    check_may_read_access_log,
    check_view_reason,
)
from ledger.duties import SCHEDULER, Actor, DutyRefused
from ledger.errors import InvalidValue
from ledger.masking import (
    CLEAR,
    MASKED,
    Sight,
    mask_account,
    masked,
    masked_history,
    masked_rows,
    sight,
)

REGION = "610102001001"


def staff(*roles: str, region: str = "610102") -> Actor:
    return Actor("S9", frozenset(roles), region)


CASE = {
    "case_id": "C001",
    "name": "王秀兰",
    "id_number": "610102195001010011",
    "bank_account": "6228480000000000011",
    "account_name": "王秀兰",
    "monthly_amount": "1560.00",
}
PAYMENT = {
    "type": "PaymentInstructed",
    "payment_id": "202612R1",
    "bank_account": "6228480000000000011",
    "creditor_name": "王秀兰",
    "amount": "1560.00",
}
MASKED_CASE = {
    "case_id": "C001",
    "name": "王*兰",
    "id_number": "610102********0011",
    "bank_account": "6228****0011",
    "account_name": "王*兰",
    "monthly_amount": "1560.00",
}


# -- who sees what -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["caseworker", "approver", "supervisor"])
def test_the_roles_that_work_a_case_see_it_and_its_money_in_clear(role: str) -> None:
    assert sight(staff(role), REGION) == CLEAR


@pytest.mark.parametrize("role", ["finance", "finance_approver"])
def test_finance_sees_the_payments_in_clear_and_the_case_masked(role: str) -> None:
    assert sight(staff(role), REGION) == Sight(case=False, payment=True)


def test_an_auditor_sees_in_clear_only_with_a_reason() -> None:
    assert sight(staff("auditor"), REGION, reason="annual audit 2026") == CLEAR
    assert sight(staff("auditor"), REGION) == MASKED
    assert sight(staff("auditor"), REGION, reason="   ") == MASKED


def test_an_admin_sees_everything_masked() -> None:
    assert sight(staff("admin"), REGION, reason="curious") == MASKED


def test_outside_their_region_nobody_sees_in_clear() -> None:
    for role in ("caseworker", "supervisor", "finance", "auditor"):
        assert sight(staff(role, region="610103"), REGION, reason="why") == MASKED
    assert sight(staff("caseworker", region="61"), REGION) == CLEAR, "a province covers it"


def test_the_stores_operator_sees_all_and_the_scheduler_nothing() -> None:
    assert sight(None, REGION) == CLEAR
    assert sight(SCHEDULER, REGION) == MASKED


def test_one_role_that_sees_is_enough() -> None:
    assert sight(staff("admin", "caseworker"), REGION) == CLEAR


# -- what masking does -------------------------------------------------------------------------


def test_names_ids_and_accounts_are_masked_as_the_notice_masks_them() -> None:
    assert masked(CASE, clear=False) == MASKED_CASE
    assert mask_account("6222021234567891234") == "6222****1234"
    assert mask_account("12345678") == "********"
    assert masked(CASE, clear=True) is CASE


def test_masking_reaches_into_lists_and_changes_and_leaves_the_original() -> None:
    record: dict[str, Any] = {
        "type": "AccountChanged",
        "changes": {"bank_account": ["6228480000000000011", "6228480000000000099"]},
        "rows": [{"name": "李德明", "amount": "1.00"}],
        "name": "",
    }
    shown = masked(record, clear=False)
    assert shown["changes"] == {"bank_account": ["6228****0011", "6228****0099"]}
    assert shown["rows"] == [{"name": "李*明", "amount": "1.00"}]
    assert shown["name"] == ""
    assert record["changes"]["bank_account"][0] == "6228480000000000011"


def test_a_history_masks_decisions_by_the_case_and_money_by_the_payments() -> None:
    doc = {"case_id": "C001", "state": CASE, "events": [dict(CASE, type="CaseApproved"), PAYMENT]}
    finance = masked_history(doc, Sight(case=False, payment=True))
    assert finance["state"] == MASKED_CASE
    assert finance["events"][0]["name"] == "王*兰"
    assert finance["events"][1] == PAYMENT
    admin = masked_history(doc, MASKED)
    assert admin["events"][1]["creditor_name"] == "王*兰"
    assert admin["events"][1]["bank_account"] == "6228****0011"
    assert masked_history(doc, CLEAR) is doc


def test_rows_of_a_listing_are_masked_by_each_rows_region() -> None:
    rows = [
        {"region_code": REGION, "bank_name": "王秀兰"},
        {"region_code": "610103001001", "bank_name": "李德明"},
    ]
    shown = masked_rows(rows, staff("finance"))
    assert [r["bank_name"] for r in shown] == ["王秀兰", "李*明"]


# -- reasons and readers of the access log ------------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "supervisor"])
def test_auditors_and_supervisors_must_say_why_they_look(role: str) -> None:
    with pytest.raises(ReasonRequired, match="say why"):
        check_view_reason(staff(role), "")
    with pytest.raises(ReasonRequired):
        check_view_reason(staff(role, "caseworker"), " \t ")
    assert check_view_reason(staff(role), "  complaint   12 ") == "complaint 12"


@pytest.mark.parametrize("role", ["caseworker", "approver", "finance", "finance_approver", "admin"])
def test_other_roles_may_look_without_a_reason(role: str) -> None:
    assert check_view_reason(staff(role), "") == ""


def test_a_reason_too_long_is_refused_not_cut() -> None:
    with pytest.raises(InvalidValue, match="too long"):
        check_view_reason(staff("caseworker"), "x" * (MAX_REASON + 1))


def test_a_reason_required_is_bad_input() -> None:
    assert issubclass(ReasonRequired, InvalidValue), "422 in the API, exit 2 on the command line"


@pytest.mark.parametrize("role", ["auditor", "supervisor", "admin"])
def test_auditors_supervisors_and_admins_read_the_access_log(role: str) -> None:
    check_may_read_access_log(staff(role))


@pytest.mark.parametrize("role", ["caseworker", "approver", "finance", "finance_approver"])
def test_nobody_else_reads_the_access_log(role: str) -> None:
    with pytest.raises(DutyRefused, match="read the access log"):
        check_may_read_access_log(staff(role))


def test_a_view_records_who_what_and_why_and_refuses_a_missing_reason() -> None:
    view = AccessRecord.view(
        staff("auditor"),
        channel="api",
        kind="case_history",
        subject="C001",
        case_ids=("C001",),
        reason="audit",
    )
    (event,) = view.collect_events()
    assert (event.by, event.channel, event.kind, event.subject, event.case_ids, event.reason) == (
        "S9",
        "api",
        "case_history",
        "C001",
        ("C001",),
        "audit",
    )
    other = AccessRecord.view(staff("caseworker"), channel="cli", kind="findings", subject="x")
    assert other.id != view.id, "each view its own record: two at once never contend"
    with pytest.raises(ReasonRequired):
        AccessRecord.view(staff("auditor"), channel="cli", kind="case_history", subject="C001")
