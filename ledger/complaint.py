"""Complaints and reports (举报投诉): received, assigned, referred, answered, resolved, reopened.

A complaint comes by a channel (hotline, letter, visit, web, email), in a category (wrongly
covered 错保, missed 漏保, fraud 骗保, favouritism 人情保/关系保, the funds 截留挪用,
service), about a case, a payment, a region or nothing in particular. A reply is due
``complaint_days`` after it is received (the programs config, per category; 15 by default);
one without a reply past that day is overdue. A substantiated fraud or favouritism complaint
raises a finding (``complaint_substantiated``), whose id the complaint keeps.

The complainant is anonymous, or named with a phone number. Those two facts are kept in the
complaint's first event only: with ``AIDLEDGER_CIPHER_KEY`` every event payload is encrypted,
no read model holds them, and nothing shows them (`PRIVATE_FIELDS` is what histories leave
out; `ComplaintState` has no field for them).

Duties are checks on the aggregate (:class:`Complaint`): a caseworker records a complaint, a
supervisor assigns, resolves and reopens it; nobody with an interest in its case acts on it
(回避), and nobody who decided or approved its case (or prepared or approved its payment's
run) is assigned it or resolves it. The rules that need no store are the functions below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, ClassVar, Self
from uuid import UUID

from ledger.duties import Actor, DutyRefused
from ledger.errors import AidLedgerError
from ledger.events import LedgerAggregate, LedgerEvent, register_event_topics
from ledger.ids import derived_id
from ledger.payment import COMMENTERS, Parties

#: How a complaint came in, with the words staff use.
CHANNELS: dict[str, str] = {
    "hotline": "电话",
    "letter": "来信",
    "visit": "来访",
    "web": "网上",
    "email": "电子邮件",
}
#: What it is about.
CATEGORIES: dict[str, str] = {
    "wrongly_covered": "错保",
    "missed": "漏保",
    "fraud": "骗保",
    "favouritism": "人情保、关系保",
    "funds": "资金 (截留、挤占、挪用)",
    "service": "服务",
}
#: How a resolved complaint turned out.
OUTCOMES: dict[str, str] = {
    "substantiated": "属实",
    "partly_substantiated": "部分属实",
    "unsubstantiated": "不属实",
}
#: Where a complaint stands: the last act on it (a comment changes nothing).
STATUSES = ("received", "assigned", "referred", "responded", "resolved", "reopened")

#: Categories whose substantiated complaint raises a finding, and the finding's type.
FINDING_CATEGORIES = frozenset({"fraud", "favouritism"})
SUBSTANTIATED = frozenset({"substantiated", "partly_substantiated"})
FINDING_TYPE = "complaint_substantiated"

#: Fields of the complaint's events that are never shown (lists, histories, logs, metrics).
PRIVATE_FIELDS = frozenset({"complainant_name", "complainant_phone"})

#: The longest text a complaint's summary, reply or comment may have.
MAX_TEXT = 2000

#: What a spreadsheet takes for the start of a formula: refused at the start of a name.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ComplaintRefused(AidLedgerError):
    """A complaint, or an act on one, that breaks a rule; nothing recorded."""


def complaint_id(received_on: date, seq: int) -> str:
    """A complaint's id: the day it was received and its number that day (``CP-20261215-003``),
    readable over the phone."""
    return f"CP-{received_on.strftime('%Y%m%d')}-{seq:03d}"


def complaint_aggregate_id(cid: str) -> UUID:
    return derived_id("complaint", cid)


# -- the rules (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Complainant:
    """Who complained (never shown): a name and a phone number, normalised."""

    name: str
    phone: str


def check_complainant(anonymous: bool, name: str | None, phone: str | None) -> Complainant | None:
    """Anonymous (no name, no phone), or a name and a phone number; None when anonymous.

    The refusals never repeat what was typed: it is the complainant's."""
    given = [v for v in (name, phone) if v is not None and v.strip()]
    if anonymous:
        if given:
            raise ComplaintRefused(
                "an anonymous complaint takes no --complainant or --phone: give one or the other"
            )
        return None
    if name is None or not name.strip() or phone is None or not phone.strip():
        raise ComplaintRefused(
            "say who complained: --anonymous, or --complainant NAME and --phone PHONE"
        )
    clean_name = name.strip()
    if clean_name.startswith(_FORMULA_STARTS) or len(clean_name) > 50:
        raise ComplaintRefused(
            "the complainant's name must be 1 to 50 characters, not starting with = + - @ "
            "(a spreadsheet would take it for a formula)"
        )
    digits = phone.strip().replace(" ", "").replace("-", "")
    plus = digits.startswith("+")
    digits = digits.removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or not 5 <= len(digits) <= 20:
        raise ComplaintRefused(
            "the complainant's phone must be 5 to 20 digits (spaces, '-' and a leading '+' allowed)"
        )
    return Complainant(clean_name, ("+" if plus else "") + digits)


