"""Reconciliation checks: pure functions from what was instructed and what the bank said, to
findings. No I/O: a test hands them a few rows and reads the answer.

Each draft names its subject (the key its finding id is derived from), so running the checks
again raises nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from eligibility.reviews import DueReview, overdue
from ledger.conflicts import (
    Beneficiary,
    Conflict,
    check_duplicate_beneficiary,
    check_shared_account,
    check_staff_account,
)
from ledger.ids import mask_account, mask_id_number, mask_name
from ledger.money import format_fen
from ledger.period import Period
from ledger.review import overdue_on
from ledger.verification import OpenRequest
from ledger.verification import days_overdue as verification_days_overdue
from reconciliation.entries import PAYMENT_CURRENCY

SEVERITY = {
    "duplicate_payment": "critical",
    "amount_mismatch": "high",
    "account_mismatch": "critical",
    "name_mismatch": "medium",
    "unknown_payment": "critical",
    "late_payment": "low",
    "missing_result": "medium",
    "returned_not_reissued": "high",
    "paid_after_death": "critical",
    "duplicate_beneficiary": "high",
    "shared_account": "high",
    "staff_account": "critical",
}
#: Findings about work rather than bank results: raised by scheduled jobs and reconcile.
OPERATIONAL_SEVERITY = {
    "payout_run_late": "high",
    "verification_overdue": "medium",
    # About a case's household, before any payment (reconcile and the daily job).
    "household_size_mismatch": "medium",
    "household_member_dead": "high",
    "review_overdue": "medium",
}


@dataclass(frozen=True, slots=True)
class PaymentView:
    """A payment of an approved run, with what the bank reported about it."""

    payment_id: str
    case_id: str
    program: str
    department: str
    region_code: str
    period: str
    kind: str
    amount: int
    payment_date: date
    creditor_account: str
    creditor_name: str
    id_number: str
    status: str  # instructed, executed, rejected, returned, reissued, refunded
    executions: int = 0
    executed_amount: int | None = None
    executed_on: date | None = None
    reported_account: str | None = None
    reported_name: str | None = None
    result_on: date | None = None
    result_reason: str | None = None
    exported: bool = True
    reissue_of: str | None = None


@dataclass(frozen=True, slots=True)
class UnmatchedEntry:
    """A bank entry that names no payment the ledger instructed."""

    file_id: str
    seq: int
    kind: str
    end_to_end_id: str | None
    amount: int | None
    booking_date: date | None
    creditor_account: str | None
    currency: str | None = None
    #: The month it is reported in, when the file gave it no booking day (the import's).
    period: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignEntry:
    """A bank entry naming one of our payments in another currency than the payment's: kept
    with its file, counted as no result (`reconciliation.bank`)."""

    file_id: str
    seq: int
    kind: str  # what it would have been: executed, returned, rejected, accepted
    payment_id: str
    amount: int | None  # in its own currency's minor units
    currency: str
    booking_date: date | None


@dataclass(frozen=True, slots=True)
class Draft:
    """A finding a check wants raised: its type, subject key and what a person needs to know."""

    type: str
    key: tuple[str, ...]
    period: str
    detail: str
    payment: PaymentView | None = None
    amount: int | None = None
    program: str | None = None  # when there is no payment to take them from
    department: str | None = None
    # What explains it, where the type has it: the amounts instructed and reported by the
    # bank (fen), the account holder's name the bank reported (masked), the bank file.
    instructed_amount: int | None = None
    bank_amount: int | None = None
    bank_name: str | None = None
    file_id: str | None = None
    case_id: str | None = None  # when there is no payment to take them from
    region_code: str | None = None
    # Comparison findings: the record that explains it (`eligibility.comparison.Hit`).
    source: str | None = None
    source_ref: str | None = None
    value: str | None = None
    limit: str | None = None

    @property
    def severity(self) -> str:
        return SEVERITY.get(self.type) or OPERATIONAL_SEVERITY[self.type]


def _draft(
    type_: str, p: PaymentView, detail: str, amount: int | None = None, **facts: Any
) -> Draft:
    return Draft(
        type_,
        (p.case_id, p.payment_id),
        p.period,
        detail,
        p,
        p.amount if amount is None else amount,
        **facts,
    )


def check_duplicate_payment(payments: Sequence[PaymentView]) -> list[Draft]:
    """A payment executed more than once, or one case paid twice for a program, period, kind."""
    out = [
        _draft(
            "duplicate_payment",
            p,
            f"payment {p.payment_id} was executed {p.executions} times "
            f"({format_fen(p.amount)} instructed once)",
            p.amount * (p.executions - 1),
            instructed_amount=p.amount,
            bank_amount=p.amount * p.executions,
        )
        for p in payments
        if p.executions > 1
    ]
    by_slot: dict[tuple[str, str, str, str], list[PaymentView]] = defaultdict(list)
    for p in payments:
        if p.executions:
            kind = "regular" if p.kind == "reissue" else p.kind  # a reissue pays the same slot
            if p.kind == "supplement":
                kind = p.payment_id  # each supplement is a slot of its own
            by_slot[(p.case_id, p.program, p.period, kind)].append(p)
    for (case_id, program, period, kind), paid in by_slot.items():
        if len(paid) > 1:
            ids = ", ".join(sorted(x.payment_id for x in paid))
            out.append(
                Draft(
                    "duplicate_payment",
                    (case_id, program, period, kind),
                    period,
                    f"case {case_id} was paid {len(paid)} times for {program} "
                    f"{period} {kind}: {ids}",
                    paid[-1],
                    paid[-1].amount,
                )
            )
    return out


def check_amount_mismatch(payments: Iterable[PaymentView]) -> list[Draft]:
    """The bank executed an amount other than the one instructed."""
    return [
        _draft(
            "amount_mismatch",
            p,
            f"instructed {format_fen(p.amount)}, bank executed {format_fen(p.executed_amount)}",
            abs(p.executed_amount - p.amount),
            instructed_amount=p.amount,
            bank_amount=p.executed_amount,
        )
        for p in payments
        if p.executed_amount is not None and p.executed_amount != p.amount
    ]


def check_account_mismatch(payments: Iterable[PaymentView]) -> list[Draft]:
    """The bank credited an account other than the one instructed."""
    return [
        _draft(
            "account_mismatch",
            p,
            f"instructed account {mask_account(p.creditor_account)}, bank "
            f"credited {mask_account(p.reported_account)}",
        )
        for p in payments
        if p.reported_account and p.reported_account != p.creditor_account
    ]


def _same_name(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


def check_name_mismatch(payments: Iterable[PaymentView]) -> list[Draft]:
    """The account holder's name the bank reports is not the beneficiary's account name."""
    return [
        _draft(
            "name_mismatch",
            p,
            "the bank reports a different account holder name than the beneficiary's account name",
            bank_name=mask_name(p.reported_name or ""),
        )
        for p in payments
        if p.reported_name and not _same_name(p.reported_name, p.creditor_name)
    ]


def _money(amount: int | None, currency: str | None) -> str:
    """An amount as a finding's detail shows it: the currency named when it is not the
    payments' (fen of another currency are that currency's minor units)."""
    if amount is None:
        return "no amount"
    if currency in (None, PAYMENT_CURRENCY):
        return format_fen(amount)
    return f"{format_fen(amount)} {currency}"


def check_unknown_payment(entries: Iterable[UnmatchedEntry]) -> list[Draft]:
    """The bank reports a payment the ledger never instructed (period: the booking month, or
    the month it was reported in when the file gave no booking day)."""
    out = []
    for e in entries:
        booked = str(Period.of(e.booking_date)) if e.booking_date else None
        period = booked or e.period or "unknown"
        out.append(
            Draft(
                "unknown_payment",
                (e.end_to_end_id or f"{e.file_id}#{e.seq}", e.kind),
                period,
                f"bank {e.kind} entry {e.seq} of file {e.file_id} names "
                f"{e.end_to_end_id or 'no EndToEndId'}, which the ledger never instructed "
                f"({_money(e.amount, e.currency)} to {mask_account(e.creditor_account)})",
                None,
                e.amount,
                bank_amount=e.amount,
                file_id=e.file_id,
            )
        )
    return out


def check_currency_mismatch(
    entries: Iterable[ForeignEntry], payments: Mapping[str, PaymentView]
) -> list[Draft]:
    """``amount_mismatch``: the bank booked (or reported) one of our payments in another
    currency than the one instructed. The entry counted as no result; the payment is still
    unpaid in CNY. One finding per payment and currency, its amount the instructed one (an
    amount in another currency is not comparable)."""
    out = []
    for e in entries:
        p = payments.get(e.payment_id)
        if p is None:
            continue  # not a payment of this period's approved runs
        out.append(
            Draft(
                "amount_mismatch",
                (p.case_id, p.payment_id, e.currency),
                p.period,
                f"instructed {format_fen(p.amount)} {PAYMENT_CURRENCY}, bank {e.kind} "
                f"{_money(e.amount, e.currency)} (entry {e.seq} of file {e.file_id}"
                f"{f', booked {e.booking_date}' if e.booking_date else ''}): another currency, "
                "not counted as a result",
                p,
                p.amount,
                instructed_amount=p.amount,
                bank_amount=e.amount,
                file_id=e.file_id,
            )
        )
    return out


def check_late_payment(payments: Iterable[PaymentView]) -> list[Draft]:
    """Executed after the program's payment day for that period."""
    return [
        _draft(
            "late_payment",
            p,
            f"due {p.payment_date}, executed {p.executed_on} "
            f"({(p.executed_on - p.payment_date).days} days late)",
        )
        for p in payments
        if p.executed_on is not None and p.executed_on > p.payment_date
    ]


