"""Payments, payout runs, recoveries and findings: the money side of the ledger.

One aggregate per payment (never one giant run): a monthly run of 1.5 million payments
creates 1.5 million small aggregates in batches. Every id is derived from business facts, so
preparing the same period again, or resuming a crashed run, creates nothing twice.

The duties of staff (who may approve, release, resolve, collect) are checks on these
aggregates: each command method checks first (role, scope, interest, four eyes, state), then
triggers its event. A service gathers the facts a check needs (the `Actor`, a run's review)
and saves what the aggregate recorded.

A run keeps, from its own events, the count, total and a digest of its payments (a sum of a
hash of each payment's id, amount, account and name): approval and export compare what the
read models hold with it, so a payment changed behind the application's back is never sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ledger.comparison_terms import HOLDABLE_FINDINGS
from ledger.duties import Actor, DutyRefused
from ledger.errors import AidLedgerError
from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id
from ledger.money import format_fen

PaymentKind = Literal["regular", "arrears", "reissue", "one_off", "supplement"]
_KIND_LETTER = {"regular": "R", "arrears": "A", "reissue": "S", "one_off": "O", "supplement": "B"}
#: Kinds paid once by a decision of their own (a grant, a supplement), not owed month by month:
#: never counted in what a case was paid for a month (arrears, recoveries).
ONE_TIME_KINDS = ("one_off", "supplement")


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#: Two base32 characters for each 10 bits.
_BASE32_PAIRS = [a + b for a in _BASE32 for b in _BASE32]


def _digest(*parts: str, length: int) -> str:
    """The first ``length`` characters of the base32 (RFC 4648) of the parts' SHA-256: what
    ``base64.b32encode(digest)[:length]`` gives (``length`` up to 51: the 256 bits' worth),
    two characters at a time from the digest's
    leading bits (the standard library's base32 is written in Python: 20 µs an id, a
    province's run makes 1.3 million)."""
    raw = hashlib.sha256("|".join(parts).encode("utf-8")).digest()
    pairs = (length + 1) // 2
    bits = 10 * pairs
    size = (bits + 7) // 8
    # 51 characters want 260 bits of the 256: base32 pads the last with zero bits.
    n = int.from_bytes(raw[:size].ljust(size, b"\0")) >> (8 * size - bits)
    text = "".join([_BASE32_PAIRS[(n >> shift) & 1023] for shift in range(bits - 10, -1, -10)])
    return text[:length]


def payment_id(
    case_id: str, program: str, period: str, kind: str, n: int = 1, *, key: str = ""
) -> str:
    """The stable id of a payment, also its ISO 20022 ``EndToEndId`` (28 characters).

    ``202612R1`` + 20 base32 characters of a hash of (case, program, period, kind, n): the
    same facts always give the same id; the prefix lets bank staff read period and kind.
    ``key`` tells apart payments of one kind a case may have several of in a month (each
    supplement's key; a one-off payment's case id is already its grant's).
    """
    yyyymm = period.replace("-", "")
    digest = _digest(case_id, program, period, kind, str(n), *((key,) if key else ()), length=20)
    return f"{yyyymm}{_KIND_LETTER[kind]}{n}{digest}"


def payment_aggregate_id(pid: str) -> UUID:
    return derived_id("payment", pid)


def run_id_for(period: str, scope: str, seq: int) -> str:
    """A payout run's id: readable, and derived from what it is for."""
    return f"R{period.replace('-', '')}-{scope}-{seq}"


def run_aggregate_id(run_id: str) -> UUID:
    return derived_id("run", run_id)


def recovery_id(case_id: str, program: str, period: str, n: int = 1) -> str:
    """A recovery's stable id: a month's first recovery from (case, program, month), a further
    one (``n`` > 1: the rest asked back after a later decision) with its number too."""
    parts = (case_id, program, period, "recovery") + ((str(n),) if n > 1 else ())
    return f"REC{period.replace('-', '')}{_digest(*parts, length=20)}"


def recovery_aggregate_id(rid: str) -> UUID:
    return derived_id("recovery", rid)


def finding_id(type_: str, *subject: str) -> str:
    """A finding's id, stable from its type and subject: re-running a check raises it once."""
    return f"F-{_digest(type_, *subject, length=16)}"


def finding_aggregate_id(fid: str) -> UUID:
    return derived_id("finding", fid)


#: Severity of each finding type (a hold's severity is its finding's).
SEVERITY: dict[str, str] = {
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
    "payout_run_late": "high",
    "verification_overdue": "medium",
    "complaint_substantiated": "high",
    "temporary_repeat": "high",
    # Households and data comparison (核对): found before any payment, about a case.
    "household_size_mismatch": "medium",
    "household_member_dead": "high",
    "assets_over_limit": "high",
    "income_over_limit": "high",
    "business_registered": "high",
    "cross_department_duplicate": "high",
    "moved_out": "high",
    "review_overdue": "medium",
}


class RunClosed(AidLedgerError):
    """The run or payment is not in a state that allows this (approved, cancelled, ...)."""


class ReadModelTampered(AidLedgerError):
    """The read models disagree with the event log about what a run pays: refused, not sent."""


# -- the digest of a set of payments -------------------------------------------------------------

_DIGEST_MOD = 1 << 128


def payment_digest(payment_id: str, amount: int, account: str, name: str) -> int:
    """One payment's share of a run's digest: what reaches the bank (id, amount, account, name).

    A run's digest is the sum of its payments' shares modulo 2**128: order does not matter, a
    payment added or removed adds or subtracts its share, and no change to one payment's
    amount, account or name leaves the sum as it was (short of a 128-bit hash collision).
    """
    raw = hashlib.sha256(f"{payment_id}|{amount}|{account}|{name}".encode()).digest()
    return int.from_bytes(raw[:16])


def digest_hex(value: int) -> str:
    return f"{value % _DIGEST_MOD:032x}"


def digest_int(text: str) -> int:
    return int(text, 16) if text else 0


@dataclass
class Tally:
    """Count, total (fen) and digest of a set of payments."""

    payments: int = 0
    amount: int = 0
    digest: int = 0

    def add(self, payment_id: str, amount: int, account: str, name: str, sign: int = 1) -> None:
        self.payments += sign
        self.amount += sign * amount
        self.digest = (self.digest + sign * payment_digest(payment_id, amount, account, name)) % (
            _DIGEST_MOD
        )

    def minus(self, other: Tally) -> Tally:
        return Tally(
            self.payments - other.payments,
            self.amount - other.amount,
            (self.digest - other.digest) % _DIGEST_MOD,
        )

    def plus(self, other: Tally) -> Tally:
        return Tally(
            self.payments + other.payments,
            self.amount + other.amount,
            (self.digest + other.digest) % _DIGEST_MOD,
        )

    def describe(self) -> str:
        return f"{self.payments} payments, {format_fen(self.amount)}"


# -- payments -----------------------------------------------------------------------------------


def is_critical(hold_types: Iterable[str]) -> bool:
    return any(SEVERITY.get(t) == "critical" for t in hold_types)


class Payment(LedgerAggregate):
    """One payment to one beneficiary for one month (its ``period``) and kind."""

    class Instructed(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.PaymentInstructed"
        payment_id: str
        run_id: str
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
        held: tuple[str, ...] = ()  # finding types that hold it back from export
        reissue_of: str | None = None

        def apply(self, aggregate: Payment) -> None:
            aggregate.instructed = self
            aggregate.held = self.held
            aggregate.releases = []
            aggregate.cancelled = False

    class Reinstructed(LedgerAggregate.Event):
        """A payment cancelled earlier (its run cancelled, or no longer due) instructed again
        in a new run: same id, so the bank's EndToEndId for this case, month and kind stays."""

        TOPIC: ClassVar[str] = "aidledger.PaymentReinstructed"
        payment_id: str
        run_id: str
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
        held: tuple[str, ...] = ()
        reissue_of: str | None = None

        def apply(self, aggregate: Payment) -> None:
            fields = self.model_dump(exclude={"originator_version", "by", "timestamp"})
            aggregate.instructed = Payment.Instructed(
                **fields,
                originator_version=aggregate.instructed.originator_version,
                timestamp=self.timestamp,
                by=self.by,
                originator_topic=aggregate.instructed.originator_topic,
            )
            aggregate.held = self.held
            aggregate.releases = []
            aggregate.cancelled = False

    class Amended(LedgerAggregate.Event):
        """An unapproved payment brought up to date by a new prepare (amount, account, name,
        region, holds), because a decision recorded since changed what is owed."""

        TOPIC: ClassVar[str] = "aidledger.PaymentAmended"
        payment_id: str
        run_id: str
        amount: int
        creditor_account: str
        creditor_name: str
        id_number: str
        region_code: str
        held: tuple[str, ...] = ()
        changes: dict[str, tuple[Any, Any]] = Field(default_factory=dict)
        #: A new payment day (the config in force changed it); None: as instructed.
        payment_date: date | None = None

        def apply(self, aggregate: Payment) -> None:
            update: dict[str, Any] = {
                "amount": self.amount,
                "creditor_account": self.creditor_account,
                "creditor_name": self.creditor_name,
                "id_number": self.id_number,
                "region_code": self.region_code,
                "held": self.held,
            }
            if self.payment_date is not None:
                update["payment_date"] = self.payment_date
            aggregate.instructed = aggregate.instructed.model_copy(update=update)
            if self.held != aggregate.held:
                aggregate.releases = []
            aggregate.held = self.held

    class Cancelled(LedgerAggregate.Event):
        """No longer due in its unapproved run (a new prepare found it so); never sent."""

        TOPIC: ClassVar[str] = "aidledger.PaymentCancelled"
        payment_id: str
        run_id: str
        reason: str

        def apply(self, aggregate: Payment) -> None:
            aggregate.cancelled = True

    class Released(LedgerAggregate.Event):
        """A release of a held payment, with the reason. A critical hold needs two releases
        by two people (the second a supervisor): the first is recorded with ``complete``
        False and the payment stays held. Released after its run was approved, a payment
        needs a further approval before it is exported (``needs_approval``)."""

        TOPIC: ClassVar[str] = "aidledger.PaymentReleased"
        payment_id: str
        reason: str
        complete: bool = True
        needs_approval: bool = False
        hold: tuple[str, ...] = ()  # the hold it releases (finding types)

        def apply(self, aggregate: Payment) -> None:
            aggregate.releases = [*aggregate.releases, self.by]
            if self.complete:
                aggregate.held = ()

    class BankResult(LedgerAggregate.Event):
        """Base of what a bank file reported for this payment (file and entry kept)."""

        payment_id: str
        file_id: str
        entry_seq: int
        entry_ref: str | None = None

    class Executed(BankResult):
        """The bank credited the beneficiary (camt.054 debit, CSV success row)."""

        TOPIC: ClassVar[str] = "aidledger.PaymentExecuted"
        amount: int | None
        booking_date: date | None
        value_date: date | None = None
        creditor_name: str | None = None
        creditor_account: str | None = None

    class Rejected(BankResult):
        """The bank refused the instruction (pain.002 RJCT, CSV failure row)."""

        TOPIC: ClassVar[str] = "aidledger.PaymentRejected"
        reason_code: str | None
        reason_text: str | None
        reported_on: date | None = None

    class Returned(BankResult):
        """Money came back after execution (camt.054 credit with return information)."""

        TOPIC: ClassVar[str] = "aidledger.PaymentReturned"
        amount: int | None
        booking_date: date | None
        reason_code: str | None
        reason_text: str | None

    class StatusReported(BankResult):
        """A status report that is neither execution nor rejection (pain.002 ACCP, ACSC...)."""

        TOPIC: ClassVar[str] = "aidledger.PaymentStatusReported"
        status: str | None

    class Reissued(LedgerAggregate.Event):
        """A returned or rejected payment was paid again as a new payment (kind reissue)."""

        TOPIC: ClassVar[str] = "aidledger.PaymentReissued"
        payment_id: str
        reissue_payment_id: str
        run_id: str

    class Refunded(LedgerAggregate.Event):
        """A returned or rejected payment's money is back with the fund, not to be resent."""

        TOPIC: ClassVar[str] = "aidledger.PaymentRefunded"
        payment_id: str
        reason: str

    if TYPE_CHECKING:
        instructed: Payment.Instructed
        held: tuple[str, ...]
        releases: list[str]
        cancelled: bool

    @classmethod
    def instruction(cls, *, by: str, **fields: Any) -> Payment.Instructed:
        """The event that creates a payment, built without the aggregate (bulk runs).

        Its id is derived from ``payment_id``; a run of a million payments records these
        events directly instead of building a million aggregates first.
        """
        return cls.first_event(
            cls.Instructed,
            payment_aggregate_id(fields["payment_id"]),
            by=by,
            **fields,
        )

    @property
    def payment_id(self) -> str:
        return self.instructed.payment_id

    @property
    def run_id(self) -> str:
        return self.instructed.run_id

    @property
    def share(self) -> Tally:
        """This payment's count, amount and digest as a run counts them."""
        t = Tally()
        i = self.instructed
        t.add(i.payment_id, i.amount, i.creditor_account, i.creditor_name)
        return t

    @property
    def critical(self) -> bool:
        return is_critical(self.held)

    def release(
        self,
        actor: Actor,
        *,
        reason: str,
        run_preparers: Iterable[str],
        run_approved: bool,
        case_parties: Parties | None = None,
    ) -> None:
        """Release the hold: a finance approver or supervisor, not the run's preparer, with
        no interest in the case; a critical hold needs a second release by another person,
        a supervisor. ``case_parties``: the case's people and account as they stand now."""
        self._check_not_cancelled()
        self._check_held()
        actor.require("finance_approver", "supervisor", to="release a held payment")
        actor.require_scope(self.instructed.region_code, to="release this payment")
        if actor.staff_id in set(run_preparers):
            raise DutyRefused(
                f"{actor.staff_id} prepared run {self.run_id}: the preparer may not release "
                "its held payments (another person must)"
            )
        parties = Parties.of_payment(self.instructed).plus(case_parties)
        actor.require_no_interest(
            parties.id_numbers, parties.accounts, to=f"release payment {self.payment_id}"
        )
        if not reason.strip():
            raise AidLedgerError("a release needs a reason (--reason)")
        complete = True
        if self.critical:
            if actor.staff_id in self.releases:
                raise DutyRefused(
                    f"{actor.staff_id} already released payment {self.payment_id}: its hold "
                    f"({', '.join(self.held)}) is critical and needs a second release by "
                    "another person, a supervisor (four eyes)"
                )
            if not self.releases:
                complete = False
            elif not actor.holds("supervisor"):
                raise DutyRefused(
                    f"the second release of payment {self.payment_id}'s critical hold needs a "
                    f"supervisor; {actor.staff_id} is not one"
                )
        self.trigger_event(
            self.Released,
            by=actor.staff_id,
            payment_id=self.payment_id,
            reason=reason,
            complete=complete,
            needs_approval=complete and run_approved,
            hold=self.held,
        )

    def refund(self, actor: Actor, *, reason: str, status: str) -> None:
        """Mark a returned or rejected payment's money back with the fund (finance)."""
        actor.require("finance", to="mark a payment refunded")
        actor.require_scope(self.instructed.region_code, to="mark this payment refunded")
        if status not in ("returned", "rejected"):
            raise RunClosed(
                f"payment {self.payment_id} is {status}: only a returned or rejected "
                "payment can be marked refunded"
            )
        if not reason.strip():
            raise AidLedgerError("a refund needs a reason (--reason)")
        self.trigger_event(
            self.Refunded, by=actor.staff_id, payment_id=self.payment_id, reason=reason
        )

    def _check_held(self) -> None:
        if not self.held:
            raise RunClosed(f"payment {self.payment_id} is not held")

    def _check_not_cancelled(self) -> None:
        if self.cancelled:
            raise RunClosed(f"payment {self.payment_id} was cancelled")


@dataclass(frozen=True)
class Parties:
    """The people (id numbers) and accounts an act about a case or payment concerns: what a
    staff member's interest is judged against."""

    id_numbers: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()

    @classmethod
    def of_payment(cls, p: Payment.Instructed) -> Parties:
        return cls(frozenset({p.id_number}), frozenset({p.creditor_account}))

    def plus(self, other: Parties | None) -> Parties:
        if other is None:
            return self
        return Parties(self.id_numbers | other.id_numbers, self.accounts | other.accounts)


# -- payout runs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReview:
    """What a service found about a run before an approval (the checks the run then applies).

    ``read_model``: the run's payments as the read models hold them (all, and those held);
    ``held``: the held payments as the event log says. ``tampered``: payments whose read-model
    row differs from the log (named in the refusal).
    """

    stale: bool = False
    changed_cases: int = 0
    interested: int = 0  # payments in which the approver has an interest
    outside_scope: int = 0  # payments outside the approver's region
    read_model: Tally = field(default_factory=Tally)
    read_model_held: frozenset[str] = frozenset()
    held: Tally = field(default_factory=Tally)
    held_ids: frozenset[str] = frozenset()
    tampered: tuple[str, ...] = ()
    over_budget: tuple[str, ...] = ()
    released_by_approver: bool = False  # the approver released one of its payments


@dataclass
class RunBatch:
    """What one batch of a prepare did to its run: the tally's delta (payments added count
    +1, cancelled -1, amended: the new share minus the old), holds, recoveries."""

    tally: Tally = field(default_factory=Tally)
    added: int = 0
    amended: int = 0
    cancelled: int = 0
    held: int = 0
    held_amount: int = 0
    held_ids: list[str] = field(default_factory=list)
    recoveries: int = 0
    recovery_amount: int = 0
    recoveries_withdrawn: int = 0

    @property
    def only_adds(self) -> bool:
        return not (self.amended or self.cancelled or self.recoveries_withdrawn) and (
            self.held >= 0 and self.recoveries >= 0 and self.recovery_amount >= 0
        )

    @property
    def empty(self) -> bool:
        return self == RunBatch()


@dataclass(frozen=True)
class Released:
    """A payment released after its run's approval, waiting for a further approval."""

    payment_id: str
    releasers: tuple[str, ...]
    share: Tally
    interested: bool
    program: str = ""
    department: str = ""


class BudgetExceeded(AidLedgerError):
    """Approving would take a month above a configured budget, and no override was given."""


#: The scope of a supplement run: ``supplement-`` and its key (`SupplementTerms.key`).
SUPPLEMENT_SCOPE = "supplement-"


class SupplementTerms(BaseModel):
    """What a supplement run (一次性生活补贴) pays: ``amount`` (fen) per case, or per person
    of the household (``per``), to the cases of ``programs`` in effect on ``in_effect_on``,
    for ``reason``. Its key (programs and reason) names the run and its payments: the same
    supplement prepared again is the same run, another reason another run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    programs: tuple[str, ...]
    amount: int
    per: Literal["person", "case"]
    in_effect_on: date
    reason: str

    @property
    def key(self) -> str:
        return _digest("supplement", ",".join(sorted(self.programs)), self.reason, length=8)

    @property
    def scope(self) -> str:
        return f"{SUPPLEMENT_SCOPE}{self.key}"

    def describe(self) -> str:
        return (
            f"{format_fen(self.amount)} per {self.per} to the cases of "
            f"{', '.join(self.programs)} in effect on {self.in_effect_on.isoformat()} "
            f"({self.reason})"
        )


def is_supplement_run(run_id: str) -> bool:
    """Whether a run id (`run_id_for`) names a supplement run."""
    return f"-{SUPPLEMENT_SCOPE}" in run_id


class PayoutRun(LedgerAggregate):
    """A month's payout run for one program or all: prepared, approved (by another), exported.

    Its own events keep what it pays (count, total, digest of every payment; which were held
    when instructed), what each approval approved, and what each export wrote.
    """

    class Prepared(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.PayoutRunPrepared"
        run_id: str
        period: str
        scope: str
        seq: int
        #: A supplement run's terms (None: a monthly run of ``scope``).
        supplement: SupplementTerms | None = None

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.run_id = self.run_id
            aggregate.period = self.period
            aggregate.scope = self.scope
            aggregate.supplement = self.supplement
            aggregate.preparers = {self.by}
            aggregate.approved_by = None
            aggregate.payments = 0
            aggregate.amount = 0
            aggregate.digest = 0
            aggregate.held_ids = set()
            aggregate.complete = False
            aggregate.through = 0
            aggregate.config = ""
            aggregate.cancelled = False
            aggregate.batches = {}
            aggregate.exported_batch = 0
            aggregate.release_approvers = set()
            aggregate.release_batches = {}

    class PaymentsAdded(LedgerAggregate.Event):
        """A batch of payments added (saved in the same transaction as the payments)."""

        TOPIC: ClassVar[str] = "aidledger.PayoutRunPaymentsAdded"
        run_id: str
        payments: int
        amount: int
        held: int
        recoveries: int
        digest: str = ""
        held_ids: tuple[str, ...] = ()
        held_amount: int = 0
        recovery_amount: int = 0

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.preparers.add(self.by)
            aggregate.payments += self.payments
            aggregate.amount += self.amount
            aggregate.digest = (aggregate.digest + digest_int(self.digest)) % _DIGEST_MOD
            aggregate.held_ids.update(self.held_ids)
            aggregate.complete = False

    class PaymentsRevised(LedgerAggregate.Event):
        """A batch of changes by a later prepare: payments added, amended and cancelled (the
        deltas of count, total and digest) and holds added; recoveries raised or withdrawn."""

        TOPIC: ClassVar[str] = "aidledger.PayoutRunPaymentsRevised"
        run_id: str
        added: int
        amended: int
        cancelled: int
        payments: int  # delta
        amount: int  # delta
        digest: str  # delta, modulo 2**128
        held_ids: tuple[str, ...] = ()
        held: int = 0  # delta
        held_amount: int = 0  # delta
        recoveries: int = 0  # delta
        recovery_amount: int = 0  # delta

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.preparers.add(self.by)
            aggregate.payments += self.payments
            aggregate.amount += self.amount
            aggregate.digest = (aggregate.digest + digest_int(self.digest)) % _DIGEST_MOD
            aggregate.held_ids.update(self.held_ids)
            aggregate.complete = False

    class Completed(LedgerAggregate.Event):
        """The prepare finished: the run holds all it should as of log position ``through``
        (anything recorded after it that changes what is owed makes the run stale)."""

        TOPIC: ClassVar[str] = "aidledger.PayoutRunCompleted"
        run_id: str
        through: int
        payments: int
        amount: int
        added: int = 0
        amended: int = 0
        cancelled: int = 0
        #: The programs config version the prepare applied (in force on its day): another in
        #: force later makes the run stale (empty: a run prepared before this was recorded).
        config: str = ""

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.preparers.add(self.by)
            aggregate.complete = True
            aggregate.through = self.through
            aggregate.config = self.config

    class Approved(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.PayoutRunApproved"
        run_id: str
        payments: int
        amount: int
        over_budget: tuple[str, ...] = ()
        override_reason: str | None = None
        held: int = 0
        held_amount: int = 0
        digest: str = ""

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.approved_by = self.by
            aggregate.batches[1] = Tally(self.payments, self.amount, digest_int(self.digest))

    class ReleasesApproved(LedgerAggregate.Event):
        """Payments released after the run's approval, approved for export as batch ``batch``."""

        TOPIC: ClassVar[str] = "aidledger.PayoutRunReleasesApproved"
        run_id: str
        batch: int
        payment_ids: tuple[str, ...]
        payments: int
        amount: int
        digest: str
        over_budget: tuple[str, ...] = ()
        override_reason: str | None = None

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.batches[self.batch] = Tally(
                self.payments, self.amount, digest_int(self.digest)
            )
            aggregate.release_approvers.add(self.by)
            aggregate.release_batches[self.batch] = frozenset(self.payment_ids)

    class Exported(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.PayoutRunExported"
        run_id: str
        format: str
        filename: str
        sha256: str
        payments: int
        amount: int
        batch: int = 1  # the last batch the file holds
        first_batch: int = 1
        digest: str = ""
        #: Why payments already written are written again (a re-export), else None.
        again_because: str | None = None

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.exported_batch = max(aggregate.exported_batch, self.batch)

    class Cancelled(LedgerAggregate.Event):
        """Cancelled before approval: none of its payments or recoveries stands."""

        TOPIC: ClassVar[str] = "aidledger.PayoutRunCancelled"
        run_id: str
        reason: str

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.cancelled = True

    if TYPE_CHECKING:
        run_id: str
        period: str
        scope: str
        preparers: set[str]
        approved_by: str | None
        payments: int
        amount: int
        digest: int
        held_ids: set[str]
        complete: bool
        through: int
        config: str
        cancelled: bool
        batches: dict[int, Tally]
        exported_batch: int
        release_approvers: set[str]
        release_batches: dict[int, frozenset[str]]
        supplement: SupplementTerms | None

    @classmethod
    def prepare(
        cls,
        actor: Actor,
        *,
        period: str,
        scope: str,
        seq: int,
        supplement: SupplementTerms | None = None,
    ) -> Self:
        actor.require("finance", to="prepare a payout run")
        if supplement is not None and scope != supplement.scope:
            raise AidLedgerError(f"a supplement run's scope is {supplement.scope}, not {scope}")
        rid = run_id_for(period, scope, seq)
        return cls._create(
            cls.Prepared,
            id=run_aggregate_id(rid),
            by=actor.staff_id,
            run_id=rid,
            period=period,
            scope=scope,
            seq=seq,
            supplement=supplement,
        )

    def programs(self, all_programs: Iterable[str]) -> set[str]:
        """The programs whose cases this run pays."""
        if self.supplement is not None:
            return set(self.supplement.programs)
        return set(all_programs) if self.scope == "all" else {self.scope}

    @property
    def prepare_again(self) -> str:
        """The command that prepares this run again (to complete or update it)."""
        if self.supplement is None:
            return f"aidledger payout prepare --period {self.period}"
        t = self.supplement
        return (
            f"aidledger payout supplement --period {self.period} --programs "
            f"{','.join(t.programs)} --amount {format_fen(t.amount)} --per {t.per} "
            f"--in-effect-on {t.in_effect_on.isoformat()} --reason …"
        )

    def check_same_supplement(self, terms: SupplementTerms) -> None:
        """Refuse to prepare this supplement run again on other terms than its own."""
        if self.supplement is None or self.supplement == terms:
            return
        state = "prepared" if self.approved_by is None else f"approved by {self.approved_by}"
        raise RunClosed(
            f"supplement run {self.run_id} was {state} to pay {self.supplement.describe()}; "
            f"it cannot pay {terms.describe()}. "
            + (
                "Cancel it first (aidledger payout cancel), or give another --reason for "
                "another supplement"
                if self.approved_by is None and not self.cancelled
                else "Give another --reason for another supplement"
            )
        )

    @property
    def tally(self) -> Tally:
        return Tally(self.payments, self.amount, self.digest)

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.approved_by is None:
            return "prepared"
        return "exported" if self.exported_batch else "approved"

    def record_batch(self, by: str, batch: RunBatch) -> None:
        """Record a batch of a prepare's work on this (unapproved) run, in the transaction
        that records the batch's payments: payments added only (``PaymentsAdded``), or also
        amended and cancelled, recoveries withdrawn (``PaymentsRevised``, with deltas)."""
        self._check_open()
        common = {
            "by": by,
            "run_id": self.run_id,
            "payments": batch.tally.payments,
            "amount": batch.tally.amount,
            "digest": digest_hex(batch.tally.digest),
            "held_ids": tuple(batch.held_ids),
            "held_amount": batch.held_amount,
            "recovery_amount": batch.recovery_amount,
        }
        if batch.only_adds:
            self.trigger_event(
                self.PaymentsAdded, held=batch.held, recoveries=batch.recoveries, **common
            )
        else:
            self.trigger_event(
                self.PaymentsRevised,
                added=batch.added,
                amended=batch.amended,
                cancelled=batch.cancelled,
                held=batch.held,
                recoveries=batch.recoveries,
                **common,
            )

    def finish(
        self, by: str, *, through: int, added: int, amended: int, cancelled: int, config: str = ""
    ) -> None:
        """The prepare is complete as of log position ``through``, under config ``config``."""
        self._check_open()
        self.trigger_event(
            self.Completed,
            by=by,
            run_id=self.run_id,
            through=through,
            config=config,
            payments=self.payments,
            amount=self.amount,
            added=added,
            amended=amended,
            cancelled=cancelled,
        )

    def approve(
        self, actor: Actor, review: RunReview, *, override_reason: str | None = None
    ) -> Tally:
        """Second-person approval of what the run pays; returns the payable tally.

        Refused: by anyone but a finance approver, by a preparer, by someone with an interest
        in any of its payments or whose region does not cover them; for a run whose prepare
        did not finish, that is stale, whose read-model rows differ from its events, or that
        would exceed a budget without a recorded override.
        """
        self._check_open()
        actor.require("finance_approver", to="approve a payout run")
        if actor.staff_id in self.preparers:
            raise DutyRefused(
                f"{actor.staff_id} prepared run {self.run_id}: a second person must approve it "
                "(maker-checker)"
            )
        self._require_scope(actor, review.outside_scope, "approve")
        if review.released_by_approver:
            raise DutyRefused(
                f"{actor.staff_id} released payments of run {self.run_id}: another finance "
                "approver must approve it (four eyes)"
            )
        if review.interested:
            raise DutyRefused(
                f"{actor.staff_id} may not approve run {self.run_id}: {actor.staff_id} has an "
                f"interest in {review.interested} of its payments (回避): another finance "
                "approver must approve it"
            )
        if not self.complete:
            raise RunClosed(
                f"run {self.run_id} was not completely prepared (its prepare was interrupted): "
                f"run {self.prepare_again} again to complete it"
            )
        if review.stale:
            raise RunClosed(
                f"run {self.run_id} is stale: {review.changed_cases or 'some'} case(s) or "
                f"rules changed after it was prepared; prepare again ({self.prepare_again}) "
                "to bring it up to date"
            )
        self._check_log(review)
        payable = self.tally.minus(review.held)
        if review.over_budget and not (override_reason and override_reason.strip()):
            raise BudgetExceeded(
                f"approving {self.run_id} exceeds the monthly budget: "
                f"{'; '.join(review.over_budget)}. Approve with --override-reason to record why."
            )
        self.trigger_event(
            self.Approved,
            by=actor.staff_id,
            run_id=self.run_id,
            payments=payable.payments,
            amount=payable.amount,
            over_budget=review.over_budget,
            override_reason=override_reason if review.over_budget else None,
            held=review.held.payments,
            held_amount=review.held.amount,
            digest=digest_hex(payable.digest),
        )
        return payable

    def _check_log(self, review: RunReview) -> None:
        """The read models' payments of the run must be those of its events, and so must the
        set of held payments; otherwise something changed them behind the application's back."""
        if review.tampered or review.read_model != self.tally:
            named = ", ".join(review.tampered[:5]) + (" …" if len(review.tampered) > 5 else "")
            raise ReadModelTampered(
                f"run {self.run_id}: its payments in the read models "
                f"({review.read_model.describe()}) differ from what its events recorded "
                f"({self.tally.describe()})"
                + (f"; payments differing: {named}" if named else "")
                + ". Nothing was approved or sent. Run aidledger verify, then aidledger "
                "projections rebuild, and report it: a read-model row was changed outside aidledger"
            )
        if review.read_model_held != review.held_ids:
            shown = sorted(review.read_model_held ^ review.held_ids)[:5]
            raise ReadModelTampered(
                f"run {self.run_id}: the read models hold back other payments than its events "
                f"({', '.join(shown)}). Nothing was approved or sent. Run aidledger projections "
                "rebuild, and report it: a read-model row was changed outside aidledger"
            )

    def approve_releases(
        self,
        actor: Actor,
        released: Sequence[Released],
        *,
        outside_scope: int = 0,
        over_budget: Sequence[str] = (),
        override_reason: str | None = None,
    ) -> Tally:
        """Approve payments released after the run's approval (a further batch to export):
        a finance approver who released none of them, did not prepare the run, has no
        interest in any, and whose region covers the run; within the month's budgets, or
        above them only with a recorded override."""
        if self.approved_by is None:
            raise RunClosed(f"run {self.run_id} is not approved yet")
        if not released:
            raise RunClosed(
                f"run {self.run_id} was already approved by {self.approved_by}, and no payment "
                "released since waits for approval"
            )
        actor.require("finance_approver", to="approve released payments")
        self._require_scope(actor, outside_scope, "approve released payments of")
        if actor.staff_id in self.preparers:
            raise DutyRefused(
                f"{actor.staff_id} prepared run {self.run_id}: a second person must approve its "
                "released payments"
            )
        mine = [r.payment_id for r in released if actor.staff_id in r.releasers]
        if mine:
            raise DutyRefused(
                f"{actor.staff_id} released {len(mine)} of these payments: another finance "
                "approver must approve them (four eyes)"
            )
        interested = sum(1 for r in released if r.interested)
        if interested:
            raise DutyRefused(
                f"{actor.staff_id} has an interest in {interested} of the released payments "
                "(回避): another finance approver must approve them"
            )
        if over_budget and not (override_reason and override_reason.strip()):
            raise BudgetExceeded(
                f"approving the payments released in {self.run_id} exceeds the monthly budget: "
                f"{'; '.join(over_budget)}. Approve with --override-reason to record why."
            )
        total = Tally()
        for r in released:
            total = total.plus(r.share)
        batch = max(self.batches, default=1) + 1
        self.trigger_event(
            self.ReleasesApproved,
            by=actor.staff_id,
            run_id=self.run_id,
            batch=batch,
            payment_ids=tuple(sorted(r.payment_id for r in released)),
            payments=total.payments,
            amount=total.amount,
            digest=digest_hex(total.digest),
            over_budget=tuple(over_budget),
            override_reason=override_reason if over_budget else None,
        )
        return total

    def batches_to_export(self) -> tuple[int, int]:
        """The batches the next export writes: those approved and not yet written, or, when
        all were written, all of them again (a re-export gives the same payments)."""
        if self.approved_by is None or self.cancelled:
            raise RunClosed(f"run {self.run_id} is not approved: only approved runs are exported")
        last = max(self.batches)
        if last > self.exported_batch:
            return self.exported_batch + 1, last
        return 1, last

    def approved_tally(self, first: int, last: int) -> Tally:
        total = Tally()
        for batch in range(first, last + 1):
            total = total.plus(self.batches[batch])
        return total

    def record_export(
        self,
        actor: Actor,
        *,
        batches: tuple[int, int],
        written: Tally,
        fmt: str,
        filename: str,
        sha256: str,
        outside_scope: int = 0,
        reason: str = "",
    ) -> None:
        """Record a bank file of the run, refused unless it holds exactly what was approved.
        A file of payments already written (a re-export) needs a reason: two files of the same
        payments at the bank could pay them twice."""
        self.check_exporter(actor, outside_scope)
        again = self.check_again(batches, reason)
        expected = self.approved_tally(*batches)
        if written != expected:
            raise ReadModelTampered(
                f"run {self.run_id}: the bank file would hold {written.describe()}, but "
                f"{expected.describe()} were approved (or the payments' accounts, names or "
                "amounts differ from what was approved). Nothing was written or sent. Run "
                "aidledger verify, then aidledger projections rebuild, and report it: a "
                "read-model row was changed outside aidledger"
            )
        self.trigger_event(
            self.Exported,
            by=actor.staff_id,
            run_id=self.run_id,
            format=fmt,
            filename=filename,
            sha256=sha256,
            payments=written.payments,
            amount=written.amount,
            first_batch=batches[0],
            batch=batches[1],
            digest=digest_hex(written.digest),
            again_because=reason.strip() if again else None,
        )

    def check_again(self, batches: tuple[int, int], reason: str) -> bool:
        """Whether ``batches`` were written already (a re-export); refused without a reason."""
        again = batches[0] <= self.exported_batch
        if again and not reason.strip():
            raise AidLedgerError(
                f"every payment of run {self.run_id} was written to a bank file already: a "
                "re-export writes them again, and two files at the bank could pay them twice. "
                "Give --reason (e.g. the bank lost the file), and make sure the first one is "
                "withdrawn"
            )
        return again

    def check_exporter(self, actor: Actor, outside_scope: int) -> None:
        """Who may write the run's bank file (names and accounts): finance, whose region
        covers every payment of the run."""
        actor.require("finance", to="export a bank file")
        self._require_scope(actor, outside_scope, "export")

    def cancel(self, actor: Actor, *, reason: str, outside_scope: int = 0) -> None:
        """Cancel an unapproved run (finance, whose region covers it): its payments and
        recoveries no longer stand."""
        actor.require("finance", to="cancel a payout run")
        self._require_scope(actor, outside_scope, "cancel")
        self._check_open()
        if not reason.strip():
            raise AidLedgerError("a cancellation needs a reason (--reason)")
        self.trigger_event(self.Cancelled, by=actor.staff_id, run_id=self.run_id, reason=reason)

    def _require_scope(self, actor: Actor, outside: int, verb: str) -> None:
        """Refuse an act on the run by someone whose region leaves ``outside`` payments out."""
        if outside:
            raise DutyRefused(
                f"{actor.staff_id} may not {verb} run {self.run_id}: {outside} of its payments "
                f"are outside {actor.staff_id}'s region {actor.region}"
            )

    def _check_open(self) -> None:
        if self.cancelled:
            raise RunClosed(f"run {self.run_id} was cancelled")
        if self.approved_by is not None:
            raise RunClosed(f"run {self.run_id} was already approved by {self.approved_by}")


# -- recoveries ---------------------------------------------------------------------------------

RECOVERY_STATUSES = ("open", "collected", "waived")


class Recovery(LedgerAggregate):
    """Money sent for a month that was not owed (death, back-dated end or decrease): 追回."""

    class Raised(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.RecoveryRaised"
        recovery_id: str
        run_id: str
        case_id: str
        program: str
        department: str
        region_code: str
        period: str
        amount: int
        paid: int
        owed: int
        reason: str

        def apply(self, aggregate: Recovery) -> None:
            aggregate.raised = self
            aggregate.collected = 0
            aggregate.status = "open"

    class Revised(LedgerAggregate.Event):
        """Raised again, or changed, by a later prepare (new run, amount or reason)."""

        TOPIC: ClassVar[str] = "aidledger.RecoveryRevised"
        recovery_id: str
        run_id: str
        amount: int
        paid: int
        owed: int
        reason: str

        def apply(self, aggregate: Recovery) -> None:
            aggregate.raised = aggregate.raised.model_copy(
                update={
                    "run_id": self.run_id,
                    "amount": self.amount,
                    "paid": self.paid,
                    "owed": self.owed,
                    "reason": self.reason,
                }
            )
            aggregate.status = "open"

    class Withdrawn(LedgerAggregate.Event):
        """No longer owed, found by a later prepare of its unapproved run."""

        TOPIC: ClassVar[str] = "aidledger.RecoveryWithdrawn"
        recovery_id: str
        reason: str

        def apply(self, aggregate: Recovery) -> None:
            aggregate.status = "withdrawn"

    class Collected(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.RecoveryCollected"
        recovery_id: str
        amount: int
        reason: str

        def apply(self, aggregate: Recovery) -> None:
            aggregate.collected += self.amount
            if aggregate.outstanding == 0:
                aggregate.status = "collected"

    class Waived(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.RecoveryWaived"
        recovery_id: str
        amount: int  # the outstanding amount waived
        reason: str

        def apply(self, aggregate: Recovery) -> None:
            aggregate.status = "waived"

    if TYPE_CHECKING:
        raised: Recovery.Raised
        collected: int
        status: str

    @property
    def recovery_id(self) -> str:
        return self.raised.recovery_id

    @property
    def outstanding(self) -> int:
        return self.raised.amount - self.collected if self.status != "waived" else 0

    def collect(
        self, actor: Actor, *, amount: int, reason: str, run_approved: bool, parties: Parties
    ) -> None:
        """Record money recovered (finance): partial amounts allowed, never above outstanding."""
        actor.require("finance", to="record a recovery collected")
        self._check_owed(actor, run_approved, parties, "collect")
        if amount <= 0:
            raise AidLedgerError("the amount collected must be above 0.00")
        if amount > self.outstanding:
            raise AidLedgerError(
                f"{format_fen(amount)} is more than the {format_fen(self.outstanding)} "
                f"outstanding on {self.recovery_id}"
            )
        if not reason.strip():
            raise AidLedgerError("a collection needs a reason (--reason), e.g. the receipt")
        self.trigger_event(
            self.Collected,
            by=actor.staff_id,
            recovery_id=self.recovery_id,
            amount=amount,
            reason=reason,
        )

    def waive(self, actor: Actor, *, reason: str, run_approved: bool, parties: Parties) -> None:
        """Give up what is outstanding (supervisor), with the reason."""
        actor.require("supervisor", to="waive a recovery")
        self._check_owed(actor, run_approved, parties, "waive")
        if not reason.strip():
            raise AidLedgerError("a waiver needs a reason (--reason)")
        self.trigger_event(
            self.Waived,
            by=actor.staff_id,
            recovery_id=self.recovery_id,
            amount=self.outstanding,
            reason=reason,
        )

    def _check_owed(self, actor: Actor, run_approved: bool, parties: Parties, verb: str) -> None:
        actor.require_scope(self.raised.region_code, to=f"{verb} this recovery")
        actor.require_no_interest(
            parties.id_numbers, parties.accounts, to=f"{verb} recovery {self.recovery_id}"
        )
        if not run_approved or self.status == "withdrawn":
            raise RunClosed(
                f"{self.recovery_id} is not owed: its run {self.raised.run_id} is not approved"
            )
        if self.status != "open":
            raise RunClosed(f"{self.recovery_id} is {self.status}: nothing is outstanding")


class BankFile(LedgerAggregate):
    """A bank return file, recorded once (its id is its content hash)."""

    class Imported(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.BankFileImported"
        file_id: str
        kind: str
        filename: str
        sha256: str
        profile: str | None
        entries: int
        matched: int
        unmatched: int

    class EntriesUnmatched(LedgerAggregate.Event):
        """Entries naming no payment the ledger instructed (kept for `unknown_payment`)."""

        TOPIC: ClassVar[str] = "aidledger.BankEntriesUnmatched"
        file_id: str
        entries: tuple[dict[str, Any], ...]


def bank_file_id(sha256: str) -> str:
    return f"BF-{sha256[:20]}"


def bank_file_aggregate_id(file_id: str) -> UUID:
    return derived_id("bankfile", file_id)


RESOLUTIONS = ("recovered", "false_positive", "corrected", "referred")
#: Findings that question a case's decision itself: never resolved by its decider or approver.
DECISION_FINDINGS = frozenset({*HOLDABLE_FINDINGS, "household_member_dead"})
#: Roles that may comment on a finding (auditors read everything and may only comment).
COMMENTERS = ("caseworker", "approver", "finance", "finance_approver", "supervisor", "auditor")


class Finding(LedgerAggregate):
    """Something reconciliation or a pre-payment check wants a person to look at.

    Raised once (its id is stable from type and subject), then assigned, commented,
    resolved with a reason from :data:`RESOLUTIONS`, and reopened if the cause recurs.
    A release of the payment it holds is recorded on it too.
    """

    class Raised(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.FindingRaised"
        finding_id: str
        type: str
        severity: str
        period: str
        program: str | None
        department: str | None
        region_code: str | None
        case_id: str | None
        payment_id: str | None
        amount: int | None
        detail: str
        # What explains it, where a type has it (amounts in fen; the name masked).
        instructed_amount: int | None = None
        bank_amount: int | None = None
        bank_name: str | None = None
        file_id: str | None = None
        # Comparison findings: the source and record that explain it, its value and the
        # program's limit (yuan strings; the reference masked where shown).
        source: str | None = None
        source_ref: str | None = None
        value: str | None = None
        limit: str | None = None

        def apply(self, aggregate: Finding) -> None:
            aggregate.raised = self
            aggregate.status = "open"
            aggregate.resolution = None

    class Assigned(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.FindingAssigned"
        finding_id: str
        assignee: str

    class Commented(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.FindingCommented"
        finding_id: str
        comment: str

    class PaymentReleased(LedgerAggregate.Event):
        """The payment this finding held was released (or, for a critical hold, released a
        first time: ``complete`` False until the second release)."""

        TOPIC: ClassVar[str] = "aidledger.FindingPaymentReleased"
        finding_id: str
        payment_id: str
        reason: str
        complete: bool

    class Resolved(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.FindingResolved"
        finding_id: str
        resolution: str
        comment: str

        def apply(self, aggregate: Finding) -> None:
            aggregate.status = "resolved"
            aggregate.resolution = self.resolution

    class Reopened(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.FindingReopened"
        finding_id: str
        detail: str

        def apply(self, aggregate: Finding) -> None:
            aggregate.status = "open"
            aggregate.resolution = None

    if TYPE_CHECKING:
        raised: Finding.Raised
        status: str
        resolution: str | None

    @property
    def finding_id(self) -> str:
        return self.raised.finding_id

    @property
    def critical(self) -> bool:
        return self.raised.severity == "critical"

    def assign(self, actor: Actor, *, to: Actor, parties: Parties) -> None:
        """A supervisor assigns it to a staff member in its region with no interest in it."""
        actor.require("supervisor", to="assign a finding")
        actor.require_scope(self.raised.region_code, to=f"assign finding {self.finding_id}")
        to.require_scope(self.raised.region_code, to=f"be assigned finding {self.finding_id}")
        to.require_no_interest(
            parties.id_numbers, parties.accounts, to=f"be assigned finding {self.finding_id}"
        )
        self.trigger_event(
            self.Assigned, by=actor.staff_id, finding_id=self.finding_id, assignee=to.staff_id
        )

    def comment(self, actor: Actor, *, text: str) -> None:
        """Any staff member who works cases, money or audits, in its region, may comment."""
        actor.require(*COMMENTERS, to="comment on a finding")
        actor.require_scope(self.raised.region_code, to=f"comment on finding {self.finding_id}")
        if not text.strip():
            raise AidLedgerError("a comment needs text (--text)")
        self.trigger_event(
            self.Commented, by=actor.staff_id, finding_id=self.finding_id, comment=text
        )

    def resolve(
        self,
        actor: Actor,
        *,
        resolution: str,
        comment: str,
        parties: Parties,
        deciders: frozenset[str] = frozenset(),
    ) -> None:
        """A supervisor or finance approver with no interest in its case or payment resolves
        it; calling a critical finding a false positive needs a supervisor. A finding that
        questions the case's decision itself (households, data comparison) is never resolved
        by who decided or approved the case (``deciders``)."""
        actor.require("supervisor", "finance_approver", to="resolve a finding")
        actor.require_scope(self.raised.region_code, to=f"resolve finding {self.finding_id}")
        actor.require_no_interest(
            parties.id_numbers, parties.accounts, to=f"resolve finding {self.finding_id}"
        )
        if self.raised.type in DECISION_FINDINGS and actor.staff_id in deciders:
            raise DutyRefused(
                f"{actor.staff_id} decided or approved case {self.raised.case_id}: a "
                f"{self.raised.type} finding questions that decision, so another person must "
                "resolve it"
            )
        if resolution not in RESOLUTIONS:
            raise AidLedgerError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
        if resolution == "false_positive" and self.critical and not actor.holds("supervisor"):
            raise DutyRefused(
                f"finding {self.finding_id} is critical: only a supervisor may resolve it as "
                f"false_positive; {actor.staff_id} is not one"
            )
        if self.status == "resolved":
            raise RunClosed(f"finding {self.finding_id} is already resolved ({self.resolution})")
        self.trigger_event(
            self.Resolved,
            by=actor.staff_id,
            finding_id=self.finding_id,
            resolution=resolution,
            comment=comment,
        )

    @classmethod
    def new(cls, *, by: str, finding_id: str, type: str, **fields: Any) -> Finding:
        """A finding raised by an act rather than by reconciling (a substantiated complaint):
        its id derived from its type and subject (`finding_id`), its severity its type's."""
        return cls._create(
            cls.Raised,
            id=finding_aggregate_id(finding_id),
            by=by,
            finding_id=finding_id,
            type=type,
            severity=SEVERITY[type],
            **fields,
        )

    @classmethod
    def raised_event(cls, *, by: str, finding_id: str, type: str, **fields: Any) -> Finding.Raised:
        """The event `new` records, built without the aggregate (for a comparison's
        hundreds of thousands of findings): exactly that event."""
        return cls.first_event(
            cls.Raised,
            finding_aggregate_id(finding_id),
            by=by,
            finding_id=finding_id,
            type=type,
            severity=SEVERITY[type],
            **fields,
        )

    def reopen(self, *, by: str, detail: str) -> None:
        """Open again: its cause was found again after it was resolved."""
        if self.status != "resolved":
            raise RunClosed(f"finding {self.finding_id} is open")
        self.trigger_event(self.Reopened, by=by, finding_id=self.finding_id, detail=detail)

    def close(self, *, by: str, comment: str) -> None:
        """Resolved as ``corrected`` by the act that removed its cause (an overdue request
        answered), recorded with that act's actor."""
        if self.status == "resolved":
            raise RunClosed(f"finding {self.finding_id} is already resolved ({self.resolution})")
        self.trigger_event(
            self.Resolved,
            by=by,
            finding_id=self.finding_id,
            resolution="corrected",
            comment=comment,
        )

    def record_release(self, actor: Actor, *, payment_id: str, reason: str, complete: bool) -> None:
        self.trigger_event(
            self.PaymentReleased,
            by=actor.staff_id,
            finding_id=self.finding_id,
            payment_id=payment_id,
            reason=reason,
            complete=complete,
        )


register_event_topics(BankFile, "aidledger.BankFile")
register_event_topics(Payment, "aidledger.Payment")
register_event_topics(PayoutRun, "aidledger.PayoutRun")
register_event_topics(Recovery, "aidledger.Recovery")
register_event_topics(Finding, "aidledger.Finding")
