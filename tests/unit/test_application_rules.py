"""Applications without a store: the rules of a steps file's lines, the gate of a new case,
the notice window, the aggregate's own checks, and an application's history as of a date."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from eligibility.applications import (
    STEP_RULES,
    Facts,
    StepContext,
    history_document,
    line_problems,
)
from eligibility.chain import Step, only_reject_after_a_failure, taken_by_case_staff
from eligibility.notices import in_notice
from ledger.applications import (
    Applicant,
    Application,
    ApplicationRefused,
    ApprovedApplication,
    StepRow,
    check_application_gate,
    step_rows,
)
from ledger.case import CaseRow
from ledger.csvfile import CsvRow
from ledger.duties import Person, StaffDirectory, Terms
from ledger.programs import load_programs

D0 = date(2026, 11, 1)
EVER = date(1900, 1, 1)
APPLICANT = Applicant("610102001001", "刘桂英", "61010219650505010X")
RELATIVE_OF_CW2 = "610102195001010011"
STAFF = StaffDirectory(
    terms={
        "CW": [Terms(EVER, frozenset({"caseworker"}), "610102001")],
        "CW2": [Terms(EVER, frozenset({"caseworker"}), "610102")],
        "AP": [Terms(EVER, frozenset({"approver"}), "610102")],
        "FIN": [Terms(EVER, frozenset({"finance"}), "610102")],
        "FAR": [Terms(EVER, frozenset({"caseworker"}), "610103")],
    },
    people={s: Person(s, f"id-{s}", f"acct-{s}") for s in ("CW", "CW2", "AP", "FIN", "FAR")},
    relatives={"CW2": frozenset({RELATIVE_OF_CW2})},
)


def row(step: str, day: int, staff: str = "CW", outcome: str = "", **kw: str) -> StepRow:
    values = {"application_id": "A1", "case_id": "C1", "program": "dibao", **kw}
    return StepRow(
        step=step,
        date=D0 + timedelta(days=day),
        staff_id=staff,
        outcome=outcome,
        detail="",
        **values,
    )


LINE = [
    row("apply", 0),
    row("verify", 2, outcome="pass"),
    row("visit", 4, outcome="pass"),
    row("review", 6, outcome="pass"),
    row("township", 8, outcome="pass"),
    row("notice", 10),
]


def as_step(r: StepRow) -> Step:
    return Step(r.application_id, r.case_id, r.program, r.step, r.date, r.staff_id, r.outcome, "")


def facts(
    done: list[StepRow], applicant: Applicant | None = APPLICANT, recorder: str = "CW"
) -> Facts:
    f = Facts("A1", "C1", "dibao", applicant)
    for r in done:
        f.took(r, as_step(r), recorded_by=recorder)
    return f


def problems(
    done: list[StepRow],
    r: StepRow,
    *,
    importer: str = "CW",
    applicant: Applicant | None = APPLICANT,
    first: bool = False,
    recorder: str = "CW",
) -> list[str]:
    c = StepContext(r, facts(done, applicant, recorder), STAFF, STAFF.actor(importer, D0), 7, first)
    return [p.reason for p in line_problems(2, c, STEP_RULES)]


def test_a_full_line_passes_every_rule_and_the_approver_records_the_approval() -> None:
    for n, r in enumerate(LINE):
        assert problems(LINE[:n], r, first=n == 0) == [], r.step
    assert problems(LINE, row("approve", 17, "AP"), importer="AP", first=True) == []


def test_an_approval_is_recorded_by_its_approver_not_by_the_caseworker_who_imports() -> None:
    found = problems(LINE, row("approve", 17, "AP"), importer="CW2", recorder="CW")
    assert found == [
        "an approval is recorded by its approver: AP imports the file with their approve step "
        "(--by AP); CW2 may not record it"
    ]


def test_an_approver_cannot_record_a_whole_application_alone() -> None:
    # The township review (by CW) recorded by AP, who then records their own approval.
    found = problems(LINE, row("approve", 17, "AP"), importer="AP", recorder="AP")
    assert found == [
        "the township review was recorded by AP: its approval is recorded by another person "
        "(two people)"
    ]


def test_a_failed_step_ends_the_line_only_reject_may_follow() -> None:
    failed = [*LINE[:3], row("review", 6, outcome="fail")]
    assert (
        only_reject_after_a_failure([as_step(r) for r in failed], as_step(row("reject", 7))) == []
    )
    assert problems(failed, row("township", 8, outcome="pass")) == [
        "review failed on 2026-11-07: only reject may follow (a new application when the "
        "household's circumstances change)"
    ]
    # Without the rule a failed township review would reach approval: the chain alone
    # looks at the order, not at outcomes.
    fail_township = [*LINE[:4], row("township", 8, outcome="fail"), row("notice", 10)]
    assert problems(fail_township, row("approve", 17, "AP"), importer="AP") == [
        "township failed on 2026-11-09: only reject may follow (a new application when the "
        "household's circumstances change)"
    ]


def test_steps_without_a_role_of_their_own_are_taken_by_case_staff() -> None:
    assert taken_by_case_staff(STAFF, as_step(row("visit", 4, "FIN"))) == [
        "visit is by a caseworker or approver; FIN was neither on 2026-11-05"
    ]
    assert taken_by_case_staff(STAFF, as_step(row("visit", 4, "AP"))) == []
    # township and approve have their own roles, said by the chain.
    assert taken_by_case_staff(STAFF, as_step(row("township", 8, "FIN"))) == []


def test_the_importer_covers_the_region_and_has_no_interest_said_once_per_application() -> None:
    far = problems([], LINE[0], importer="FAR", first=True)
    assert far == [
        "the application's region 610102001001 is outside the importer FAR's region 610103"
    ]
    assert problems([LINE[0]], LINE[1], importer="FAR", first=False) == []
    relative = Applicant("610102001001", "王秀兰", RELATIVE_OF_CW2)
    found = problems([], LINE[0], importer="CW2", applicant=relative, first=True)
    assert found == [
        "the importer CW2 has an interest in this application: another staff member must "
        "record its steps (回避)"
    ]


def test_nobody_with_an_interest_takes_a_step_relatives_included() -> None:
    relative = Applicant("610102001001", "王秀兰", RELATIVE_OF_CW2)
    found = problems([], row("apply", 0, "CW2"), applicant=relative)
    assert len(found) == 1 and "CW2 has an interest in this application" in found[0]


def test_an_application_is_for_one_case_one_program_one_applicant() -> None:
    other = row("verify", 2, outcome="pass", case_id="C2")
    assert problems(LINE[:1], other) == ["application A1 is for case C1 (dibao), not C2 (dibao)"]
    named = row("apply", 0, region_code="610102001001", name="刘桂英", id_number="610102X")
    assert problems([], named) == [
        "id_number differ from application A1's applicant (a new applicant needs a new application)"
    ]
    assert problems([], LINE[0], applicant=None) == [
        "the apply line of a case not recorded yet names its applicant: columns region_code, "
        "name, id_number"
    ]


def test_step_lines_are_typed_value_by_value() -> None:
    config = load_programs()
    lines = [
        CsvRow(
            2,
            {
                "application_id": "A1",
                "case_id": "C1",
                "program": "dibao",
                "step": "apply",
                "date": "2026-11-01",
                "staff_id": "CW",
                "outcome": "",
                "detail": "申请",
                "region_code": "610102001001",
                "name": "刘桂英",
                "id_number": "61010219650505010X",
            },
        ),
        CsvRow(
            3,
            {
                "application_id": "A 1",
                "case_id": "C1",
                "program": "nope",
                "step": "verify",
                "date": "2026-12-16",
                "staff_id": "CW",
                "outcome": "pass",
                "detail": "",
            },
        ),
    ]
    found: list[object] = []
    good = list(step_rows(lines, config, date(2026, 12, 15), found))  # type: ignore[arg-type]
    assert [line for line, _ in good] == [2]
    assert good[0][1].applicant == APPLICANT
    shown = sorted(str(p) for p in found)
    assert shown[:2] == [
        "line 3, column application_id: application_id must be 1-64 characters without spaces "
        "or commas (value 'A 1')",
        "line 3, column date: is after today (2026-12-15): a step is recorded once taken "
        "(value '2026-12-16')",
    ]
    assert shown[2].startswith("line 3, column program: unknown program 'nope'")
    assert len(shown) == 3


# -- the gate of a new case ---------------------------------------------------------------------


def case(**changes: object) -> CaseRow:
    values: dict[str, object] = {
        "case_id": "C1",
        "program": "dibao",
        "region_code": "610102001001",
        "name": "刘桂英",
        "id_number": "61010219650505010X",
        "household_size": 2,
        "monthly_amount": 120000,
        "effective_from": date(2026, 12, 1),
        "effective_to": None,
        "bank_account": "6228480000000000999",
        "account_name": "刘桂英",
        "decided_by": "CW",
        "approved_by": "AP",
    }
    values.update(changes)
    return CaseRow(**values)  # type: ignore[arg-type]


APPROVED = ApprovedApplication(
    "A1",
    "C1",
    "dibao",
    "610102001001",
    "61010219650505010X",
    date(2026, 11, 20),
    "AP",
    frozenset({"CW", "AP"}),
)
REQUIRED = date(2026, 12, 1)


def gate(r: CaseRow, approved: list[ApprovedApplication]) -> list[tuple[str, str]]:
    return [(p.column, p.reason) for p in check_application_gate(7, r, approved, STAFF, REQUIRED)]


def test_a_new_case_needs_its_approved_application_and_opens_with_it() -> None:
    assert gate(case(), [APPROVED]) == []
    assert gate(case(), []) == [
        (
            "case_id",
            "a new case in effect from 2026-12-01 (on or after the chain's required_from, "
            "2026-12-01) needs an approved application for case C1 and program dibao: import "
            "its steps first (aidledger import steps)",
        )
    ]


def test_a_case_takes_effect_no_earlier_than_its_approval() -> None:
    late = replace(APPROVED, approved_on=date(2026, 12, 2))
    assert gate(case(), [late]) == [
        (
            "effective_from",
            "application A1 was approved on 2026-12-02: the case takes effect no earlier",
        )
    ]


def test_the_case_is_the_applicants_in_the_applications_region_approved_by_its_approver() -> None:
    found = gate(
        case(id_number="610102195001010011", region_code="610102002001", approved_by="AP2"),
        [APPROVED],
    )
    assert [column for column, _ in found] == ["id_number", "region_code", "approved_by"]
    assert "made by another person (610102********010X)" in found[0][1]
    assert found[2][1] == (
        "application A1 was approved by AP on 2026-11-20: the case's approver is its application's"
    )


def test_a_step_taker_with_an_interest_in_the_case_now_known_refuses_it() -> None:
    # The account was not known when the steps were taken: it is CW2's own.
    taken = replace(APPROVED, step_staff=frozenset({"CW2", "AP"}))
    found = gate(case(bank_account="acct-CW2"), [taken])
    assert len(found) == 1 and found[0][1].startswith("CW2 took a step of application A1")


# -- the notice window ------------------------------------------------------------------------


def test_the_notice_window_runs_notice_days_and_ends_with_an_upheld_objection() -> None:
    steps = [as_step(r) for r in LINE]  # notice on 2026-11-11
    assert in_notice(steps, date(2026, 11, 10), 7) is None
    assert in_notice(steps, date(2026, 11, 11), 7) == date(2026, 11, 11)
    assert in_notice(steps, date(2026, 11, 17), 7) == date(2026, 11, 11)
    assert in_notice(steps, date(2026, 11, 18), 7) is None
    upheld = [*steps, as_step(row("objection", 12, outcome="upheld"))]
    assert in_notice(upheld, date(2026, 11, 14), 7) is None
    approved = [*steps, as_step(row("approve", 13, "AP"))]
    assert in_notice(approved, date(2026, 11, 14), 7) is None


# -- the aggregate ----------------------------------------------------------------------------


def test_the_application_records_its_steps_and_refuses_what_it_can_see_alone() -> None:
    a = Application.make(LINE[0], APPLICANT, by="CW", source="s.csv@x:2")
    for r in LINE[1:]:
        a.take(r, by="CW", source="s.csv@x:3")
    with pytest.raises(ApplicationRefused, match="recorded by its approver"):
        a.take(row("approve", 17, "AP"), by="CW", source="")
    with pytest.raises(ApplicationRefused, match="is for case C1"):
        a.take(row("approve", 17, "AP", case_id="C9"), by="AP", source="")
    a.take(row("approve", 17, "AP"), by="AP", source="")
    assert a.ended == "approved" and [s.step for s in a.steps][-2:] == ["notice", "approve"]
    with pytest.raises(ApplicationRefused, match="already approved"):
        a.take(row("reject", 18, "AP"), by="AP", source="")
    with pytest.raises(ApplicationRefused, match="names no applicant"):
        Application.make(LINE[0], None, by="CW", source="")


def test_history_shows_the_state_as_of_a_date_as_known_at_a_date() -> None:
    a = Application.make(LINE[0], APPLICANT, by="CW", source="s.csv@x:2")
    for r in LINE[1:]:
        a.take(r, by="CW", source="")
    a.take(row("approve", 17, "AP"), by="AP", source="")
    events = a.collect_events()
    doc = history_document(
        "A1",
        events,
        as_of=date(2026, 11, 12),
        known_at=None,
        timezone="Asia/Shanghai",
        notice_days=7,
        staff_names={"AP": "吴秀英"},
    )
    assert doc["state"]["status"] == "open" and doc["state"]["notice_on"] == "2026-11-11"
    assert doc["state"]["notice_until"] == "2026-11-17" and doc["state"]["next_step"] == "approve"
    assert [e["step"] for e in doc["events"]][-1] == "approve"
    assert doc["events"][-1]["staff_name"] == "吴秀英"
    later = history_document(
        "A1",
        events,
        as_of=date(2026, 12, 1),
        known_at=None,
        timezone="Asia/Shanghai",
        notice_days=7,
        staff_names={},
    )
    assert later["state"]["status"] == "approved" and later["state"]["approved_by"] == "AP"
    before = history_document(
        "A1",
        events,
        as_of=date(2026, 10, 1),
        known_at=None,
        timezone="Asia/Shanghai",
        notice_days=7,
        staff_names={},
    )
    assert before["state"] is None
    recorded = events[0].timestamp.date()
    unknown = history_document(
        "A1",
        events,
        as_of=date(2026, 12, 1),
        known_at=recorded - timedelta(days=2),
        timezone="Asia/Shanghai",
        notice_days=7,
        staff_names={},
    )
    assert unknown["events"] == [] and unknown["state"] is None
