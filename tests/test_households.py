"""Households on a store (SQLite and PostgreSQL): imported all or nothing, refused by line,
re-imported recording nothing; the members count for interest (回避), duplicates, deaths and
the size of the household (``household_size_mismatch``, a finding, not a refusal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aidledger.wiring import Services
from ledger.duties import DutyRefused
from ledger.errors import InputRefused
from projections.households import persons_between, persons_of_cases
from tests.builders import (
    FINANCE,
    SUPERVISOR,
    fixture_row,
    load,
    with_staff,
    write_file,
)
from tests.conftest import FIXTURES

HOUSEHOLD_HEADER = "case_id,member_id_number,member_name,relation,from,to"
#: Valid id numbers of people in no fixture case.
SPOUSE, CHILD, OTHER = "610102198001010015", "610102198202020025", "610102199003030030"
#: The supervisor's own id number (fixtures/staff.csv: S006).
SUPERVISOR_ID = "610102198012120121"
#: C001's holder (dibao) and C002's holder (tekun), from fixtures/cases.csv.
C001_HOLDER, C002_HOLDER = "610102195001010011", "610102196002020021"


def _store(svc: Services) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")


def _members(svc: Services) -> list[tuple[Any, ...]]:
    return sorted(
        svc.db.query(
            "SELECT case_id, member_id_number, relation, date_from, date_to, version "
            "FROM household_members"
        )
    )


def test_a_households_file_records_each_member_once_and_a_change_as_one_event(
    svc: Services, tmp_path: Path
) -> None:
    _store(svc)
    rows = (
        f"C001,{C001_HOLDER},王秀兰,head,2026-01-01,",
        f"C001,{SPOUSE},刘强,spouse,2026-01-01,",
        f"C001,{CHILD},刘小明,child,2026-01-01,",
    )
    path = write_file(tmp_path, "households.csv", HOUSEHOLD_HEADER, *rows)
    first = load(svc, "households", path)
    assert (first.new, first.events) == (3, 3)
    assert load(svc, "households", path).already_imported
    same = write_file(tmp_path, "again.csv", HOUSEHOLD_HEADER, *reversed(rows))
    again = load(svc, "households", same)
    assert (again.new, again.changed, again.unchanged, again.events) == (0, 0, 3, 0)
    left = write_file(
        tmp_path, "left.csv", HOUSEHOLD_HEADER, f"C001,{CHILD},刘小明,child,2026-01-01,2026-06-30"
    )
    change = load(svc, "households", left)
    assert (change.changed, change.events) == (1, 1)
    members = _members(svc)
    assert len(members) == 3
    child = next(m for m in members if m[1] == CHILD)
    assert str(child[4])[:10] == "2026-06-30" and child[5] == 2
    # The persons of a case on a day: its holder and the members in effect then.
    assert persons_of_cases(svc.db, ["C001"], __import__("datetime").date(2026, 3, 1)) == {
        "C001": frozenset({C001_HOLDER, SPOUSE, CHILD})
    }
    assert persons_of_cases(svc.db, ["C001"], __import__("datetime").date(2026, 7, 1)) == {
        "C001": frozenset({C001_HOLDER, SPOUSE})
    }
    # A range of case ids (a comparison's chunk): the same persons, the cases between too.
    in_july = persons_between(svc.db, "C001", "C002", __import__("datetime").date(2026, 7, 1))
    assert set(in_july) == {"C001", "C002"}
    assert in_july == persons_of_cases(
        svc.db, ["C001", "C002"], __import__("datetime").date(2026, 7, 1)
    )
    july = __import__("datetime").date(2026, 7, 1)
    assert set(persons_between(svc.db, "C002", "C003", july)) == {"C002", "C003"}


def test_a_bad_households_file_is_refused_by_line_and_records_nothing(
    svc: Services, tmp_path: Path
) -> None:
    _store(svc)
    before = svc.db.query("SELECT COUNT(*) FROM imported_files")[0][0]
    path = write_file(
        tmp_path,
        "bad.csv",
        HOUSEHOLD_HEADER,
        f"C001,{SPOUSE},刘强,spouse,2026-01-01,",  # good
        "C001,610102198001010016,刘强,spouse,2026-01-01,",  # wrong check digit
        f"C999,{CHILD},刘小明,child,2026-01-01,",  # no such case
        f"C001,{OTHER},刘某,cousin,2026-01-01,",  # unknown relation
        f"C001,{OTHER},刘某,other,2026-05-01,2026-04-01",  # ends before it starts
        f"C002,{OTHER},=HYPERLINK(1),other,2026-01-01,",  # a formula
        f"C002,{CHILD},刘小明,child,2026-13-01,",  # no such month
    )
    with pytest.raises(InputRefused) as refused:
        load(svc, "households", path)
    lines = {p.line for p in refused.value.problems}
    assert lines == {3, 4, 5, 6, 7, 8}
    text = str(refused.value)
    assert "check" in text and "C999" in text and "relation" in text and "formula" in text
    assert svc.db.query("SELECT COUNT(*) FROM household_members")[0][0] == 0
    assert svc.db.query("SELECT COUNT(*) FROM imported_files")[0][0] == before


def test_a_staff_member_in_a_household_may_not_resolve_its_case_finding(
    svc: Services, tmp_path: Path
) -> None:
    """The supervisor is a member of C001's household: interest (回避) in C001's findings."""
    _store(svc)
    load(
        svc,
        "households",
        write_file(
            tmp_path, "h.csv", HOUSEHOLD_HEADER, f"C001,{SUPERVISOR_ID},黄志强,other,2026-01-01,"
        ),
    )
    from tests.test_comparison import compare_findings, with_records

    with_records(svc, tmp_path, "business", f"{C001_HOLDER},B-1,2026-11-01,个体户,")
    (finding,) = compare_findings(svc)
    with pytest.raises(DutyRefused, match="interest"):
        svc.reconciliation.resolve(
            finding["finding_id"], resolution="false_positive", comment="x", by=SUPERVISOR
        )


@pytest.mark.parametrize("page", [1, 20_000])
def test_household_size_and_a_dead_member_are_findings_of_reconcile(
    svc: Services, tmp_path: Path, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reconcile reads the households a page of cases at a time: one case a page finds the same.
    import projections.households

    paged = projections.households.households_in_effect
    monkeypatch.setattr(
        projections.households,
        "households_in_effect",
        lambda db, first, last: paged(db, first, last, page=page),
    )
    _store(svc)
    c002 = fixture_row("C002").split(",")
    load(
        svc,
        "households",
        write_file(
            tmp_path,
            "h.csv",
            HOUSEHOLD_HEADER,
            f"C001,{C001_HOLDER},王秀兰,head,2026-01-01,",
            f"C001,{SPOUSE},刘强,spouse,2026-01-01,",
            f"C002,{c002[4]},{c002[3]},head,2026-01-01,",
        ),
    )
    load(
        svc,
        "deaths",
        write_file(
            tmp_path, "d.csv", "id_number,date_of_death,source", f"{SPOUSE},2026-10-03,公安"
        ),
    )
    from ledger.period import Period

    first = svc.reconciliation.reconcile(Period.parse("2026-12"), as_of=svc.today, by=FINANCE)
    assert first.raised.get("household_size_mismatch") == 1  # C001: size 3, 2 members
    assert first.raised.get("household_member_dead") == 1
    again = svc.reconciliation.reconcile(Period.parse("2026-12"), as_of=svc.today, by=FINANCE)
    assert not again.raised
    rows = svc.reconciliation.findings(
        period="2026-12", viewer=svc.reconciliation.viewer(None, channel="cli")
    )
    dead = next(r for r in rows if r["type"] == "household_member_dead")
    assert dead["case_id"] == "C001" and SPOUSE not in json.dumps(rows, ensure_ascii=False)


def test_a_member_who_holds_another_case_of_the_program_is_a_duplicate(
    svc: Services, tmp_path: Path
) -> None:
    """C002's holder (tekun) is also a member of C001's household (dibao, which excludes
    tekun): both payments are held as duplicate_beneficiary."""
    _store(svc)
    load(
        svc,
        "households",
        write_file(
            tmp_path, "h.csv", HOUSEHOLD_HEADER, f"C001,{C002_HOLDER},李德明,other,2026-01-01,"
        ),
    )
    from ledger.period import Period

    svc.payouts.prepare(Period.parse("2026-12"), program=None, by=FINANCE)
    held = dict(
        svc.db.query(
            "SELECT case_id, held FROM payments WHERE case_id IN ('C001', 'C002') "
            "AND kind = 'regular' AND period = '2026-12'"
        )
    )
    assert "duplicate_beneficiary" in held["C001"] and "duplicate_beneficiary" in held["C002"]


def test_a_member_of_the_household_counts_for_interest_in_a_cases_import(
    svc: Services, tmp_path: Path
) -> None:
    """C001's household: a registered relative of its caseworker S001, and its approver S002
    herself. A new decision on C001 by them is refused on both columns, nothing recorded."""
    from tests.builders import case_rows, head

    _store(svc)
    load(
        svc,
        "relatives",
        write_file(tmp_path, "r.csv", "staff_id,id_number,relation", f"S001,{SPOUSE},brother"),
    )
    load(
        svc,
        "households",
        write_file(
            tmp_path,
            "h.csv",
            HOUSEHOLD_HEADER,
            f"C001,{SPOUSE},刘强,spouse,2026-01-01,",
            "C001,610102197608080082,吴秀英,other,2026-01-01,2026-06-30",
        ),
    )
    change = case_rows(
        tmp_path,
        "c.csv",
        "C001,dibao,610102001001,王秀兰,610102195001010011,3,1600.00,2026-12-01,,"
        "6228480000000000011,王秀兰,S001,S002",
    )
    before = head(svc)
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", change)
    found = {(p.line, p.column) for p in refused.value.problems}
    assert found == {(2, "decided_by"), (2, "approved_by")}
    assert "member of the household" in str(refused.value)
    assert SPOUSE not in str(refused.value)
    assert head(svc) == before


def test_a_member_of_the_household_counts_for_interest_in_a_steps_import(
    svc: Services, tmp_path: Path
) -> None:
    """An application for the recorded case C001, whose household holds a relative of S001:
    S001 may take none of its steps."""
    from eligibility.applications import Steps
    from tests.builders import head

    _store(svc)
    load(
        svc,
        "relatives",
        write_file(tmp_path, "r.csv", "staff_id,id_number,relation", f"S001,{SPOUSE},brother"),
    )
    load(
        svc,
        "households",
        write_file(tmp_path, "h.csv", HOUSEHOLD_HEADER, f"C001,{SPOUSE},刘强,spouse,2026-01-01,"),
    )
    lines = [
        f"A9,C001,dibao,{step},2026-11-{day:02d},S001,{outcome},x"
        for step, day, outcome in (
            ("apply", 2, ""),
            ("verify", 3, "pass"),
            ("visit", 5, "pass"),
            ("review", 9, "pass"),
            ("township", 12, "pass"),
            ("notice", 20, ""),
        )
    ]
    path = write_file(
        tmp_path,
        "steps.csv",
        "application_id,case_id,program,step,date,staff_id,outcome,detail",
        *lines,
    )
    before = head(svc)
    with pytest.raises(InputRefused) as refused:
        svc.service(Steps).import_file(path, by="S001")
    found = [str(p) for p in refused.value.problems]
    assert len(found) == 7 and all("S001 has an interest" in p for p in found)
    assert head(svc) == before


def test_reconcile_finds_a_member_who_holds_another_case_of_the_program(
    svc: Services, tmp_path: Path
) -> None:
    """December was paid before the household was recorded: C002's holder (tekun), a member of
    C001's household (dibao, which excludes tekun). Reconcile raises what prepare would have:
    duplicate_beneficiary on both, once."""
    from ledger.period import Period
    from tests.builders import FINANCE_APPROVER

    _store(svc)
    dec = Period.parse("2026-12")
    run = svc.payouts.prepare(dec, program=None, by=FINANCE)
    svc.payouts.approve(run.run_id or "", by=FINANCE_APPROVER)
    load(
        svc,
        "households",
        write_file(
            tmp_path, "h.csv", HOUSEHOLD_HEADER, f"C001,{C002_HOLDER},李德明,other,2026-01-01,"
        ),
    )

    def duplicates() -> list[tuple[Any, ...]]:
        return sorted(
            svc.db.query(
                "SELECT case_id, finding_id FROM findings WHERE type = 'duplicate_beneficiary'"
            )
        )

    assert duplicates() == []
    svc.reconciliation.reconcile(dec, as_of=svc.today, by=FINANCE)
    found = duplicates()
    assert [c for c, _ in found] == ["C001", "C002"]
    from ledger.payment import finding_id

    assert {f for _, f in found} == {
        finding_id("duplicate_beneficiary", c, "2026-12") for c in ("C001", "C002")
    }
    svc.reconciliation.reconcile(dec, as_of=svc.today, by=FINANCE)
    assert duplicates() == found


def test_a_households_dry_run_prints_members_masked_and_matches_the_import(
    cli: Any, tmp_path: Path
) -> None:
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001")
    path = write_file(
        tmp_path,
        "households.csv",
        HOUSEHOLD_HEADER,
        f"C001,{C001_HOLDER},王秀兰,head,2026-01-01,",
        f"C001,{SPOUSE},刘强,spouse,2026-01-01,",
    )
    args = ("import", "households", str(path), "--by", "S001")
    text = cli(*args, "--dry-run").stdout
    assert "line 2  C001/610102********0011  new" in text
    assert "member_name 王*兰" in text and "member_name 刘*" in text
    assert C001_HOLDER not in text and SPOUSE not in text
    assert "刘强" not in text and "王秀兰" not in text
    assert "2 new" in text and "2 events would be recorded; nothing recorded" in text
    doc = json.loads(cli(*args, "--dry-run", "--format", "json").stdout)
    assert [(r["line"], r["key"], r["outcome"]) for r in doc] == [
        (2, "C001/610102********0011", "new"),
        (3, "C001/610102********0015", "new"),
    ]
    assert doc[1]["changes"]["member_id_number"] == [None, "610102********0015"]
    assert SPOUSE not in json.dumps(doc, ensure_ascii=False)
    listed = json.loads(cli("import", "list", "--format", "json").stdout)
    assert "households.csv" not in [i["filename"] for i in listed], "a dry run records nothing"
    real = cli(*args)
    assert "2 rows: 2 new, 0 changed, 0 unchanged, 0 refused; 2 events recorded" in real.stdout


def test_a_member_joining_in_bulk_is_exactly_the_event_join_records() -> None:
    # A big households file writes each new member's event directly (no aggregate built).
    from datetime import date

    from ledger.household import HouseholdMember, HouseholdRow

    row = HouseholdRow("C001", "610102195001010011", "王秀兰", "head", date(2026, 1, 1), None)
    direct = HouseholdMember.joining(row, by="S001", source="f:2")
    (made,) = HouseholdMember.join(row, by="S001", source="f:2").collect_events()
    assert type(direct) is type(made)
    assert direct.model_dump(exclude={"timestamp"}) == made.model_dump(exclude={"timestamp"})