def check_text(text: str, what: str) -> str:
    """A required text (summary, reply, reason): not empty, at most `MAX_TEXT` characters."""
    value = text.strip()
    if not value:
        raise ComplaintRefused(f"{what} needs text")
    if len(value) > MAX_TEXT:
        raise ComplaintRefused(f"{what} is longer than {MAX_TEXT} characters")
    return value


def check_choice(value: str, choices: Iterable[str], what: str) -> None:
    known = list(choices)
    if value not in known:
        raise ComplaintRefused(f"unknown {what} {value!r} (known: {', '.join(known)})")


def check_one_subject(case_id: str | None, payment_id: str | None, region: str | None) -> None:
    """A complaint is about one case, one payment, one region, or none of them."""
    options = (("--case", case_id), ("--payment", payment_id), ("--region", region))
    given = [flag for flag, value in options if value]
    if len(given) > 1:
        raise ComplaintRefused(
            f"a complaint is about one case, one payment or one region: not {' and '.join(given)}"
        )


def due_date(received_on: date, days: int) -> date:
    """The day a reply is due: ``days`` after the complaint was received."""
    return received_on + timedelta(days=days)


def days_overdue(due: date, replied: bool, as_of: date) -> int:
    """Days past the due day without a reply (a response or a resolution) as of ``as_of``; the
    due day itself is still in time."""
    return 0 if replied else max(0, (as_of - due).days)


def raises_finding(category: str, outcome: str) -> bool:
    """A fraud or favouritism complaint found (partly) true is a finding to act on."""
    return category in FINDING_CATEGORIES and outcome in SUBSTANTIATED


def check_not_party_to_decision(actor: Actor, deciders: Iterable[str], *, to: str) -> None:
    """Nobody judges a complaint about their own decision: whoever decided or approved the
    complaint's case (or prepared or approved its payment's run)."""
    if actor.staff_id in set(deciders):
        raise DutyRefused(
            f"{actor.staff_id} may not {to}: {actor.staff_id} decided or approved what it "
            "complains of: another staff member must (回避)"
        )


# -- the state ---------------------------------------------------------------------------------


@dataclass
class ComplaintState:
    """A complaint as it stands: everything but who complained."""

    complaint_id: str
    channel: str
    category: str
    summary: str
    case_id: str | None
    payment_id: str | None
    region_code: str | None
    program: str | None
    department: str | None
    anonymous: bool
    received_on: date
    due: date
    opened_by: str
    status: str = "received"
    assigned_to: str | None = None
    referred_to: str | None = None
    responded_on: date | None = None
    outcome: str | None = None
    resolved_on: date | None = None
    resolved_by: str | None = None
    finding_id: str | None = None
    comments: int = 0

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"

    def days_overdue(self, as_of: date) -> int:
        return days_overdue(self.due, self.resolved or self.responded_on is not None, as_of)


