"""Payments, payout runs, recoveries and findings: the money side of the ledger.

One aggregate per payment (never one giant run): a monthly run of 1.5 million payments
creates 1.5 million small aggregates in batches. Every id is derived from business facts, so
preparing the same period again, or resuming a crashed run, creates nothing twice.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id

PaymentKind = Literal["regular", "arrears", "reissue"]
_KIND_LETTER = {"regular": "R", "arrears": "A", "reissue": "S"}


def _digest(*parts: str, length: int) -> str:
    raw = hashlib.sha256("|".join(parts).encode("utf-8")).digest()
    # Base32 turns each 5 bytes into 8 characters: encoding only the bytes the first
    # ``length`` characters come from gives the same prefix for half the work.
    return base64.b32encode(raw[: (length * 5 + 7) // 8 + 4]).decode("ascii")[:length]


def payment_id(case_id: str, program: str, period: str, kind: str, n: int = 1) -> str:
    """The stable id of a payment, also its ISO 20022 ``EndToEndId`` (28 characters).

    ``202612R1`` + 20 base32 characters of a hash of (case, program, period, kind, n): the
    same facts always give the same id; the prefix lets bank staff read period and kind.
    """
    yyyymm = period.replace("-", "")
    digest = _digest(case_id, program, period, kind, str(n), length=20)
    return f"{yyyymm}{_KIND_LETTER[kind]}{n}{digest}"


def payment_aggregate_id(pid: str) -> UUID:
    return derived_id("payment", pid)


def run_id_for(period: str, scope: str, seq: int) -> str:
    """A payout run's id: readable, and derived from what it is for."""
    return f"R{period.replace('-', '')}-{scope}-{seq}"


def run_aggregate_id(run_id: str) -> UUID:
    return derived_id("run", run_id)


def recovery_id(case_id: str, program: str, period: str) -> str:
    return f"REC{period.replace('-', '')}{_digest(case_id, program, period, 'recovery', length=20)}"


def recovery_aggregate_id(rid: str) -> UUID:
    return derived_id("recovery", rid)


def finding_id(type_: str, *subject: str) -> str:
    """A finding's id, stable from its type and subject: re-running a check raises it once."""
    return f"F-{_digest(type_, *subject, length=16)}"


def finding_aggregate_id(fid: str) -> UUID:
    return derived_id("finding", fid)


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

    class Released(LedgerAggregate.Event):
        """A held payment released for export by a second person, with the reason."""

        TOPIC: ClassVar[str] = "aidledger.PaymentReleased"
        payment_id: str
        reason: str

        def apply(self, aggregate: Payment) -> None:
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

    @classmethod
    def instruction(cls, *, by: str, **fields: Any) -> Payment.Instructed:
        """The event that creates a payment, built without the aggregate (bulk runs).

        Its id is derived from ``payment_id``; a run of a million payments records these
        events directly instead of building a million aggregates first.
        """
        return cls.Instructed(
            originator_id=payment_aggregate_id(fields["payment_id"]),
            originator_version=cls.INITIAL_VERSION,
            timestamp=cls.Instructed.create_timestamp(),
            originator_topic=get_topic(cls),
            by=by,
            **fields,
        )

    def release(self, *, by: str, reason: str) -> None:
        """Release a held payment. The checks live in the service (it knows the run)."""
        self.trigger_event(
            self.Released, by=by, payment_id=self.instructed.payment_id, reason=reason
        )


class PayoutRun(LedgerAggregate):
    """A month's payout run for one program or all: prepared, approved (by another), exported."""

    class Prepared(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.PayoutRunPrepared"
        run_id: str
        period: str
        scope: str
        seq: int

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.run_id = self.run_id
            aggregate.period = self.period
            aggregate.preparers = {self.by}
            aggregate.approved_by = None
            aggregate.payments = 0
            aggregate.amount = 0

    class PaymentsAdded(LedgerAggregate.Event):
        """A batch of payments added (saved in the same transaction as the payments)."""

        TOPIC: ClassVar[str] = "aidledger.PayoutRunPaymentsAdded"
        run_id: str
        payments: int
        amount: int
        held: int
        recoveries: int

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.preparers.add(self.by)
            aggregate.payments += self.payments
            aggregate.amount += self.amount

    class Approved(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.PayoutRunApproved"
        run_id: str
        payments: int
        amount: int
        over_budget: tuple[str, ...] = ()
        override_reason: str | None = None

        def apply(self, aggregate: PayoutRun) -> None:
            aggregate.approved_by = self.by

    class Exported(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.PayoutRunExported"
        run_id: str
        format: str
        filename: str
        sha256: str
        payments: int
        amount: int

    if TYPE_CHECKING:
        run_id: str
        period: str
        preparers: set[str]
        approved_by: str | None
        payments: int
        amount: int

    @classmethod
    def prepare(cls, *, period: str, scope: str, seq: int, by: str) -> Self:
        rid = run_id_for(period, scope, seq)
        return cls._create(
            cls.Prepared,
            id=run_aggregate_id(rid),
            by=by,
            run_id=rid,
            period=period,
            scope=scope,
            seq=seq,
        )


class Recovery(LedgerAggregate):
    """Money paid for a month that was not owed (death, back-dated end or decrease): 追回."""

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


class Finding(LedgerAggregate):
    """Something reconciliation or a pre-payment check wants a person to look at.

    Raised once (its id is stable from type and subject), then assigned, commented,
    resolved with a reason from :data:`RESOLUTIONS`, and reopened if the cause recurs.
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

        def apply(self, aggregate: Finding) -> None:
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
        status: str
        resolution: str | None


register_event_topics(BankFile, "aidledger.BankFile")
register_event_topics(Payment, "aidledger.Payment")
register_event_topics(PayoutRun, "aidledger.PayoutRun")
register_event_topics(Recovery, "aidledger.Recovery")
register_event_topics(Finding, "aidledger.Finding")
