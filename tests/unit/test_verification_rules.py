"""Verification requests (核查) as pure rules: due days, the departments asked, overdue, the
duties on the aggregate, and the `verification_overdue` check. No store."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.duties import Actor, DutyRefused
from ledger.payment import Parties
from ledger.verification import (
    MAX_DUE_DAYS,
    VERIFYING_DEPARTMENTS,
    CaseFacts,
    OpenRequest,
    VerificationRefused,
    VerificationRequest,
    check_department,
    check_due,
    days_overdue,
    request_id,
)
from reconciliation.checks import check_verification_overdue

CASEWORKER = Actor("CW1", frozenset({"caseworker"}), "610102")
CASE = CaseFacts("C1", "dibao", "610102001001")
PARTIES = Parties(frozenset({"P-CASE"}), frozenset({"ACC-CASE"}))
TODAY = date(2026, 12, 15)


def asked(due: date = date(2026, 12, 31), actor: Actor = CASEWORKER) -> VerificationRequest:
    return VerificationRequest.ask(
        actor,
        case=CASE,
        department="public_security",
        known_departments=VERIFYING_DEPARTMENTS,
        parties=PARTIES,
        requested_on=TODAY,
        due=due,
    )


def test_a_due_day_from_today_to_ninety_days_on() -> None:
    check_due(TODAY, TODAY)
    check_due(date(2027, 3, 15), TODAY)  # 90 days
    with pytest.raises(VerificationRefused, match="before the request"):
        check_due(date(2026, 12, 14), TODAY)
    with pytest.raises(VerificationRefused, match=f"more than {MAX_DUE_DAYS} days"):
        check_due(date(2027, 3, 16), TODAY)


def test_only_a_known_department_is_asked() -> None:
    check_department("market_regulation", VERIFYING_DEPARTMENTS)
    with pytest.raises(VerificationRefused, match="unknown department 'polce'"):
        check_department("polce", VERIFYING_DEPARTMENTS)


def test_one_request_a_day_per_case_and_department() -> None:
    rid = request_id("C1", "bank", TODAY)
    assert rid == request_id("C1", "bank", TODAY) and rid.startswith("VR-")
    assert rid != request_id("C1", "bank", date(2026, 12, 16))
    assert rid != request_id("C1", "tax", TODAY)


def test_overdue_after_the_due_day_until_answered() -> None:
    due = date(2026, 12, 20)
    assert days_overdue(due, None, due) == 0
    assert days_overdue(due, None, date(2026, 12, 23)) == 3
    assert days_overdue(due, date(2026, 12, 22), date(2026, 12, 23)) == 0
    # Answered later than the day asked about: overdue on that day.
    assert days_overdue(due, date(2026, 12, 25), date(2026, 12, 23)) == 3


def test_a_caseworker_in_region_without_an_interest_asks_and_records_the_answer() -> None:
    for actor, says in (
        (Actor("AU1", frozenset({"auditor"}), "610102"), "needs the role caseworker"),
        (Actor("CW9", frozenset({"caseworker"}), "610103"), "outside CW9's region"),
        (Actor("CW3", frozenset({"caseworker"}), "610102", bank_account="ACC-CASE"), "interest"),
    ):
        with pytest.raises(DutyRefused, match=says):
            asked(actor=actor)
    request = asked()
    relative = Actor("CW4", frozenset({"caseworker"}), "610102", relatives=frozenset({"P-CASE"}))
    with pytest.raises(DutyRefused, match="interest"):
        request.answer(relative, detail="no vehicle", parties=PARTIES, on=TODAY)
    with pytest.raises(VerificationRefused, match="needs text"):
        request.answer(CASEWORKER, detail="  ", parties=PARTIES, on=TODAY)
    with pytest.raises(VerificationRefused, match="before it was asked"):
        request.answer(CASEWORKER, detail="x", parties=PARTIES, on=date(2026, 12, 1))
    request.answer(CASEWORKER, detail="no vehicle registered", parties=PARTIES, on=TODAY)
    assert request.answered_on == TODAY
    with pytest.raises(VerificationRefused, match="answered already"):
        request.answer(CASEWORKER, detail="again", parties=PARTIES, on=TODAY)


def test_the_overdue_check_raises_once_per_request_in_its_due_month() -> None:
    requests = [
        OpenRequest("VR-A", "C1", "dibao", "610102001001", "bank", TODAY, date(2026, 12, 20)),
        OpenRequest("VR-B", "C2", "tekun", "610102001002", "tax", TODAY, date(2026, 12, 31)),
    ]
    drafts = check_verification_overdue(requests, date(2027, 1, 2), {"dibao": "civil_affairs"})
    assert [(d.key, d.period, d.case_id, d.department) for d in drafts] == [
        (("VR-A",), "2026-12", "C1", "civil_affairs"),
        (("VR-B",), "2026-12", "C2", None),
    ]
    assert drafts[0].severity == "medium" and "13 day(s)" in drafts[0].detail
    # The due day itself is in time.
    assert check_verification_overdue(requests, date(2026, 12, 20), {}) == []
