"""One-off relief and supplement runs as pure rules: the rows of a grants file, the holds on a
grant's payment, what a supplement pays a case, and the terms that name a supplement run.

No store: rows, grants and timelines are built by hand and the rule is asked.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from disbursement.entitlements import FixedTimeline, supplement_due
from disbursement.runs import check_supplement
from eligibility.grants import (
    GRANT_HOLDS,
    GrantFacts,
    grant_holds,
    hold_dead_before_decision,
    hold_repeats,
    hold_shared_account,
    hold_staff_account,
)
from ledger.case import CaseState
from ledger.conflicts import Beneficiary
from ledger.csvfile import CsvRow
from ledger.duties import Actor
from ledger.errors import InvalidValue, Problem
from ledger.grant import GRANT_COLUMNS, GrantRow, named_as_cases, recorded_differently
from ledger.payment import PayoutRun, RunClosed, SupplementTerms, is_supplement_run, payment_id
from ledger.period import Period
from ledger.programs import load_programs
from ledger.validation import case_rows, grant_rows
from reconciliation.checks import PaymentView, check_beneficiaries, check_duplicate_payment

CONFIG = load_programs()
TODAY = date(2026, 12, 15)
D = date

ROW = {
    "grant_id": "G1",
    "program": "temporary",
    "region_code": "610102001001",
    "name": "赵大山",
    "id_number": "610102198505050010",
    "household_size": "3",
    "amount": "2000.00",
    "decided_on": "2026-12-03",
    "reason": "房屋失火",
    "bank_account": "6228480000000000901",
    "account_name": "赵大山",
    "decided_by": "S001",
    "approved_by": "S002",
}


def grant(grant_id: str = "G1", **changes: object) -> GrantRow:
    row = GrantRow(
        grant_id,
        "temporary",
        "610102001001",
        "赵大山",
        "P1",
        3,
        200000,
        D(2026, 12, 3),
        "房屋失火",
        "6228480000000000901",
        "赵大山",
        "S001",
        "S002",
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def checked(**changes: str) -> tuple[list[tuple[int, GrantRow]], list[Problem]]:
    problems: list[Problem] = []
    rows = list(grant_rows([CsvRow(2, {**ROW, **changes})], CONFIG, TODAY, problems))
    return rows, problems


# -- the rows of a grants file ------------------------------------------------------------


def test_a_good_grants_row_is_typed_with_amounts_in_fen() -> None:
    rows, problems = checked()
    assert problems == []
    assert rows == [(2, grant(id_number="610102198505050010"))]
    assert tuple(ROW) == GRANT_COLUMNS


@pytest.mark.parametrize(
    ("changes", "column", "says"),
    [
        ({"program": "dibao"}, "program", "dibao is paid monthly: import it as a case"),
        ({"amount": "10000.01"}, "amount", "exceeds the temporary maximum of 10000.00 a grant"),
        ({"amount": "0.00"}, "amount", "must be above 0.00"),
        ({"decided_on": "2026-12-16"}, "decided_on", "is after today (2026-12-15)"),
        ({"approved_by": "S001"}, "approved_by", "must not be the person who decided"),
        ({"reason": ""}, "reason", "is empty"),
        ({"grant_id": "G 1"}, "grant_id", "grant_id must be 1-64 characters"),
    ],
)
def test_a_bad_grants_row_is_refused_by_line_and_column(
    changes: dict[str, str], column: str, says: str
) -> None:
    rows, problems = checked(**changes)
    assert rows == []
    assert [(p.line, p.column) for p in problems] == [(2, column)]
    assert says in problems[0].reason


def test_no_grant_above_max_per_grant_when_the_config_sets_none() -> None:
    config = CONFIG.model_copy(
        update={
            "programs": {
                **CONFIG.programs,
                "temporary": CONFIG.programs["temporary"].model_copy(
                    update={"max_per_grant_fen": None}
                ),
            }
        }
    )
    problems: list[Problem] = []
    rows = list(grant_rows([CsvRow(2, {**ROW, "amount": "50000.00"})], config, TODAY, problems))
    assert problems == [] and rows[0][1].amount == 5_000_000


def test_a_temporary_row_in_a_cases_file_is_refused_one_off_relief_is_granted() -> None:
    row = {
        "case_id": "C9",
        "program": "temporary",
        "region_code": "610102001001",
        "name": "赵大山",
        "id_number": "610102198505050010",
        "household_size": "3",
        "monthly_amount": "2000.00",
        "effective_from": "2026-12-01",
        "effective_to": "2026-12-31",
        "bank_account": "6228480000000000901",
        "account_name": "赵大山",
        "decided_by": "S001",
        "approved_by": "S002",
    }
    problems: list[Problem] = []
    assert list(case_rows([CsvRow(5, row)], CONFIG, problems)) == []
    assert [(p.line, p.column) for p in problems] == [(5, "program")]
    assert problems[0].reason.startswith("one-off relief: import grants")


def test_a_grant_is_named_apart_from_the_cases() -> None:
    (problem,) = named_as_cases([(2, grant("G1")), (3, grant("C001"))], {"C001", "C002"})
    assert (problem.line, problem.column) == (3, "grant_id")
    assert "is a case's id" in problem.reason


def test_a_grant_is_decided_once_the_same_row_again_is_no_problem() -> None:
    stored = {"G1": grant()}
    assert recorded_differently([(2, grant()), (3, grant("G2"))], stored) == []
    (problem,) = recorded_differently([(4, grant(amount=300000, reason="水灾"))], stored)
    assert (problem.line, problem.column) == (4, "grant_id")
    assert "amount, reason" in problem.reason and "new grant_id" in problem.reason


# -- the holds on a grant's payment -------------------------------------------------------

LIMITS = {"temporary": (3, 12)}


def test_the_fourth_grant_within_twelve_months_is_held_as_a_repeat() -> None:
    person = "610102198505050010"
    history = [
        grant("G1", id_number=person, decided_on=D(2026, 1, 10)),
        grant("G2", id_number=person, decided_on=D(2026, 5, 10)),
        grant("G3", id_number=person, decided_on=D(2026, 9, 10)),
    ]
    paying = [grant("G4", id_number=person, decided_on=D(2026, 12, 1))]
    (held,) = hold_repeats(paying, GrantFacts(history=history, limits=LIMITS))
    assert (held.type, held.severity, held.case_id) == ("temporary_repeat", "high", "G4")
    assert "4 grants of temporary within 12 months, 3 allowed" in held.detail
    assert "610102********0010" in held.detail and person not in held.detail
    # One of them out of the window (more than twelve months before): no repeat.
    older = [replace(history[0], decided_on=D(2025, 11, 30)), *history[1:]]
    assert hold_repeats(paying, GrantFacts(history=older, limits=LIMITS)) == []
    # Another person's grants do not count; no limit configured, nothing is held.
    others = [replace(h, id_number="P2") for h in history]
    assert hold_repeats(paying, GrantFacts(history=others, limits=LIMITS)) == []
    assert hold_repeats(paying, GrantFacts(history=history, limits={})) == []
    assert hold_repeats(paying, GrantFacts(history=history)) == []


def test_a_grantee_dead_before_the_decision_is_held_critical() -> None:
    paying = [grant("G1", id_number="610102198505050010", decided_on=D(2026, 12, 3))]
    dead_before = GrantFacts(deaths={"610102198505050010": D(2026, 11, 30)})
    (held,) = hold_dead_before_decision(paying, dead_before)
    assert (held.type, held.severity) == ("paid_after_death", "critical")
    assert "610102********0010" in held.detail and "050010" not in held.detail
    dead_after = GrantFacts(deaths={"610102198505050010": D(2026, 12, 3)})
    assert hold_dead_before_decision(paying, dead_after) == []


def test_a_grant_to_staff_or_their_account_is_held() -> None:
    paying = [grant("G1"), grant("G2", id_number="P9", bank_account="6217000000000000106")]
    facts = GrantFacts(
        staff_by_account={"6217000000000000106": "S006"}, staff_by_id_number={"P1": "S001"}
    )
    held = hold_staff_account(paying, facts)
    assert sorted((c.case_id, c.type) for c in held) == [
        ("G1", "staff_account"),
        ("G2", "staff_account"),
    ]


def test_a_grant_to_an_account_of_another_household_is_held_not_the_households_own() -> None:
    case = Beneficiary("C1", "dibao", "610102001001", "P5", "6228480000000000901", "赵大山")
    paying = [grant("G1")]
    # The household's own card (the same holder and village): not shared.
    assert hold_shared_account(paying, GrantFacts(others=[case])) == []
    stranger = replace(case, account_name="孙小红", region_code="610102002001")
    (held,) = hold_shared_account(paying, GrantFacts(others=[stranger]))
    assert (held.case_id, held.type) == ("G1", "shared_account")


def test_the_holds_of_a_grant_are_the_list_of_its_rules() -> None:
    assert (
        hold_dead_before_decision,
        hold_staff_account,
        hold_shared_account,
        hold_repeats,
    ) == GRANT_HOLDS
    paying = [grant("G1"), grant("G2", id_number="P2", bank_account="6228480000000000902")]
    facts = GrantFacts(staff_by_id_number={"P1": "S001"})
    assert {k: [c.type for c in v] for k, v in grant_holds(paying, facts).items()} == {
        "G1": ["staff_account"]
    }


# -- supplements --------------------------------------------------------------------------


def state(**changes: object) -> CaseState:
    base = CaseState(
        "C1",
        "dibao",
        "610102001001",
        "王秀兰",
        "P1",
        3,
        156000,
        D(2026, 1, 1),
        None,
        "6228480000000000011",
        "王秀兰",
        "S001",
        "S002",
        D(2026, 1, 1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_supplement_pays_per_person_of_the_household_or_per_case_once_in_effect() -> None:
    t = FixedTimeline(state())
    on = D(2026, 12, 1)
    assert supplement_due(t, amount=10000, per="person", on=on) == 30000
    assert supplement_due(t, amount=10000, per="case", on=on) == 10000
    ended = FixedTimeline(state(effective_to=D(2026, 11, 30)))
    assert supplement_due(ended, amount=10000, per="case", on=on) == 0
    later = FixedTimeline(state(start=D(2026, 12, 2), effective_from=D(2026, 12, 2)))
    assert supplement_due(later, amount=10000, per="case", on=on) == 0


TERMS = SupplementTerms(
    programs=("dibao", "tekun"),
    amount=10000,
    per="person",
    in_effect_on=D(2026, 12, 1),
    reason="2026年一次性生活补贴",
)


def test_a_supplement_is_named_by_its_programs_and_reason() -> None:
    same = TERMS.model_copy(update={"programs": ("tekun", "dibao"), "amount": 20000})
    other = TERMS.model_copy(update={"reason": "春节一次性补贴"})
    assert same.key == TERMS.key and other.key != TERMS.key
    assert TERMS.scope == f"supplement-{TERMS.key}"
    run_id = f"R202612-{TERMS.scope}-1"
    assert is_supplement_run(run_id) and not is_supplement_run("R202612-all-1")
    # Its bank ids: within the ISO 20022 limits (MsgId, PmtInfId = run id + "-001": 35).
    assert len(run_id) + 4 <= 35
    pid = payment_id("C1", "dibao", "2026-12", "supplement", key=TERMS.key)
    assert pid != payment_id("C1", "dibao", "2026-12", "supplement", key=other.key)
    assert len(pid) == 28 and pid.startswith("202612B1")
    assert payment_id("G1", "temporary", "2026-11", "one_off").startswith("202611O1")
    # Without a key, ids are as they always were.
    assert payment_id("C1", "dibao", "2026-12", "regular", key="") == payment_id(
        "C1", "dibao", "2026-12", "regular"
    )


def test_a_supplement_run_is_prepared_again_only_on_its_own_terms() -> None:
    finance = Actor("F1", frozenset({"finance"}), "610102")
    run = PayoutRun.prepare(finance, period="2026-12", scope=TERMS.scope, seq=1, supplement=TERMS)
    assert run.programs(CONFIG.programs) == {"dibao", "tekun"}
    run.check_same_supplement(TERMS)
    with pytest.raises(RunClosed, match="Cancel it first"):
        run.check_same_supplement(TERMS.model_copy(update={"amount": 20000}))
    assert "aidledger payout supplement --period 2026-12" in run.prepare_again
    monthly = PayoutRun.prepare(finance, period="2026-12", scope="all", seq=1)
    assert monthly.programs(["dibao", "tekun", "elderly"]) == {"dibao", "tekun", "elderly"}
    assert monthly.prepare_again == "aidledger payout prepare --period 2026-12"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"programs": ()}, "name at least one program"),
        ({"programs": ("dibao", "temporary")}, "temporary is one-off relief"),
        ({"programs": ("dibao", "dibao")}, "named twice"),
        ({"programs": ("pension",)}, "unknown program 'pension'"),
        ({"amount": 0}, "--amount must be above 0.00"),
        ({"reason": "  "}, "needs a reason"),
        ({"in_effect_on": D(2027, 1, 1)}, "is after 2026-12"),
    ],
)
def test_a_supplement_that_cannot_be_paid_is_refused(changes: dict[str, object], says: str) -> None:
    check_supplement(TERMS, CONFIG, Period.parse("2026-12"))  # as it is, it can be paid
    with pytest.raises(InvalidValue, match=says):
        check_supplement(TERMS.model_copy(update=changes), CONFIG, Period.parse("2026-12"))


# -- reconciliation ---------------------------------------------------------------------------


def view(pid: str, case_id: str, kind: str, id_number: str = "P1") -> PaymentView:
    return PaymentView(
        pid,
        case_id,
        "temporary" if kind == "one_off" else "dibao",
        "civil_affairs",
        "610102001001",
        "2026-12",
        kind,
        10000,
        D(2026, 12, 10),
        f"62284800000000{len(pid):05d}",
        "赵大山",
        id_number,
        "executed",
        executions=1,
    )


def test_two_supplements_of_a_month_are_no_duplicate_two_regular_payments_are() -> None:
    supplements = [view("B-1", "C1", "supplement"), view("B-2", "C1", "supplement")]
    assert check_duplicate_payment(supplements) == []
    regulars = [view("R-1", "C1", "regular"), view("R-22", "C1", "regular")]
    assert [d.type for d in check_duplicate_payment(regulars)] == ["duplicate_payment"]


def test_grants_to_one_person_are_repeats_not_duplicate_beneficiaries() -> None:
    grants = [view("O-1", "G1", "one_off"), view("O-2", "G2", "one_off")]
    assert check_beneficiaries(grants, {}, {}, {}) == []
    cases = [view("R-1", "C1", "regular"), view("R-2", "C2", "regular")]
    assert {d.type for d in check_beneficiaries(cases, {}, {}, {})} == {"duplicate_beneficiary"}
