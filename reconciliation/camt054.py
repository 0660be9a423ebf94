"""camt.054 debit/credit notifications (001.02, 001.08; 001.04 and other versions tolerated).

One `BankEntry` per transaction detail (`TxDtls`); a batch entry carries many, possibly a
whole month's payments, so entries are yielded as each transaction ends and memory stays flat.
What an entry means is read from what the bank says of it, never guessed:

- Only a booked entry moves money: status BOOK (``<Sts>BOOK</Sts>`` in 001.02,
  ``<Sts><Cd>BOOK</Cd></Sts>`` in 001.08), or no status at all where a variant leaves it out.
  Any other status (PDNG, INFO, ...) is reported with ``aside="not_booked"``: kept with the
  file for an auditor, counted as nothing. If the bank books it later, the booked entry counts.
- DBIT: our account was debited, the payment was **executed**.
- CRDT with return information (`RtrInf`), a reversal indicator (``RvslInd`` true) or a
  return sub-family (`BkTxCd` ``.../RRTN``, the bank's own code for "payment returned"): money
  came back, **returned**.
- Any other CRDT is money someone sent us (**credited**), kept with
  ``aside="no_return_information"`` and never taken for a return, whatever EndToEndId the
  payer put on it: a payer's own reference must not pass for one of ours.
- The booking date is BookgDt, else the value date (ValDt), else the day the file was created
  (GrpHdr/CreDtTm): an entry without one is still reported in a month. Both dates are the
  bank's; the file's creation day is the latest the bank can have booked it.

The currency is reported as the file states it (the transaction's, else the entry's); whether
it is the payment's is the importer's question (`reconciliation.bank`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from sys import intern  # a month repeats a few currencies and statuses a million times
from typing import Any, cast

from lxml import etree

from reconciliation.entries import REASON_CODES, AsideReason, BankEntry, BankFileRefused
from reconciliation.xmlstream import (
    Fields,
    Source,
    amount_fen,
    cut,
    finished,
    iso_day,
    message_namespace,
    read_in_parts,
    read_in_shares,
)

MESSAGE = "camt.054"
#: Bank transaction sub-families that say "a payment of yours came back".
RETURN_SUBFAMILIES = frozenset({"RRTN"})
#: The entry status of money actually posted to the account.
BOOKED = "BOOK"
#: ``RvslInd`` is an xs:boolean.
_TRUE = frozenset({"true", "1"})

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
    "RvslInd",
)
#: A credit's bank transaction sub-family (only credits need it, read apart).
_FAMILY_FIELDS = ("BkTxCd/Domn/Fmly/SubFmlyCd",)
#: What nearly every `TxDtls` says, and how many of the elements that only some have are
#: there (a month of payments has none of them): when none, `_TX_FIELDS` needs no reading.
_TX_COMMON_FIELDS = (
    "Refs/EndToEndId",
    "AmtDtls/TxAmt/Amt",
    "AmtDtls/TxAmt/Amt/@Ccy",
    "RltdPties/Cdtr/Nm|RltdPties/Cdtr/Pty/Nm",
    "RltdPties/CdtrAcct/Id/Othr/Id|RltdPties/CdtrAcct/Id/IBAN",
    "count(Refs/AcctSvcrRef|RtrInf|Amt|AmtDtls/InstdAmt|BkTxCd)",
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
    reversal: bool  # RvslInd true: a credit that undoes a debit of ours is a return
    subfamily: str
    aside: AsideReason | None  # not_booked for all its transactions, when it is not booked


#: A transaction's `BankEntry` fields after ``seq`` (it is numbered once all are read).
Row = tuple[Any, ...]


def parse(source: Source, *, processes: int = 1) -> Iterator[BankEntry]:
    """Every payment-level entry of a camt.054 notification (bytes or a file), in file order,
    streamed.

    Raises `BankFileRefused` for malformed XML, a document that is not camt.054, or a value
    that cannot be read (amount, date, debit/credit indicator), naming the line. A refusal
    can come after some entries were yielded: consume the whole iterator before storing.

    With ``processes`` > 1 (a file on disk), that many processes read the file at once: each
    a part of it cut at entries (`xmlstream.cut`), or where it cannot be cut so (one batch
    entry) or a part is refused, each the fields of its share of the transactions (see
    `xmlstream.read_in_shares`); the result is the same, refusal included.
    """
    found: Iterable[Row] | None = None
    if processes > 1 and isinstance(source, Path):
        parts = cut(source, "Ntry", "Ntfctn", processes)
        if parts is not None:
            found = read_in_parts(rows, parts)
        if found is None:
            found = read_in_shares(rows, source, processes)
    else:
        found = (row for _, row in rows(source))
    for seq, row in enumerate(found, start=1):
        yield BankEntry(seq, *row)


def rows(source: Source, share: tuple[int, int] = (0, 1)) -> Iterator[tuple[int, Row]]:
    """(position, row) of the transactions of one share of the file, in file order.

    A transaction's position counts the file's TxDtls (and Ntry elements without any);
    share ``(k, n)`` reads the fields of the transactions at positions ``k`` modulo ``n``
    (and of their entries), and only walks past the others. A refusal carries the position
    it was found at (`BankFileRefused.position`).
    """
    mine, parts = share
    ns = message_namespace(source, MESSAGE, "BkToCstmrDbtCdtNtfctn", "camt.054")
    fields = _Readers(ns)
    ntry_tag = f"{{{ns}}}Ntry"
    tx_tag = f"{{{ns}}}TxDtls"
    created: date | None = None  # GrpHdr/CreDtTm: the booking day of entries that state none
    position = -1
    number = 0  # of the current Ntry
    started = False  # its first TxDtls was seen
    entry: _Entry | None = None  # what it says for all of its transactions (read when needed)
    count = 0  # its TxDtls so far
    # The first transaction waits until we know whether its entry has others: a lone one
    # takes the entry's amount if it states none; in a batch its reference gets a suffix.
    first: tuple[int, Row] | None = None
    try:
        for el in finished(source, ns, ("TxDtls", "Ntry", "GrpHdr")):
            if el.tag == tx_tag:
                position += 1
                if not started:
                    number, started = number + 1, True
                count += 1
                if count == 2 and first is not None:
                    yield _suffixed(first, cast(_Entry, entry).ref)  # read with the first
                    first = None
                if position % parts != mine:
                    continue
                if entry is None:
                    entry = _read_entry(fields, _ntry_of(el, ntry_tag), number, created)
                row = _read_tx(fields, el, entry, count)
                if count == 1:
                    first = (position, row)
                else:
                    yield position, row
                continue
            if el.tag != ntry_tag:  # the GrpHdr, before any entry
                created = _created(el, ns)
                continue
            if not started:  # an Ntry without TxDtls
                position, number = position + 1, number + 1
                if position % parts == mine:
                    entry = _read_entry(fields, el, number, created)
                    first = (position, _without_details(entry))
            if first is not None:
                yield _with_entry_amount(first, cast(_Entry, entry))  # read with the first
            entry, count, first, started = None, 0, None, False
    except BankFileRefused as e:
        # Past the last element read when the XML itself breaks; at the element otherwise.
        e.position = 2 * position + (1 if e.malformed else 0)
        raise


def _suffixed(first: tuple[int, Row], ref: str | None) -> tuple[int, Row]:
    """The first transaction of a batch entry: its reference numbered like the others'."""
    position, row = first
    return (position, (*row[:10], f"{ref}/1", *row[11:])) if ref else first