def check_missing_result(payments: Iterable[PaymentView], as_of: date, days: int) -> list[Draft]:
    """Sent, and no bank result `days` after the payment day."""
    return [
        _draft(
            "missing_result",
            p,
            f"exported for {p.payment_date}; no bank result "
            f"{(as_of - p.payment_date).days} days later (allowed {days})",
        )
        for p in payments
        if p.exported and p.status == "instructed" and as_of > p.payment_date + timedelta(days)
    ]


def check_returned_not_reissued(
    payments: Iterable[PaymentView], as_of: date, days: int
) -> list[Draft]:
    """Returned or rejected, and neither reissued nor refunded within `days`."""
    return [
        _draft(
            "returned_not_reissued",
            p,
            f"{p.status} on {p.result_on} "
            f"({p.result_reason or 'no reason given'}); not reissued or refunded "
            f"{(as_of - p.result_on).days} days later (allowed {days})",
        )
        for p in payments
        if p.status in ("returned", "rejected")
        and p.result_on is not None
        and as_of > p.result_on + timedelta(days)
    ]


def check_paid_after_death(
    payments: Iterable[PaymentView], deaths: Mapping[str, date]
) -> list[Draft]:
    """A payment for a period, or executed on a date, after the beneficiary's death."""
    out = []
    for p in payments:
        died = deaths.get(p.id_number)
        if died is None or p.status in ("instructed", "rejected"):
            continue
        month_after = Period.parse(p.period).first_day > died
        executed_after = p.executed_on is not None and p.executed_on > died
        if month_after or executed_after:
            out.append(
                Draft(
                    "paid_after_death",
                    (p.case_id, p.period),
                    p.period,
                    f"beneficiary {mask_id_number(p.id_number)} died {died}; payment "
                    f"{p.payment_id} for {p.period} executed "
                    f"{p.executed_on or 'on an unknown date'}",
                    p,
                    p.amount,
                )
            )
    return out


