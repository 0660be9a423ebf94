"""One-off relief (临时救助) as pure rules: a grant is paid once, within limits.

``temporary`` is emergency aid: one ``one_off`` payment per grant (never monthly). The
program's ``max_per_grant`` caps a grant's amount (above it: refused by line); more than
``max_grants`` grants to one person within ``window_months`` raises ``temporary_repeat`` (a
finding, not a refusal: repeated emergencies happen, and a person must look).

The repeat also holds the grant's payment (`hold_repeats`), as the other pre-payment holds
do: relief is paid at once and hard to recover, so a person looks before it goes (a finance
approver or supervisor who did not prepare the run releases it), and a genuine repeat waits
days, not a month. The holds of a grant's payment (`GRANT_HOLDS`) are the monthly payments'
where they apply to one payment: the grantee dead before the decision, staff's account or
person, an account shared with other households; and the repeats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from eligibility.reviews import add_months
from ledger.conflicts import Beneficiary, Conflict, check_shared_account, check_staff_account
from ledger.grant import GrantRow
from ledger.ids import mask_id_number


@dataclass(frozen=True)
class Grant:
    grant_id: str
    program: str
    id_number: str
    amount: int
    decided_on: date


@dataclass(frozen=True)
class Repeat:
    """A grant that makes one person's grants within the window more than allowed."""

    grant_id: str
    id_number: str
    grants: int
    window_months: int
    allowed: int


def check_repeats(grants: Iterable[Grant], *, max_grants: int, window_months: int) -> list[Repeat]:
    """Each grant that is the (max_grants+1)th or later of one person within ``window_months``
    before it (its own day included)."""
    by_person: dict[str, list[Grant]] = defaultdict(list)
    for g in grants:
        by_person[g.id_number].append(g)
    out = []
    for person, theirs in by_person.items():
        theirs.sort(key=lambda g: (g.decided_on, g.grant_id))
        for i, g in enumerate(theirs):
            since = add_months(g.decided_on, -window_months)
            within = [x for x in theirs[: i + 1] if x.decided_on > since]
            if len(within) > max_grants:
                out.append(Repeat(g.grant_id, person, len(within), window_months, max_grants))
    return out


# -- holds on a grant's payment -----------------------------------------------------------------


@dataclass(frozen=True)
class GrantFacts:
    """What the holds of grants' payments look at.

    ``others``: cases in effect paid to the same accounts as the grants (shared accounts);
    ``history``: every grant recorded for the grantees (repeats); ``limits``: per program,
    ``max_grants`` (None: no limit) and ``window_months``.
    """

    deaths: Mapping[str, date] = field(default_factory=dict)
    staff_by_account: Mapping[str, str] = field(default_factory=dict)
    staff_by_id_number: Mapping[str, str] = field(default_factory=dict)
    others: Sequence[Beneficiary] = ()
    history: Sequence[GrantRow] = ()
    limits: Mapping[str, tuple[int | None, int]] = field(default_factory=dict)


def _beneficiary(g: GrantRow) -> Beneficiary:
    return Beneficiary(
        g.grant_id, g.program, g.region_code, g.id_number, g.bank_account, g.account_name
    )


def hold_dead_before_decision(paying: Sequence[GrantRow], facts: GrantFacts) -> list[Conflict]:
    """A grantee reported dead before the grant was decided."""
    out = []
    for g in paying:
        died = facts.deaths.get(g.id_number)
        if died is not None and died < g.decided_on:
            out.append(
                Conflict(
                    "paid_after_death",
                    "critical",
                    g.grant_id,
                    f"grantee {mask_id_number(g.id_number)} reported dead on {died}, before "
                    f"the grant was decided ({g.decided_on})",
                )
            )
    return out


def hold_staff_account(paying: Sequence[GrantRow], facts: GrantFacts) -> list[Conflict]:
    """A grant to an account, or a person, in the staff registry."""
    return check_staff_account(
        [_beneficiary(g) for g in paying], facts.staff_by_account, facts.staff_by_id_number
    )


def hold_shared_account(paying: Sequence[GrantRow], facts: GrantFacts) -> list[Conflict]:
    """A grant to an account that receives for other households (cases in effect, or other
    grants paid now): members of one household paid to the head's card are not flagged."""
    mine = {g.grant_id for g in paying}
    people = [
        *(_beneficiary(g) for g in paying),
        *(o for o in facts.others if o.case_id not in mine),
    ]
    return [c for c in check_shared_account(people) if c.case_id in mine]


def hold_repeats(paying: Sequence[GrantRow], facts: GrantFacts) -> list[Conflict]:
    """A grant that is a repeat (`check_repeats`) of its program's ``max_grants`` within
    ``window_months``, judged on every grant recorded for the grantee."""
    out = []
    wanted = {g.grant_id: g for g in paying}
    for program in sorted({g.program for g in paying}):
        allowed, window = facts.limits.get(program, (None, 12))
        if allowed is None:
            continue
        history = {h.grant_id: h for h in facts.history if h.program == program}
        history.update({k: g for k, g in wanted.items() if g.program == program})
        grants = [
            Grant(h.grant_id, h.program, h.id_number, h.amount, h.decided_on)
            for h in history.values()
        ]
        for r in check_repeats(grants, max_grants=allowed, window_months=window):
            if r.grant_id in wanted:
                out.append(
                    Conflict(
                        "temporary_repeat",
                        "high",
                        r.grant_id,
                        f"{mask_id_number(r.id_number)}: {r.grants} grants of {program} within "
                        f"{r.window_months} months, {r.allowed} allowed",
                    )
                )
    return out


#: The holds of a grant's payment, each a rule of its own.
GRANT_HOLDS: tuple[Callable[[Sequence[GrantRow], GrantFacts], list[Conflict]], ...] = (
    hold_dead_before_decision,
    hold_staff_account,
    hold_shared_account,
    hold_repeats,
)


def grant_holds(paying: Sequence[GrantRow], facts: GrantFacts) -> dict[str, list[Conflict]]:
    """What holds each grant's payment (by grant_id; a grant held by nothing is absent)."""
    out: dict[str, list[Conflict]] = defaultdict(list)
    for rule in GRANT_HOLDS:
        for c in rule(paying, facts):
            out[c.case_id].append(c)
    return dict(out)
