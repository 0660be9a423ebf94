"""Staff duties as pure rules: roles, region, interest, time (no store)."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import validation
from ledger.case import CaseRow
from ledger.duties import (
    SCHEDULER,
    Actor,
    DutyRefused,
    Person,
    StaffDirectory,
    Terms,
    parse_roles,
    parse_scope,
)
from ledger.errors import InvalidValue, Problem
from ledger.registry import StaffRow

D = date


def directory() -> StaffDirectory:
    """A county's staff: a township caseworker who became an approver on 2026-07-01, a county
    caseworker, an approver with a registered relative, an admin."""
    return StaffDirectory(
        terms={
            "T1": [
                Terms(D(1900, 1, 1), frozenset({"caseworker"}), "610102001"),
                Terms(D(2026, 7, 1), frozenset({"approver"}), "610102"),
            ],
            "C1": [Terms(D(1900, 1, 1), frozenset({"caseworker"}), "610102")],
            "A1": [Terms(D(1900, 1, 1), frozenset({"approver"}), "610102")],
            "AD": [Terms(D(1900, 1, 1), frozenset({"admin"}), "610102")],
        },
        people={
            "T1": Person("甲", "610102198001010011", "6222000000000000001"),
            "C1": Person("乙", "610102198001010021", "6222000000000000002"),
            "A1": Person("丙", "610102198001010031", "6222000000000000003"),
            "AD": Person("丁", "610102198001010041", "6222000000000000004"),
        },
        relatives={"A1": frozenset({"610102195001010099"})},
    )


def row(**changes: object) -> CaseRow:
    values: dict[str, object] = {
        "case_id": "C1",
        "program": "dibao",
        "region_code": "610102001001",
        "name": "王秀兰",
        "id_number": "610102195001010011",
        "household_size": 2,
        "monthly_amount": 100000,
        "effective_from": D(2026, 3, 1),
        "effective_to": None,
        "bank_account": "6228480000000000011",
        "account_name": "王秀兰",
        "decided_by": "T1",
        "approved_by": "A1",
    }
    values.update(changes)
    return CaseRow(**values)  # type: ignore[arg-type]


def check_case_duties(*args: object) -> list[Problem]:
    return list(validation.check_case_duties(*args))  # type: ignore[arg-type]


def check_staff_duties(*args: object) -> list[Problem]:
    return list(validation.check_staff_duties(*args))  # type: ignore[arg-type]


def reasons(problems: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(p.column, p.reason) for p in problems]


def test_roles_are_a_semicolon_list_of_known_roles() -> None:
    assert parse_roles("caseworker; approver") == {"caseworker", "approver"}
    with pytest.raises(InvalidValue, match="unknown role reviewer"):
        parse_roles("caseworker;reviewer")
    with pytest.raises(InvalidValue):
        parse_roles("caseworker;")


def test_a_staff_region_is_a_prefix_of_2_4_6_9_or_12_digits() -> None:
    for ok in ("61", "6101", "610102", "610102001", "610102001001"):
        assert parse_scope(ok) == ok
    for bad in ("6", "61010", "6101020010", "x10102"):
        with pytest.raises(InvalidValue):
            parse_scope(bad)


def test_an_actor_needs_the_role_and_the_region() -> None:
    actor = Actor("F1", frozenset({"finance"}), "6101")
    actor.require("finance", to="prepare")
    with pytest.raises(DutyRefused, match="needs the role finance_approver"):
        actor.require("finance_approver", to="approve a payout run")
    assert actor.covers("610102001001") and not actor.covers("610201001001")
    with pytest.raises(DutyRefused, match="outside F1's region 6101"):
        actor.require_scope("610201", to="act")


def test_interest_is_ones_own_person_relatives_and_account_never_named() -> None:
    actor = Actor("S", frozenset({"supervisor"}), "61", "P1", "ACC", frozenset({"REL"}))
    assert actor.interested_in(["P1"]) and actor.interested_in(["REL"])
    assert actor.interested_in([], ["ACC"]) and not actor.interested_in(["X"], ["Y"])
    with pytest.raises(DutyRefused) as refused:
        actor.require_no_interest(["REL"], to="resolve finding F-1")
    assert "REL" not in str(refused.value) and "回避" in str(refused.value)


def test_the_scheduler_holds_no_interest_and_may_run_its_jobs() -> None:
    assert SCHEDULER.holds("finance") and SCHEDULER.covers("999999")
    assert not SCHEDULER.interested_in(["P1"], ["ACC"])


def test_a_staff_member_stands_as_on_the_date_asked() -> None:
    staff = directory()
    assert staff.actor("T1", D(2026, 6, 30)).roles == {"caseworker"}
    later = staff.actor("T1", D(2026, 7, 1))
    assert later.roles == {"approver"} and later.region == "610102"
    with pytest.raises(DutyRefused, match="not in the staff registry"):
        staff.actor("NOBODY", D(2026, 1, 1))


def test_a_decision_needs_a_caseworker_and_an_approver_in_region_on_its_date() -> None:
    staff, importer = directory(), directory().actor("C1", D(2026, 12, 1))
    assert check_case_duties([(2, row())], staff, importer) == []
    # After 2026-07-01 T1 no longer holds caseworker: a decision from then is refused.
    late = check_case_duties([(3, row(effective_from=D(2026, 8, 1)))], staff, importer)
    assert reasons(late) == [
        ("decided_by", "T1 did not hold the role caseworker on 2026-08-01 (held: approver)")
    ]
    # T1's township is 610102001: a case of another township is out of region.
    other = check_case_duties([(4, row(region_code="610102002001"))], staff, importer)
    assert other[0].column == "decided_by" and "outside T1's region 610102001" in other[0].reason
    # The approver must hold approver.
    wrong = check_case_duties([(5, row(approved_by="C1"))], staff, importer)
    assert reasons(wrong)[0][0] == "approved_by" and "approver" in reasons(wrong)[0][1]


def test_nobody_decides_or_approves_a_case_they_have_an_interest_in() -> None:
    staff, importer = directory(), directory().actor("C1", D(2026, 12, 1))
    relative = check_case_duties([(2, row(id_number="610102195001010099"))], staff, importer)
    assert [p.column for p in relative] == ["approved_by"]  # A1's registered relative
    own_card = check_case_duties([(2, row(bank_account="6222000000000000001"))], staff, importer)
    assert [p.column for p in own_card] == ["decided_by"]  # T1's own account


def test_a_refusal_never_tells_whose_card_it_is_when_the_named_staff_lacks_the_role() -> None:
    """Naming as approver someone who is no approver, on a row paying T1's own card, is
    refused for the role alone: probing files cannot learn whose card or relative it is."""
    staff, importer = directory(), directory().actor("C1", D(2026, 12, 1))
    probe = row(approved_by="T1", decided_by="C1", bank_account="6222000000000000001")
    problems = check_case_duties([(2, probe)], staff, importer)
    assert [(p.column, "approver" in p.reason) for p in problems] == [("approved_by", True)]
    assert not any("interest" in p.reason for p in problems)


def test_the_importer_must_cover_every_row() -> None:
    township = Actor("T9", frozenset({"caseworker"}), "610102002")
    problems = check_case_duties([(7, row())], directory(), township)
    assert ("region_code", "is outside the importer T9's region 610102002") in reasons(problems)


def staff_row(staff_id: str, role: str, region: str = "610102") -> StaffRow:
    return StaffRow(staff_id, "某", "610102198001010011", "6222000000000000001", role, region)


def test_the_first_staff_file_is_imported_by_an_admin_named_in_it() -> None:
    empty = StaffDirectory({}, {})
    rows = [(2, staff_row("X1", "admin")), (3, staff_row("X2", "caseworker"))]
    assert check_staff_duties(rows, empty, "X1", D(2026, 12, 1)) == []
    with pytest.raises(DutyRefused, match="first staff import must be by an admin"):
        check_staff_duties(rows, empty, "X2", D(2026, 12, 1))


def test_later_staff_files_need_an_admin_who_may_not_change_their_own_row() -> None:
    staff = directory()
    with pytest.raises(DutyRefused, match="needs the role admin"):
        check_staff_duties([(2, staff_row("N1", "caseworker"))], staff, "C1", D(2026, 12, 1))
    own = [
        (
            2,
            StaffRow(
                "AD", "丁", "610102198001010041", "6222000000000000004", "admin;finance", "610102"
            ),
        )
    ]
    assert reasons(check_staff_duties(own, staff, "AD", D(2026, 12, 1))) == [
        (
            "staff_id",
            "AD may not change their own row (roles, region or details): another admin must",
        )
    ]
    outside = [(3, staff_row("N2", "caseworker", "6102"))]
    assert reasons(check_staff_duties(outside, staff, "AD", D(2026, 12, 1))) == [
        ("region_code", "is outside the importer AD's region 610102")
    ]