def _from_conflicts(conflicts: Iterable[Conflict], payments: Sequence[PaymentView]) -> list[Draft]:
    by_case: dict[str, PaymentView] = {}
    for p in payments:
        by_case.setdefault(p.case_id, p)
    return [
        Draft(
            c.type,
            (c.case_id, by_case[c.case_id].period),
            by_case[c.case_id].period,
            c.detail,
            by_case[c.case_id],
            by_case[c.case_id].amount,
        )
        for c in conflicts
    ]


def check_beneficiaries(
    payments: Sequence[PaymentView],
    excludes: Mapping[str, Iterable[str]],
    staff_by_account: Mapping[str, str],
    staff_by_id_number: Mapping[str, str],
    members: Iterable[Beneficiary] = (),
) -> list[Draft]:
    """duplicate_beneficiary, shared_account and staff_account over a period's payments.

    ``members``: the household members of cases in effect, as persons of their case (the
    case's program and account): a member paid in another case of the program (or one it
    excludes), as holder or as member, is a duplicate as a holder is."""
    paid = [p for p in payments if p.status not in ("rejected", "refunded")]
    people = list(
        {
            p.case_id: Beneficiary(
                p.case_id,
                p.program,
                p.region_code,
                p.id_number,
                p.creditor_account,
                p.creditor_name,
            )
            for p in paid
        }.values()
    )
    # A grant of one-off relief is no case: a person's grants are judged as repeats
    # (``temporary_repeat``, before payment), not as two cases of one program.
    grants = {p.case_id for p in paid if p.kind == "one_off"}
    monthly = [b for b in people if b.case_id not in grants]
    paid_cases = {b.case_id for b in monthly}
    persons = {
        (b.case_id, b.id_number): b
        for b in [*monthly, *(m for m in members if m.case_id in paid_cases)]
    }
    conflicts = [
        *check_duplicate_beneficiary(persons.values(), excludes),
        *check_shared_account(people),
        *check_staff_account(people, staff_by_account, staff_by_id_number),
    ]
    return _from_conflicts(conflicts, paid)


