"""Complaints (举报投诉) as pure rules: who complained, due days, overdue, the finding a
complaint raises, and the duties on the `Complaint` aggregate. No store."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import pytest

from aidledger.cli.complaints import Category, Channel, ComplaintStatus, Outcome
from ledger.complaint import (
    CATEGORIES,
    CHANNELS,
    OUTCOMES,
    PRIVATE_FIELDS,
    STATUSES,
    Complainant,
    Complaint,
    ComplaintRefused,
    Subject,
    check_complainant,
    check_not_party_to_decision,
    check_one_subject,
    complaint_id,
    complaint_state,
    days_overdue,
    due_date,
    raises_finding,
)
from ledger.duties import Actor, DutyRefused
from ledger.errors import ConfigError
from ledger.payment import Parties
from ledger.programs import load_programs, parse_programs, shipped_config_path

CASEWORKER = Actor("CW1", frozenset({"caseworker"}), "610102")
CASEWORKER_2 = Actor("CW2", frozenset({"caseworker"}), "610102")
ELSEWHERE = Actor("CW9", frozenset({"caseworker"}), "610103")
SUPERVISOR = Actor("SU1", frozenset({"supervisor"}), "610102")
AUDITOR = Actor("AU1", frozenset({"auditor"}), "610102")
#: A supervisor whose relative is the case's beneficiary.
RELATIVE = Actor("SU2", frozenset({"supervisor"}), "610102", relatives=frozenset({"P-CASE"}))
CASE = Subject("C1", None, "610102001001", "dibao", "civil_affairs")
PARTIES = Parties(frozenset({"P-CASE"}), frozenset({"ACC-CASE"}))
RECEIVED = date(2026, 12, 1)


def received(category: str = "fraud", who: Complainant | None = None) -> Complaint:
    return Complaint.receive(
        CASEWORKER,
        cid=complaint_id(RECEIVED, 1),
        channel="hotline",
        category=category,
        summary="a report that the household runs a shop",
        subject=CASE,
        parties=PARTIES,
        complainant=who,
        received_on=RECEIVED,
        due=due_date(RECEIVED, 15),
    )


# -- who complained ---------------------------------------------------------------------------


def test_a_complainant_is_anonymous_or_named_with_a_phone_never_half() -> None:
    assert check_complainant(True, None, None) is None
    assert check_complainant(False, " 李四 ", "138-0013 8000") == Complainant("李四", "13800138000")
    assert check_complainant(False, "李四", "+86 138 0013 8000") == Complainant(
        "李四", "+8613800138000"
    )
    for anonymous, name, phone in (
        (False, None, None),
        (False, "李四", None),
        (False, None, "13800138000"),
        (False, "  ", "13800138000"),
        (True, "李四", None),
        (True, None, "13800138000"),
    ):
        with pytest.raises(ComplaintRefused):
            check_complainant(anonymous, name, phone)


def test_a_bad_name_or_phone_is_refused_without_repeating_it() -> None:
    for name, phone in (
        ("=HYPERLINK(1)", "13800138000"),
        ("李四", "call me"),
        ("李四", "1234"),
        ("李四", "1" * 21),
        ("李四", "١٣٨٠٠١٣٨٠٠٠"),  # digits, but not ASCII ones
        ("王" * 51, "13800138000"),
    ):
        with pytest.raises(ComplaintRefused) as refused:
            check_complainant(False, name, phone)
        assert name not in str(refused.value) and phone not in str(refused.value)


def test_who_complained_is_in_the_first_event_and_nowhere_in_the_state() -> None:
    complaint = received(who=Complainant("李四", "13800138000"))
    (opened,) = complaint.pending_events
    assert isinstance(opened, Complaint.Opened)
    assert (opened.complainant_name, opened.complainant_phone) == ("李四", "13800138000")
    assert set(type(opened).model_fields) >= PRIVATE_FIELDS
    state = asdict(complaint.state)
    assert "李四" not in str(state) and "13800138000" not in str(state)
    assert state["anonymous"] is False
    assert received().state.anonymous is True


# -- due days, overdue, the finding -------------------------------------------------------------


def test_a_reply_is_due_after_the_categorys_days_and_overdue_the_day_after() -> None:
    shipped = load_programs(shipped_config_path()).complaints
    assert shipped.days_for("fraud") == shipped.days_for("service") == 15
    text = shipped_config_path().read_text(encoding="utf-8")
    text = text.replace("complaint_days = 15", "complaint_days = 10\nby_category = { fraud = 30 }")
    rules = parse_programs(text, "test.toml").complaints
    assert (rules.days_for("fraud"), rules.days_for("missed")) == (30, 10)
    due = due_date(RECEIVED, rules.days_for("missed"))
    assert due == date(2026, 12, 11)
    assert days_overdue(due, False, date(2026, 12, 11)) == 0  # the due day is in time
    assert days_overdue(due, False, date(2026, 12, 14)) == 3
    assert days_overdue(due, True, date(2026, 12, 14)) == 0


def test_the_config_refuses_an_unknown_category_or_a_day_count_out_of_range() -> None:
    text = shipped_config_path().read_text(encoding="utf-8")
    for bad in ("by_category = { theft = 30 }", "by_category = { fraud = 0 }"):
        with pytest.raises(ConfigError):
            parse_programs(text.replace("complaint_days = 15", bad), "bad.toml")
    with pytest.raises(ConfigError):
        parse_programs(text.replace("complaint_days = 15", "complaint_days = 0"), "bad.toml")


def test_only_substantiated_fraud_or_favouritism_raises_a_finding() -> None:
    assert raises_finding("fraud", "substantiated")
    assert raises_finding("favouritism", "partly_substantiated")
    assert not raises_finding("fraud", "unsubstantiated")
    assert not raises_finding("funds", "substantiated")
    assert not raises_finding("service", "substantiated")


def test_a_complaint_is_about_one_subject_at_most() -> None:
    check_one_subject(None, None, None)
    check_one_subject("C1", None, None)
    with pytest.raises(ComplaintRefused, match="--case and --region"):
        check_one_subject("C1", None, "610102")


def test_the_command_lines_choices_are_the_domains() -> None:
    assert [c.value for c in Channel] == list(CHANNELS)
    assert [c.value for c in Category] == list(CATEGORIES)
    assert [o.value for o in Outcome] == list(OUTCOMES)
    assert {s.value for s in ComplaintStatus} == {*STATUSES, "open", "all"}


# -- duties ---------------------------------------------------------------------------------------


def test_a_caseworker_in_region_without_an_interest_records_a_complaint() -> None:
    for actor, says in (
        (AUDITOR, "needs the role caseworker"),
        (ELSEWHERE, "outside CW9's region"),
        (Actor("CW3", frozenset({"caseworker"}), "610102", "P-CASE"), "interest"),
    ):
        with pytest.raises(DutyRefused, match=says):
            Complaint.receive(
                actor,
                cid="CP-1",
                channel="hotline",
                category="fraud",
                summary="x",
                subject=CASE,
                parties=PARTIES,
                complainant=None,
                received_on=RECEIVED,
                due=RECEIVED,
            )
    with pytest.raises(ComplaintRefused, match="unknown channel"):
        Complaint.receive(
            CASEWORKER,
            cid="CP-1",
            channel="fax",
            category="fraud",
            summary="x",
            subject=CASE,
            parties=PARTIES,
            complainant=None,
            received_on=RECEIVED,
            due=RECEIVED,
        )


def test_nobody_who_decided_the_case_is_assigned_or_resolves_its_complaint() -> None:
    deciders = {"CW1", "AP1"}
    complaint = received()
    with pytest.raises(DutyRefused, match="decided or approved"):
        complaint.assign(SUPERVISOR, to=CASEWORKER, parties=PARTIES, deciders=deciders, on=RECEIVED)
    with pytest.raises(DutyRefused, match="needs the role supervisor"):
        complaint.assign(
            CASEWORKER, to=CASEWORKER_2, parties=PARTIES, deciders=deciders, on=RECEIVED
        )
    with pytest.raises(DutyRefused, match="AU1 may not be assigned"):
        complaint.assign(SUPERVISOR, to=AUDITOR, parties=PARTIES, deciders=deciders, on=RECEIVED)
    with pytest.raises(DutyRefused, match="interest"):
        complaint.assign(SUPERVISOR, to=RELATIVE, parties=PARTIES, deciders=deciders, on=RECEIVED)
    complaint.assign(SUPERVISOR, to=CASEWORKER_2, parties=PARTIES, deciders=deciders, on=RECEIVED)
    approving_supervisor = Actor("AP1", frozenset({"approver", "supervisor"}), "610102")
    for actor, says in (
        (approving_supervisor, "decided or approved"),
        (RELATIVE, "interest"),
        (CASEWORKER_2, "needs the role supervisor"),
    ):
        with pytest.raises(DutyRefused, match=says):
            complaint.resolve(
                actor,
                outcome="substantiated",
                detail="found true",
                parties=PARTIES,
                deciders=deciders,
                finding_id="F-1",
                on=RECEIVED,
            )
    complaint.resolve(
        SUPERVISOR,
        outcome="substantiated",
        detail="found true",
        parties=PARTIES,
        deciders=deciders,
        finding_id="F-1",
        on=RECEIVED,
    )
    assert (complaint.state.status, complaint.state.finding_id) == ("resolved", "F-1")


def test_check_not_party_to_decision_names_no_one_else() -> None:
    check_not_party_to_decision(SUPERVISOR, {"CW1"}, to="resolve it")
    with pytest.raises(DutyRefused, match=r"^SU1 may not resolve it"):
        check_not_party_to_decision(SUPERVISOR, {"SU1"}, to="resolve it")


def test_an_assigned_complaint_is_answered_by_its_assignee_or_a_supervisor() -> None:
    complaint = received()
    complaint.assign(SUPERVISOR, to=CASEWORKER_2, parties=PARTIES, deciders=(), on=RECEIVED)
    with pytest.raises(DutyRefused, match="assigned to CW2"):
        complaint.respond(CASEWORKER, reply="checked", parties=PARTIES, on=RECEIVED)
    with pytest.raises(DutyRefused, match="interest"):
        complaint.respond(RELATIVE, reply="checked", parties=PARTIES, on=RECEIVED)
    complaint.respond(CASEWORKER_2, reply="checked", parties=PARTIES, on=date(2026, 12, 3))
    assert complaint.state.responded_on == date(2026, 12, 3)
    assert complaint.state.days_overdue(date(2026, 12, 30)) == 0


def test_a_resolved_complaint_takes_nothing_but_comments_until_reopened() -> None:
    complaint = received("service")
    complaint.resolve(
        SUPERVISOR,
        outcome="unsubstantiated",
        detail="no basis",
        parties=PARTIES,
        deciders=(),
        finding_id=None,
        on=RECEIVED,
    )
    with pytest.raises(ComplaintRefused, match="resolved"):
        complaint.respond(CASEWORKER, reply="late", parties=PARTIES, on=RECEIVED)
    with pytest.raises(ComplaintRefused, match="resolved"):
        complaint.refer(SUPERVISOR, to="纪检监察", reason="x", parties=PARTIES, on=RECEIVED)
    complaint.comment(AUDITOR, text="read", on=RECEIVED)
    with pytest.raises(DutyRefused, match="needs the role supervisor"):
        complaint.reopen(CASEWORKER, reason="x", due=date(2027, 1, 1), on=RECEIVED)
    complaint.reopen(SUPERVISOR, reason="badly handled", due=date(2027, 1, 1), on=RECEIVED)
    s = complaint.state
    assert (s.status, s.due, s.outcome) == ("reopened", date(2027, 1, 1), None)
    assert s.responded_on is None
    assert s.days_overdue(date(2027, 1, 3)) == 2
    with pytest.raises(ComplaintRefused, match="not resolved"):
        complaint.reopen(SUPERVISOR, reason="again", due=date(2027, 1, 1), on=RECEIVED)


def test_the_state_as_of_a_day_counts_only_the_acts_of_that_day_or_before() -> None:
    complaint = received()
    assigned_on = date(2026, 12, 5)
    complaint.assign(SUPERVISOR, to=CASEWORKER_2, parties=PARTIES, deciders=(), on=assigned_on)
    complaint.respond(CASEWORKER_2, reply="checked", parties=PARTIES, on=date(2026, 12, 20))
    events = complaint.collect_events()
    assert complaint_state(events, date(2026, 11, 30)) is None  # not received yet
    first = complaint_state(events, date(2026, 12, 4))
    assert first is not None and (first.status, first.assigned_to) == ("received", None)
    later = complaint_state(events, date(2026, 12, 18))
    assert later is not None and later.status == "assigned"
    assert later.days_overdue(date(2026, 12, 18)) == 2  # due 12-16, answered only on 12-20
    final = complaint_state(events)
    assert final is not None and final.status == "responded"