def _with_entry_amount(first: tuple[int, Row], entry: _Entry) -> tuple[int, Row]:
    """A lone transaction that states no amount has its entry's."""
    position, row = first
    if row[2] is None and entry.amount is not None:
        return position, (*row[:2], entry.amount, entry.currency, *row[4:])
    return first


def _ntry_of(tx: etree._Element, ntry_tag: str) -> etree._Element:
    parent = tx.getparent()
    while parent is not None and parent.tag != ntry_tag:
        parent = parent.getparent()
    if parent is None:
        raise BankFileRefused(f"line {tx.sourceline}: TxDtls outside an Ntry")
    return parent


class _Readers:
    """The compiled field readers of one document's namespace."""

    def __init__(self, ns: str) -> None:
        self.entry = Fields(ns, _ENTRY_FIELDS)
        self.family = Fields(ns, _FAMILY_FIELDS)
        self.tx_common = Fields(ns, _TX_COMMON_FIELDS)
        self.tx = Fields(ns, _TX_FIELDS)


def _created(header: etree._Element, ns: str) -> date | None:
    """The day a file was created (GrpHdr/CreDtTm), the bank's own local day."""
    text = header.findtext(f"{{{ns}}}CreDtTm")
    try:
        return iso_day(text.strip() if text and text.strip() else None)
    except BankFileRefused as e:
        raise BankFileRefused(f"line {header.sourceline}, GrpHdr/CreDtTm: {e}") from None


