"""camt.054 debit/credit notifications (001.02, 001.08; 001.04 and other versions tolerated).

One `BankEntry` per transaction detail (`TxDtls`); a batch entry carries many, possibly a
whole month's payments, so entries are yielded as each transaction ends and memory stays flat.

- DBIT: our account was debited, the payment was **executed**.
- CRDT with return information (`RtrInf`) or a return sub-family (`BkTxCd` ``.../RRTN``): money
  came back, **returned**.
- CRDT without either but with an `EndToEndId`: also **returned**, unless the bank transaction
  code says it is money someone else sent us (received transfers, direct debits, cheques):
  a payer's own EndToEndId must not pass for one of ours.
- Any other CRDT is an ordinary incoming credit, not ours, and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date

from lxml import etree

from reconciliation.entries import REASON_CODES, BankEntry, BankFileRefused
from reconciliation.xmlstream import (
    Fields,
    Source,
    amount_fen,
    finished,
    iso_day,
    message_namespace,
)

MESSAGE = "camt.054"
#: Bank transaction families of money that others send us: a credit in one of these is not
#: the return of a payment of ours, even when it carries the sender's EndToEndId.
RECEIVED_FAMILIES = frozenset({"RCDT", "RDDT", "RCHQ", "RRCT"})
#: Bank transaction sub-families that say "a payment of yours came back".
RETURN_SUBFAMILIES = frozenset({"RRTN"})

#: What an `Ntry` says for all its transactions (all of it precedes NtryDtls in the schema),
#: in the order `_read_entry` unpacks it. ``a|b`` takes whichever comes first in the file.
_ENTRY_FIELDS = (
    "CdtDbtInd",
    "Amt",
    "Amt/@Ccy",
    "BookgDt/Dt|BookgDt/DtTm",
    "ValDt/Dt|ValDt/DtTm",
    "NtryRef|AcctSvcrRef",
    "Sts",  # 001.02: <Sts>BOOK</Sts>; 001.08: <Sts><Cd>BOOK</Cd></Sts>; the text is BOOK either way
    "BkTxCd/Domn/Fmly/Cd",
    "BkTxCd/Domn/Fmly/SubFmlyCd",
)
#: What one `TxDtls` adds, in the order `_read_tx` unpacks it.
_TX_FIELDS = (
    "Refs/EndToEndId",
    "Refs/AcctSvcrRef",
    "count(RtrInf)",
    "AmtDtls/TxAmt/Amt",
    "AmtDtls/TxAmt/Amt/@Ccy",
    "Amt",  # 001.08 states the transaction amount directly under TxDtls too
    "Amt/@Ccy",
    "AmtDtls/InstdAmt/Amt",
    "AmtDtls/InstdAmt/Amt/@Ccy",
    "RltdPties/Cdtr/Nm|RltdPties/Cdtr/Pty/Nm",  # 001.08 wraps the party in Pty
    "RltdPties/CdtrAcct/Id/Othr/Id|RltdPties/CdtrAcct/Id/IBAN",
    "RtrInf/Rsn/Cd|RtrInf/Rsn/Prtry",
    "BkTxCd/Domn/Fmly/Cd",
    "BkTxCd/Domn/Fmly/SubFmlyCd",
)


@dataclass(slots=True)
class _Entry:
    """What an `Ntry` says for all of its transactions."""

    number: int  # 1-based position of the Ntry in the file
    credit: bool
    amount: int | None
    currency: str | None
    booked: date | None
    valued: date | None
    ref: str | None
    status: str | None
    family: str
    subfamily: str


def parse(source: Source) -> Iterator[BankEntry]:
    """Every payment-level entry of a camt.054 notification (bytes or a file), in file order,
    streamed.

    Raises `BankFileRefused` for malformed XML, a document that is not camt.054, or a value
    that cannot be read (amount, date, debit/credit indicator), naming the line. A refusal
    can come after some entries were yielded: consume the whole iterator before storing.
    """
    ns = message_namespace(source, MESSAGE, "BkToCstmrDbtCdtNtfctn", "camt.054")
    entry_fields = Fields(ns, _ENTRY_FIELDS)
    tx_fields = Fields(ns, _TX_FIELDS)
    ntry_tag = f"{{{ns}}}Ntry"
    seq = 0
    number = 0
    entry: _Entry | None = None  # the entry whose transactions are being read
    count = 0  # its TxDtls so far
    # The first transaction waits until we know whether its entry has others: a lone one
    # takes the entry's amount if it states none; in a batch its reference gets a suffix.
    first: BankEntry | None = None
    for el in finished(source, ns, ("TxDtls", "Ntry")):
        if el.tag != ntry_tag:  # a TxDtls
            if entry is None:
                number += 1
                entry = _read_entry(entry_fields, _ntry_of(el, ntry_tag), number)
            count += 1
            if count == 2 and first is not None:
                yield replace(first, entry_ref=f"{entry.ref}/1") if entry.ref else first
                first = None
            tx = _read_tx(tx_fields, el, entry, count, seq + 1)
            if tx is None:
                continue
            seq += 1
            if count == 1:
                first = tx
            else:
                yield tx
            continue
        if entry is None:  # an Ntry without TxDtls
            number += 1
            entry = _read_entry(entry_fields, el, number)
            first = _without_details(entry, seq + 1)
            if first is not None:
                seq += 1
        if first is not None:
            if first.amount is None and entry.amount is not None:
                first = replace(first, amount=entry.amount, currency=entry.currency)
            yield first
        entry, count, first = None, 0, None


def _ntry_of(tx: etree._Element, ntry_tag: str) -> etree._Element:
    parent = tx.getparent()
    while parent is not None and parent.tag != ntry_tag:
        parent = parent.getparent()
    if parent is None:
        raise BankFileRefused(f"line {tx.sourceline}: TxDtls outside an Ntry")
    return parent


def _read_entry(fields: Fields, ntry: etree._Element, number: int) -> _Entry:
    (indicator, amount, currency, booked, valued, ref, status, family, subfamily) = fields.read(
        ntry
    )
    try:
        if indicator not in ("DBIT", "CRDT"):
            raise BankFileRefused(f"CdtDbtInd must be DBIT or CRDT, not {indicator!r}")
        return _Entry(
            number=number,
            credit=indicator == "CRDT",
            amount=amount_fen(amount or None),
            currency=currency or None,
            booked=iso_day(booked or None),
            valued=iso_day(valued or None),
            ref=ref or None,
            status=status or None,
            family=family,
            subfamily=subfamily,
        )
    except BankFileRefused as e:
        raise BankFileRefused(f"line {ntry.sourceline}, entry {number}: {e}") from None


def _read_tx(
    fields: Fields, tx: etree._Element, entry: _Entry, index: int, seq: int
) -> BankEntry | None:
    (
        e2e,
        tx_ref,
        returns,
        tx_amount,
        tx_currency,
        amount,
        currency,
        instructed,
        instructed_currency,
        name,
        account,
        code,
        family,
        subfamily,
    ) = fields.read(tx)
    if e2e.upper() == "NOTPROVIDED":
        e2e = ""  # the ISO placeholder, shared by many transactions: it matches nothing
    returned = returns != "0"
    if entry.credit and not returned:
        family = family or entry.family
        subfamily = subfamily or entry.subfamily
        if subfamily not in RETURN_SUBFAMILIES and (not e2e or family in RECEIVED_FAMILIES):
            return None  # an ordinary incoming credit, not the result of a payment of ours
    # The booked amount first (TxAmt, or Amt under TxDtls in 001.08): what the bank executed.
    # InstdAmt is what was asked, possibly in another currency.
    if tx_amount:
        amount, currency = tx_amount, tx_currency
    elif not amount:
        amount, currency = instructed, instructed_currency
    try:
        fen = amount_fen(amount or None)
    except BankFileRefused as e:
        where = f"line {tx.sourceline}, entry {entry.number}, transaction {index}"
        raise BankFileRefused(f"{where}: {e}") from None
    if entry.ref and index > 1:
        ref: str | None = f"{entry.ref}/{index}"  # unique per transaction, stable per file
    else:
        ref = entry.ref or tx_ref or None
    return BankEntry(
        seq=seq,
        kind="returned" if entry.credit else "executed",
        end_to_end_id=e2e or None,
        amount=fen,
        currency=currency or entry.currency,
        booking_date=entry.booked,
        value_date=entry.valued,
        creditor_name=name or None,
        creditor_account=account or None,
        reason_code=(code or None) if returned else None,
        reason_text=_return_reason(tx, code) if returned else None,
        entry_ref=ref,
        status=entry.status,
    )


def _return_reason(tx: etree._Element, code: str) -> str | None:
    """The bank's words on a return (AddtlInf may repeat, a line each), else the code's meaning."""
    ns = etree.QName(tx).namespace or ""
    lines = tx.iterfind("n:RtrInf/n:AddtlInf", namespaces={"n": ns})
    return " ".join(t for x in lines if x.text and (t := x.text.strip())) or REASON_CODES.get(code)


def _without_details(entry: _Entry, seq: int) -> BankEntry | None:
    """An entry with no TxDtls: a debit is still a payment made; a credit only if a return."""
    if entry.credit and entry.subfamily not in RETURN_SUBFAMILIES:
        return None
    return BankEntry(
        seq=seq,
        kind="returned" if entry.credit else "executed",
        end_to_end_id=None,
        amount=entry.amount,
        currency=entry.currency,
        booking_date=entry.booked,
        value_date=entry.valued,
        entry_ref=entry.ref,
        status=entry.status,
    )