@dataclass(frozen=True, slots=True)
class RunDue:
    """A program's payout for a period, as the approval reminder sees it."""

    program: str
    department: str
    period: str
    payment_date: date
    approved: bool
    active_cases: int


def check_run_approval(due: Iterable[RunDue], as_of: date, reminder_days: int) -> list[Draft]:
    """``payout_run_late``: a program with cases in effect has no approved run for a period
    ``reminder_days`` (or fewer) before its payment day, or after it."""
    out = []
    for d in due:
        if d.approved or d.active_cases == 0:
            continue
        if as_of < d.payment_date - timedelta(days=reminder_days):
            continue
        left = (d.payment_date - as_of).days
        when = f"in {left} days" if left > 0 else ("today" if left == 0 else f"{-left} days ago")
        out.append(
            Draft(
                "payout_run_late",
                (d.program, d.period),
                d.period,
                f"no approved run for {d.program} {d.period} ({d.active_cases} cases in effect); "
                f"payment day {d.payment_date.isoformat()} is {when}",
                program=d.program,
                department=d.department,
            )
        )
    return out


def check_verification_overdue(
    requests: Iterable[OpenRequest], as_of: date, departments: Mapping[str, str]
) -> list[Draft]:
    """``verification_overdue``: a request to another department unanswered after its due day
    (``departments``: each program's paying department). Its period is the due day's month."""
    out = []
    for r in requests:
        late = verification_days_overdue(r.due, None, as_of)
        if late == 0:
            continue
        out.append(
            Draft(
                "verification_overdue",
                (r.request_id,),
                str(Period.of(r.due)),
                f"verification request {r.request_id} to {r.asked} about case {r.case_id} "
                f"(asked {r.requested_on.isoformat()}) was due {r.due.isoformat()}: "
                f"unanswered {late} day(s) later, as of {as_of.isoformat()}",
                program=r.program,
                department=departments.get(r.program),
                case_id=r.case_id,
                region_code=r.region_code,
            )
        )
    return out


def check_review_overdue(
    due: Iterable[DueReview], as_of: date, grace_days: int, departments: Mapping[str, str]
) -> Iterator[Draft]:
    """``review_overdue``: a case in effect whose periodic review is past its due day by more
    than the grace, once per case and due day (a review recorded moves the due day). Its period
    is the month it became overdue."""
    for d in due:
        if not overdue(d, grace_days):
            continue
        late = overdue_on(d.due, grace_days)
        last = f"last reviewed {d.last_review.isoformat()}" if d.last_review else "never reviewed"
        yield Draft(
            "review_overdue",
            (d.case_id, d.due.isoformat()),
            str(Period.of(late)),
            f"case {d.case_id} ({d.program}, {last}) was due for review {d.due.isoformat()}: "
            f"{d.days_overdue} day(s) later as of {as_of.isoformat()}, past the "
            f"{grace_days}-day grace; record its review (aidledger import reviews)",
            program=d.program,
            department=departments.get(d.program),
            case_id=d.case_id,
            region_code=d.region_code,
        )