def _read_entry(
    fields: _Readers, ntry: etree._Element, number: int, created: date | None
) -> _Entry:
    (indicator, amount, currency, booked, valued, ref, status, reversal) = fields.entry.read(ntry)
    (subfamily,) = fields.family.read(ntry) if indicator == "CRDT" else ("",)
    try:
        if indicator not in ("DBIT", "CRDT"):
            raise BankFileRefused(f"CdtDbtInd must be DBIT or CRDT, not {indicator!r}")
        value_day = iso_day(valued or None)
        return _Entry(
            number=number,
            credit=indicator == "CRDT",
            amount=amount_fen(amount or None),
            currency=intern(currency) if currency else None,
            booked=iso_day(booked or None) or value_day or created,
            valued=value_day,
            ref=ref or None,
            status=intern(status) if status else None,
            reversal=reversal in _TRUE,
            subfamily=subfamily,
            aside=None if status in ("", BOOKED) else "not_booked",
        )
    except BankFileRefused as e:
        raise BankFileRefused(f"line {ntry.sourceline}, entry {number}: {e}") from None


def _read_tx(fields: _Readers, tx: etree._Element, entry: _Entry, index: int) -> Row:
    e2e, tx_amount, tx_currency, name, account, others = fields.tx_common.read(tx)
    if others == "0":
        tx_ref = amount = currency = instructed = instructed_currency = ""
        code = subfamily = ""
        returns = "0"
    else:
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
            subfamily,
        ) = fields.tx.read(tx)
    if e2e.upper() == "NOTPROVIDED":
        e2e = ""  # the ISO placeholder, shared by many transactions: it matches nothing
    informed = returns != "0"  # the bank says why it came back (RtrInf)
    aside = entry.aside
    if entry.credit:
        returned = (
            informed or entry.reversal or (subfamily or entry.subfamily) in RETURN_SUBFAMILIES
        )
        kind = "returned" if returned else "credited"
        if not returned:
            aside = aside or "no_return_information"
    else:
        kind = "executed"
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
    return (
        kind,
        e2e or None,
        fen,
        intern(currency) if currency else entry.currency,
        entry.booked,
        entry.valued,
        name or None,
        account or None,
        (code or None) if informed else None,
        _return_reason(tx, code) if informed else None,
        ref,
        entry.status,
        aside,
    )


def _return_reason(tx: etree._Element, code: str) -> str | None:
    """The bank's words on a return (AddtlInf may repeat, a line each), else the code's meaning."""
    ns = etree.QName(tx).namespace or ""
    lines = tx.iterfind("n:RtrInf/n:AddtlInf", namespaces={"n": ns})
    return " ".join(t for x in lines if x.text and (t := x.text.strip())) or REASON_CODES.get(code)


def _without_details(entry: _Entry) -> Row:
    """An entry with no TxDtls: a debit is still a payment made; a credit a return only if
    the entry says so (a reversal, or the return sub-family), else money sent to us."""
    if entry.credit:
        returned = entry.reversal or entry.subfamily in RETURN_SUBFAMILIES
        kind = "returned" if returned else "credited"
        aside = entry.aside or (None if returned else "no_return_information")
    else:
        kind, aside = "executed", entry.aside
    return (
        (kind, None, entry.amount, entry.currency, entry.booked, entry.valued)
        + (None,) * 4
        + (entry.ref, entry.status, aside)
    )
