"""What a bank file says happened, parsed and independent of the file's format.

Parsers (`camt054`, `pain002`, `csvreturn`) turn bytes into `BankEntry` values and know
nothing of the ledger; matching and checks work on entries and know nothing of XML or CSV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal, NamedTuple

#: executed: the bank debited our account and credited the beneficiary (camt.054 DBIT, a CSV
#:   success row); returned: money came back after execution (camt.054 CRDT with return
#:   information or a reversal indicator); rejected: the bank refused the instruction
#:   (pain.002 RJCT, a CSV failure row); accepted: a status report that is neither (pain.002
#:   ACCP/ACSC/ACSP/ACTC/PDNG...); credited: money came in that is no return of ours (a
#:   camt.054 CRDT without return information), kept for the record and never counted.
EntryKind = Literal["executed", "returned", "rejected", "accepted", "credited"]

#: The currency of every payment the ledger makes: amounts are fen of CNY inside, and the
#: pain.001 export writes ``Ccy="CNY"`` on each of them.
PAYMENT_CURRENCY = "CNY"

#: Why an entry the bank reported is kept with its file but counts as no payment's result
#: (`BankEntry.aside`). Stored in ``bank_entries.aside``: never rename one.
#: not_booked: a camt.054 entry whose status is not BOOK (PDNG, INFO...): nothing has been
#:   posted yet, or the bank only informs; the booked entry, if it comes, counts.
#: no_return_information: a credit with neither return information nor a reversal indicator:
#:   money someone sent us, not a payment of ours coming back.
#: currency: an entry naming one of our payments in another currency than the payment's; the
#:   bank moved other money than we instructed (reconciliation raises ``amount_mismatch``).
AsideReason = Literal["not_booked", "no_return_information", "currency"]


class BankEntry(NamedTuple):
    """One payment-level result reported by a bank file.

    A named tuple, not a frozen dataclass: a month's file makes 1.5M of them, and a frozen
    dataclass's constructor sets each of its 14 fields through ``object.__setattr__`` (some
    3 s more per file).

    ``booking_date`` is the day the bank booked or reported the entry, as far as the file
    says: camt.054's BookgDt, else its ValDt, else the day the file was created (GrpHdr/
    CreDtTm); pain.002's creation day; a 回盘's date column. An entry left without one (a 回盘
    row with an empty date) is given a period by the importer's ``today``, never a booking
    day it did not state.
    """

    seq: int  # 1-based position of the entry in the file (for messages and provenance)
    kind: EntryKind
    end_to_end_id: str | None  # matches the ledger's payment id; None if the bank gave none
    amount: int | None = None  # fen; None when the file does not state one (most pain.002)
    currency: str | None = None
    booking_date: date | None = None
    value_date: date | None = None
    creditor_name: str | None = None
    creditor_account: str | None = None
    reason_code: str | None = None  # ISO external code (AC01, AC04, AM05...) or the bank's
    reason_text: str | None = None  # its meaning, or the bank's own words (户名不符)
    entry_ref: str | None = None  # the bank's reference for the entry (NtryRef, AcctSvcrRef..)
    status: str | None = None  # the raw status (BOOK, PDNG, ACSC, RJCT, 成功, 失败...)
    #: Why it counts as no payment's result though the file reports it (None: it counts).
    aside: AsideReason | None = None


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """A status that applies to a whole message or payment-information block (pain.002)."""

    seq: int
    scope: Literal["message", "payment_information"]
    original_message_id: str
    original_payment_information_id: str | None
    status: str
    reason_code: str | None = None
    reason_text: str | None = None


class BankFileRefused(ValueError):
    """A bank file that cannot be read: unknown kind, malformed, or not what it claims.

    Messages about one place start ``line N, ...``; `line` is that N (0 for the whole file)
    and `reason` the rest, for the importer's refusal."""

    _WHERE = re.compile(r"line (?P<line>[0-9]+)(?:, |: )")
    #: Where in the file's elements of interest it was found (parsers that read in shares
    #: compare them: the first in the file is the refusal); -1 before the first.
    position: int = -1

    @property
    def malformed(self) -> bool:
        """The XML itself is broken (not one of its values)."""
        return str(self).startswith("malformed XML")

    @property
    def line(self) -> int:
        m = self._WHERE.match(str(self))
        return int(m["line"]) if m else 0

    @property
    def reason(self) -> str:
        m = self._WHERE.match(str(self))
        return str(self)[m.end() :] if m else str(self)


#: ISO 20022 external status reason codes seen in returns, with their meaning.
REASON_CODES: dict[str, str] = {
    "AC01": "incorrect account number",
    "AC04": "closed account number",
    "AC06": "blocked account",
    "AC13": "invalid debtor account type",
    "AG01": "transaction forbidden",
    "AM04": "insufficient funds",
    "AM05": "duplication",
    "BE01": "inconsistent with end customer (name does not match, 户名不符)",
    "BE04": "missing creditor address",
    "DU01": "duplicate message id",
    "FF01": "invalid file format",
    "MD07": "end customer deceased",
    "MS03": "not specified reason agent generated",
    "NARR": "narrative",
    "RC01": "bank identifier incorrect",
    "RR01": "missing debtor account or identification",
}
