"""Verification requests (核查) to other departments: asked about a case, answered, or overdue.

A caseworker asks another department (public security, housing, market regulation, a bank…)
to verify something about a case, with a due date; the department's answer is recorded when
it comes. A request still unanswered after its due day raises a ``verification_overdue``
finding (reconciliation and the daily job), closed when the answer is recorded.

Who may do what is checked on the aggregate (:class:`VerificationRequest`): a caseworker
covering the case's region, with no interest in it (回避), both to ask and to record the
answer. The rules that need no store are the functions below, each tested on its own.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, ClassVar, Self
from uuid import UUID

from ledger.duties import Actor
from ledger.errors import AidLedgerError
from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id
from ledger.payment import Parties

#: Departments a bureau asks to verify a household's income, assets or registration, beyond
#: the paying departments of the programs config (which may be asked too).
VERIFYING_DEPARTMENTS: dict[str, str] = {
    "public_security": "公安 (户籍、车辆)",
    "hrss": "人力资源和社会保障 (就业、社保)",
    "housing": "住房和城乡建设 (房产)",
    "natural_resources": "自然资源 (不动产登记)",
    "market_regulation": "市场监督管理 (工商登记)",
    "tax": "税务",
    "bank": "银行 (存款)",
    "medical_security": "医疗保障",
    "education": "教育",
    "disabled_federation": "残联",
}

#: The longest a department is given to answer: a due date further away would keep a request
#: from ever showing as overdue.
MAX_DUE_DAYS = 90

#: The finding an unanswered request raises after its due day.
OVERDUE_FINDING = "verification_overdue"


class VerificationRefused(AidLedgerError):
    """A verification request or answer that breaks a rule; nothing recorded."""


def request_id(case_id: str, department: str, requested_on: date) -> str:
    """A request's id, stable from its case, department and day: asking the same department
    about the same case twice on one day is one request."""
    raw = hashlib.sha256(f"{case_id}|{department}|{requested_on.isoformat()}".encode()).digest()
    return "VR-" + base64.b32encode(raw[:10]).decode("ascii")


def request_aggregate_id(rid: str) -> UUID:
    return derived_id("verification", rid)


# -- the rules (pure) ---------------------------------------------------------------------------


def check_department(department: str, known: Iterable[str]) -> None:
    """The department asked is one the bureau knows (a typo would ask no one)."""
    names = sorted(set(known))
    if department not in names:
        raise VerificationRefused(
            f"unknown department {department!r}: ask one of {', '.join(names)}"
        )


def check_due(due: date, requested_on: date) -> None:
    """A due day from the day of the request to `MAX_DUE_DAYS` after it."""
    if due < requested_on:
        raise VerificationRefused(
            f"due date {due.isoformat()} is before the request ({requested_on.isoformat()}): "
            "give a day from today on"
        )
    if due > requested_on + timedelta(days=MAX_DUE_DAYS):
        raise VerificationRefused(
            f"due date {due.isoformat()} is more than {MAX_DUE_DAYS} days after the request: "
            "give the department a nearer day (a far one would keep the request from ever "
            "being overdue)"
        )


def check_text(text: str, what: str) -> str:
    """A required text (an answer's detail): not empty, at most 2000 characters."""
    value = text.strip()
    if not value:
        raise VerificationRefused(f"{what} needs text")
    if len(value) > 2000:
        raise VerificationRefused(f"{what} is longer than 2000 characters")
    return value


def days_overdue(due: date, answered_on: date | None, as_of: date) -> int:
    """Days past the due day without an answer as of ``as_of`` (0: in time, or answered by
    then). The due day itself is still in time."""
    if answered_on is not None and answered_on <= as_of:
        return 0
    return max(0, (as_of - due).days)


@dataclass(frozen=True)
class OpenRequest:
    """An unanswered request, with what a finding about it names: the case's program and
    region, and the department asked."""

    request_id: str
    case_id: str
    program: str
    region_code: str
    asked: str  # the department asked
    requested_on: date
    due: date


# -- the aggregate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFacts:
    """What a request needs to know of its case."""

    case_id: str
    program: str
    region_code: str


class VerificationRequest(LedgerAggregate):
    """One request to one department about one case, and its answer."""

    class Requested(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.VerificationRequested"
        request_id: str
        case_id: str
        program: str
        region_code: str
        department: str  # the department asked
        requested_on: date
        due: date

        def apply(self, aggregate: VerificationRequest) -> None:
            aggregate.requested = self
            aggregate.answered_on = None

    class Answered(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.VerificationAnswered"
        request_id: str
        detail: str
        answered_on: date

        def apply(self, aggregate: VerificationRequest) -> None:
            aggregate.answered_on = self.answered_on

    if TYPE_CHECKING:
        requested: VerificationRequest.Requested
        answered_on: date | None

    @property
    def request_id(self) -> str:
        return self.requested.request_id

    @classmethod
    def ask(
        cls,
        actor: Actor,
        *,
        case: CaseFacts,
        department: str,
        known_departments: Iterable[str],
        parties: Parties,
        requested_on: date,
        due: date,
    ) -> Self:
        """A caseworker covering the case, with no interest in it, asks a known department,
        due within `MAX_DUE_DAYS`. ``parties``: the case's people and account (for 回避)."""
        actor.require("caseworker", to="request a verification")
        actor.require_scope(case.region_code, to=f"request a verification of case {case.case_id}")
        actor.require_no_interest(
            parties.id_numbers,
            parties.accounts,
            to=f"request a verification of case {case.case_id}",
        )
        check_department(department, known_departments)
        check_due(due, requested_on)
        rid = request_id(case.case_id, department, requested_on)
        return cls._create(
            cls.Requested,
            id=request_aggregate_id(rid),
            by=actor.staff_id,
            request_id=rid,
            case_id=case.case_id,
            program=case.program,
            region_code=case.region_code,
            department=department,
            requested_on=requested_on,
            due=due,
        )

    def answer(self, actor: Actor, *, detail: str, parties: Parties, on: date) -> None:
        """Record the department's answer: a caseworker covering the case, with no interest in
        it; once."""
        r = self.requested
        actor.require("caseworker", to="record a verification answer")
        actor.require_scope(r.region_code, to=f"record the answer to {r.request_id}")
        actor.require_no_interest(
            parties.id_numbers, parties.accounts, to=f"record the answer to {r.request_id}"
        )
        if self.answered_on is not None:
            raise VerificationRefused(
                f"{r.request_id} was answered already (on {self.answered_on.isoformat()}): "
                "an answer is recorded once; comment on the case's findings instead"
            )
        if on < r.requested_on:
            raise VerificationRefused(
                f"{r.request_id} was requested on {r.requested_on.isoformat()}: it cannot be "
                f"answered on {on.isoformat()}, before it was asked"
            )
        text = check_text(detail, "an answer (--detail)")
        self.trigger_event(
            self.Answered, by=actor.staff_id, request_id=r.request_id, detail=text, answered_on=on
        )


register_event_topics(VerificationRequest, "aidledger.VerificationRequest")