class Complaint(LedgerAggregate):
    """One complaint and what was done about it. Commands check first, then trigger."""

    class Opened(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.ComplaintOpened"
        complaint_id: str
        channel: str
        category: str
        summary: str
        case_id: str | None = None
        payment_id: str | None = None
        region_code: str | None = None
        program: str | None = None
        department: str | None = None
        anonymous: bool
        # Never shown: see PRIVATE_FIELDS.
        complainant_name: str | None = None
        complainant_phone: str | None = None
        received_on: date
        due: date

        def apply(self, aggregate: Complaint) -> None:
            aggregate.state = self.initial_state()

        def initial_state(self) -> ComplaintState:
            return ComplaintState(
                complaint_id=self.complaint_id,
                channel=self.channel,
                category=self.category,
                summary=self.summary,
                case_id=self.case_id,
                payment_id=self.payment_id,
                region_code=self.region_code,
                program=self.program,
                department=self.department,
                anonymous=self.anonymous,
                received_on=self.received_on,
                due=self.due,
                opened_by=self.by,
            )

    class Act(LedgerAggregate.Event):
        """An act on the complaint on a day (``on``: the day of the act, ``today``)."""

        complaint_id: str
        on: date

        def apply(self, aggregate: Complaint) -> None:
            self.apply_state(aggregate.state)

        def apply_state(self, state: ComplaintState) -> None:
            pass

    class Assigned(Act):
        TOPIC: ClassVar[str] = "aidledger.ComplaintAssigned"
        assignee: str

        def apply_state(self, state: ComplaintState) -> None:
            state.status, state.assigned_to = "assigned", self.assignee

    class Commented(Act):
        TOPIC: ClassVar[str] = "aidledger.ComplaintCommented"
        comment: str

        def apply_state(self, state: ComplaintState) -> None:
            state.comments += 1

    class Referred(Act):
        """Passed to another body (e.g. 纪检监察 for favouritism by staff) with the reason."""

        TOPIC: ClassVar[str] = "aidledger.ComplaintReferred"
        referred_to: str
        reason: str

        def apply_state(self, state: ComplaintState) -> None:
            state.status, state.referred_to = "referred", self.referred_to

    class Responded(Act):
        """The reply given to the complainant (答复): it stops the reply's clock."""

        TOPIC: ClassVar[str] = "aidledger.ComplaintResponded"
        reply: str

        def apply_state(self, state: ComplaintState) -> None:
            state.status, state.responded_on = "responded", self.on

    class Resolved(Act):
        TOPIC: ClassVar[str] = "aidledger.ComplaintResolved"
        outcome: str
        detail: str
        finding_id: str | None = None

        def apply_state(self, state: ComplaintState) -> None:
            state.status, state.outcome = "resolved", self.outcome
            state.resolved_on, state.resolved_by = self.on, self.by
            state.finding_id = self.finding_id or state.finding_id

    class Reopened(Act):
        """Open again (a complaint found badly handled): a new reply is due by ``due``."""

        TOPIC: ClassVar[str] = "aidledger.ComplaintReopened"
        reason: str
        due: date

        def apply_state(self, state: ComplaintState) -> None:
            state.status, state.due = "reopened", self.due
            state.responded_on = state.outcome = state.resolved_on = state.resolved_by = None

    if TYPE_CHECKING:
        state: ComplaintState

    @property
    def complaint_id(self) -> str:
        return self.state.complaint_id

    @classmethod
    def receive(
        cls,
        actor: Actor,
        *,
        cid: str,
        channel: str,
        category: str,
        summary: str,
        subject: Subject,
        parties: Parties,
        complainant: Complainant | None,
        received_on: date,
        due: date,
    ) -> Self:
        """Record a complaint: a caseworker covering its region, with no interest in its case."""
        actor.require("caseworker", to="record a complaint")
        actor.require_scope(subject.region_code, to="record a complaint about this region")
        actor.require_no_interest(
            parties.id_numbers, parties.accounts, to="record a complaint about this case"
        )
        check_choice(channel, CHANNELS, "channel")
        check_choice(category, CATEGORIES, "category")
        text = check_text(summary, "a complaint's summary (--summary)")
        return cls._create(
            cls.Opened,
            id=complaint_aggregate_id(cid),
            by=actor.staff_id,
            complaint_id=cid,
            channel=channel,
            category=category,
            summary=text,
            case_id=subject.case_id,
            payment_id=subject.payment_id,
            region_code=subject.region_code,
            program=subject.program,
            department=subject.department,
            anonymous=complainant is None,
            complainant_name=complainant.name if complainant else None,
            complainant_phone=complainant.phone if complainant else None,
            received_on=received_on,
            due=due,
        )

    def assign(
        self, actor: Actor, *, to: Actor, parties: Parties, deciders: Iterable[str], on: date
    ) -> None:
        """A supervisor assigns it to a caseworker or supervisor in its region who has no
        interest in its case and did not decide what it complains of."""
        actor.require("supervisor", to="assign a complaint")
        self._check_scope(actor, "assign")
        self._check_open("assigned")
        what = f"be assigned complaint {self.complaint_id}"
        to.require("caseworker", "supervisor", to=what)
        to.require_scope(self.state.region_code, to=what)
        to.require_no_interest(parties.id_numbers, parties.accounts, to=what)
        check_not_party_to_decision(to, deciders, to=what)
        self._act(self.Assigned, actor, on, assignee=to.staff_id)

    def comment(self, actor: Actor, *, text: str, on: date) -> None:
        """Anyone who works cases, money or audits, in its region, may comment."""
        actor.require(*COMMENTERS, to="comment on a complaint")
        self._check_scope(actor, "comment on")
        self._act(self.Commented, actor, on, comment=check_text(text, "a comment (--text)"))

    def refer(self, actor: Actor, *, to: str, reason: str, parties: Parties, on: date) -> None:
        """A caseworker or supervisor with no interest passes it to another body."""
        actor.require("caseworker", "supervisor", to="refer a complaint")
        self._check_scope(actor, "refer")
        self._check_no_interest(actor, parties, "refer")
        self._check_open("referred")
        self._act(
            self.Referred,
            actor,
            on,
            referred_to=check_text(to, "where it is referred (--to)"),
            reason=check_text(reason, "a referral's reason (--reason)"),
        )

    def respond(self, actor: Actor, *, reply: str, parties: Parties, on: date) -> None:
        """The reply to the complainant: by its assignee (or a supervisor; a caseworker while
        it is assigned to no one), with no interest in its case."""
        actor.require("caseworker", "supervisor", to="answer a complaint")
        self._check_scope(actor, "answer")
        self._check_no_interest(actor, parties, "answer")
        self._check_open("answered")
        assignee = self.state.assigned_to
        if assignee is not None and actor.staff_id != assignee and not actor.holds("supervisor"):
            raise DutyRefused(
                f"{actor.staff_id} may not answer complaint {self.complaint_id}: it is "
                f"assigned to {assignee} (or a supervisor answers it)"
            )
        self._act(self.Responded, actor, on, reply=check_text(reply, "a reply (--detail)"))

    def resolve(
        self,
        actor: Actor,
        *,
        outcome: str,
        detail: str,
        parties: Parties,
        deciders: Iterable[str],
        finding_id: str | None,
        on: date,
    ) -> None:
        """A supervisor with no interest, who did not decide what it complains of, resolves
        it with its outcome. ``finding_id``: the finding it raises (`raises_finding`)."""
        actor.require("supervisor", to="resolve a complaint")
        self._check_scope(actor, "resolve")
        self._check_no_interest(actor, parties, "resolve")
        check_not_party_to_decision(actor, deciders, to=f"resolve complaint {self.complaint_id}")
        self._check_open("resolved")
        check_choice(outcome, OUTCOMES, "outcome")
        self._act(
            self.Resolved,
            actor,
            on,
            outcome=outcome,
            detail=check_text(detail, "a resolution (--detail)"),
            finding_id=finding_id,
        )

    def reopen(self, actor: Actor, *, reason: str, due: date, on: date) -> None:
        """A supervisor reopens a resolved complaint; a new reply is due by ``due``."""
        actor.require("supervisor", to="reopen a complaint")
        self._check_scope(actor, "reopen")
        if not self.state.resolved:
            raise ComplaintRefused(
                f"complaint {self.complaint_id} is {self.state.status}, not resolved: only a "
                "resolved complaint is reopened"
            )
        self._act(
            self.Reopened, actor, on, reason=check_text(reason, "a reason (--reason)"), due=due
        )

    def _act(self, event: type[Complaint.Act], actor: Actor, on: date, **fields: object) -> None:
        self.trigger_event(
            event, by=actor.staff_id, complaint_id=self.complaint_id, on=on, **fields
        )

    def _check_scope(self, actor: Actor, verb: str) -> None:
        actor.require_scope(self.state.region_code, to=f"{verb} complaint {self.complaint_id}")

    def _check_no_interest(self, actor: Actor, parties: Parties, verb: str) -> None:
        actor.require_no_interest(
            parties.id_numbers, parties.accounts, to=f"{verb} complaint {self.complaint_id}"
        )

    def _check_open(self, becoming: str) -> None:
        if self.state.resolved:
            raise ComplaintRefused(
                f"complaint {self.complaint_id} is resolved: it cannot be {becoming}; a "
                "supervisor reopens it first (aidledger complaint reopen)"
            )


@dataclass(frozen=True)
class Subject:
    """What a complaint is about: a case, a payment, a region, or none; with the program,
    paying department and region they have (for scope, metrics and findings)."""

    case_id: str | None = None
    payment_id: str | None = None
    region_code: str | None = None
    program: str | None = None
    department: str | None = None


def complaint_state(
    events: Sequence[LedgerEvent], as_of: date | None = None
) -> ComplaintState | None:
    """Replay a complaint's events; with ``as_of``, only the acts of that day or before (None:
    not yet received then)."""
    state: ComplaintState | None = None
    for e in events:
        if isinstance(e, Complaint.Opened):
            if as_of is not None and e.received_on > as_of:
                return None
            state = e.initial_state()
        elif (
            isinstance(e, Complaint.Act) and state is not None and (as_of is None or e.on <= as_of)
        ):
            e.apply_state(state)
    return replace(state) if state is not None else None


register_event_topics(Complaint, "aidledger.Complaint")
