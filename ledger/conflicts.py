"""Conflicts between beneficiaries: pure rules used before payment and in reconciliation.

Before payment a conflict holds the payment back from export; in reconciliation it raises the
finding type of the same name. Each rule gives one conflict per case involved, so each can be worked
on its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from ledger.ids import mask_account, mask_id_number
from ledger.review import OVERDUE_FINDING, ReviewTerms, overdue_on


@dataclass(frozen=True)
class Beneficiary:
    """A case about to be paid this period (personal data stays inside; details mask it)."""

    case_id: str
    program: str
    region_code: str
    id_number: str
    bank_account: str
    account_name: str


@dataclass(frozen=True)
class Conflict:
    """Why one case's payment is held: a finding type, its severity and a human detail."""

    type: str
    severity: str
    case_id: str
    detail: str
    #: The open finding that holds the payment, when the hold is one (data comparison,
    #: households): no second finding is raised for the hold.
    finding_id: str | None = None
    #: The subject of its finding, where it is not the case and the month paid (a review
    #: overdue is one finding per case and due day, whichever month it holds).
    key: tuple[str, ...] = ()


def check_dead(
    people: Iterable[Beneficiary], deaths: Mapping[str, date], first_day: date
) -> list[Conflict]:
    """Beneficiaries reported dead before the month being paid began."""
    out = []
    for b in people:
        died = deaths.get(b.id_number)
        if died is not None and died < first_day:
            out.append(
                Conflict(
                    "paid_after_death",
                    "critical",
                    b.case_id,
                    f"beneficiary {mask_id_number(b.id_number)} reported dead on {died}, "
                    f"before the month paid began ({first_day})",
                )
            )
    return out


def check_duplicate_beneficiary(
    people: Iterable[Beneficiary], excludes: Mapping[str, Iterable[str]]
) -> list[Conflict]:
    """One id_number in mutually exclusive programs, or in two cases of one program."""
    by_person: dict[str, list[Beneficiary]] = defaultdict(list)
    for b in people:
        by_person[b.id_number].append(b)
    out = []
    for id_number, cases in by_person.items():
        if len(cases) < 2:
            continue
        for b in cases:
            others = [o for o in cases if o.case_id != b.case_id]
            clash = [
                o
                for o in others
                if o.program == b.program or o.program in set(excludes.get(b.program, ()))
            ]
            if clash:
                names = ", ".join(f"{o.case_id} ({o.program})" for o in clash)
                out.append(
                    Conflict(
                        "duplicate_beneficiary",
                        "high",
                        b.case_id,
                        f"{mask_id_number(id_number)} is paid by {b.program} in {b.case_id} and "
                        f"also by {names}",
                    )
                )
    return out


def check_shared_account(people: Iterable[Beneficiary]) -> list[Conflict]:
    """One bank account receiving for beneficiaries of different households.

    A household is known by its account holder's name and village (region_code): members of
    one household paid to the head's account (一卡通) are not flagged.
    """
    by_account: dict[str, list[Beneficiary]] = defaultdict(list)
    for b in people:
        by_account[b.bank_account].append(b)
    out = []
    for account, cases in by_account.items():
        households = {(b.account_name, b.region_code) for b in cases}
        if len(households) < 2:
            continue
        for b in cases:
            out.append(
                Conflict(
                    "shared_account",
                    "high",
                    b.case_id,
                    f"account {mask_account(account)} receives for {len(households)} households "
                    f"({len(cases)} cases: {', '.join(sorted(c.case_id for c in cases))})",
                )
            )
    return out


def check_staff_account(
    people: Iterable[Beneficiary],
    staff_by_account: Mapping[str, str],
    staff_by_id_number: Mapping[str, str],
) -> list[Conflict]:
    """A payment to an account, or a person, in the staff registry."""
    out = []
    for b in people:
        by_account = staff_by_account.get(b.bank_account)
        by_person = staff_by_id_number.get(b.id_number)
        if by_account:
            out.append(
                Conflict(
                    "staff_account",
                    "critical",
                    b.case_id,
                    f"account {mask_account(b.bank_account)} belongs to staff {by_account}",
                )
            )
        elif by_person:
            out.append(
                Conflict(
                    "staff_account",
                    "critical",
                    b.case_id,
                    f"beneficiary is staff member {by_person}",
                )
            )
    return out


def check_review_overdue(
    payee: Beneficiary, due: date | None, grace_days: int, first_day: date
) -> list[Conflict]:
    """A case whose periodic review (due on ``due``) was overdue, past ``grace_days``, on the
    first day of the month paid (with ``suspend_when_overdue``)."""
    if due is None or overdue_on(due, grace_days) > first_day:
        return []
    return [
        Conflict(
            OVERDUE_FINDING,
            "medium",
            payee.case_id,
            f"its periodic review was due {due.isoformat()} and is overdue since "
            f"{overdue_on(due, grace_days).isoformat()}: record the review "
            "(aidledger import reviews) and prepare again",
            key=(payee.case_id, due.isoformat()),
        )
    ]


@dataclass(frozen=True)
class PrePaymentHolds:
    """What holds a payment back, as the checks above find it.

    The checks among the month's cases (one person in two cases, one account for several
    households) are found once for the month and kept by case; the checks of one payee (an
    account or a person in the staff registry, a death before the month paid) are made on each
    payment, on the account and the person it actually goes to: an arrears or a reissue is
    held as a regular payment would be."""

    among_cases: Mapping[str, list[Conflict]]
    staff_by_account: Mapping[str, str]
    staff_by_id_number: Mapping[str, str]
    #: The review rules when overdue reviews hold payments (``suspend_when_overdue``).
    reviews: ReviewTerms | None = None

    def review_due(
        self, program: str, start: date, last_review: date | None, months: int | None
    ) -> date | None:
        """When a case's periodic review falls due, if overdue reviews hold payments (None
        otherwise: nothing to hold by)."""
        if self.reviews is None or not self.reviews.suspend:
            return None
        return self.reviews.due_of(program, start, last_review, months)

    def of(
        self,
        payee: Beneficiary,
        died: date | None,
        first_day: date,
        review_due: date | None = None,
    ) -> list[Conflict]:
        """The holds of one payment to ``payee`` for the month beginning ``first_day``
        (``review_due``: when the case's periodic review falls due)."""
        out = list(self.among_cases.get(payee.case_id, ()))
        out += check_staff_account([payee], self.staff_by_account, self.staff_by_id_number)
        if died is not None:
            out += check_dead([payee], {payee.id_number: died}, first_day)
        if self.reviews is not None and self.reviews.suspend:
            out += check_review_overdue(payee, review_due, self.reviews.grace_days, first_day)
        return out
