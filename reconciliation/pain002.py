"""pain.002 payment status reports (001.03 and 001.10; the Swiss 001.03.ch.02 variant too).

Per-transaction statuses (`TxInfAndSts`) become entries: RJCT is **rejected**, any other
status (ACCP, ACSC, ACSP, ACTC, ACWC, PDNG...) **accepted**. The statuses of the whole message
(`OrgnlGrpInfAndSts/GrpSts`) and of a payment-information block
(`OrgnlPmtInfAndSts/PmtInfSts`) become `GroupStatus` values, which the importer applies to the
payments of the message or block they name. Both versions put these elements in the same
places (checked against both XSDs). A block's status is yielded before its transactions.

A status report moves no money, so only RJCT changes a payment (rejected); PDNG, ACSC and the
rest are kept as status reports and never count as executed. Each entry is dated by the day the
report was created, and carries the currency of the original amount it echoes
(OrgnlTxRef/Amt/InstdAmt), when it does: a report on one of our payments in another currency
than CNY is not taken for a report on our payment (`reconciliation.bank` keeps it aside).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from lxml import etree

from reconciliation.entries import REASON_CODES, BankEntry, BankFileRefused, GroupStatus
from reconciliation.xmlstream import (
    Fields,
    Source,
    amount_fen,
    finished,
    iso_day,
    message_namespace,
)

MESSAGE = "pain.002"
#: The first reason's code and the first line of its text (more lines are read if there is one).
_REASON = ("StsRsnInf/Rsn/Cd|StsRsnInf/Rsn/Prtry", "StsRsnInf/AddtlInf")
_GROUP_FIELDS = ("OrgnlMsgId", "GrpSts", *_REASON)
_BLOCK_FIELDS = ("OrgnlPmtInfId", "PmtInfSts", *_REASON)
#: In the order `_transaction` unpacks them.
_TX_FIELDS = (
    "OrgnlEndToEndId",
    "TxSts",
    *_REASON,
    "StsId|AcctSvcrRef",  # StsId comes first in the schema, and is the report's own id
    "OrgnlTxRef/Amt/InstdAmt",
    "OrgnlTxRef/Amt/InstdAmt/@Ccy",
    "OrgnlTxRef/Cdtr/Nm|OrgnlTxRef/Cdtr/Pty/Nm",  # 001.10 wraps the party in Pty
    "OrgnlTxRef/CdtrAcct/Id/Othr/Id|OrgnlTxRef/CdtrAcct/Id/IBAN",
)


def parse(source: Source) -> Iterator[BankEntry | GroupStatus]:
    """Every status of a pain.002 report (bytes or a file), in file order, streamed.

    Each entry's `booking_date` is the day the report was created (GrpHdr/CreDtTm): a
    rejection has no booking, and that is the day the bank said so. A transaction without
    its own TxSts takes its block's status, else the message's. Raises `BankFileRefused` for
    malformed XML or a document that is not pain.002; a refusal can come after some values
    were yielded, so consume the whole iterator before storing.
    """
    ns = message_namespace(source, MESSAGE, "CstmrPmtStsRpt", "pain.002")
    group_fields = Fields(ns, _GROUP_FIELDS)
    block_fields = Fields(ns, _BLOCK_FIELDS)
    tx_fields = Fields(ns, _TX_FIELDS)
    cut = len(ns) + 2
    block_tag = f"{{{ns}}}OrgnlPmtInfAndSts"
    seq = 0
    reported: date | None = None
    message_id = ""
    message_status = ""
    block_status = ""
    block_done = False  # the current block's status was yielded (at its first transaction)
    wanted = ("GrpHdr", "OrgnlGrpInfAndSts", "OrgnlPmtInfAndSts", "TxInfAndSts")
    for el in finished(source, ns, wanted):
        name = el.tag[cut:]
        if name == "TxInfAndSts":
            block = el.getparent()
            if not block_done and block is not None and block.tag == block_tag:
                block_done = True
                group, block_status = _block(block_fields, block, seq + 1, message_id)
                if group is not None:
                    seq += 1
                    yield group
            seq += 1
            yield _transaction(tx_fields, el, seq, block_status or message_status, reported)
        elif name == "OrgnlPmtInfAndSts":
            if not block_done:
                group, _ = _block(block_fields, el, seq + 1, message_id)
                if group is not None:
                    seq += 1
                    yield group
            block_done, block_status = False, ""
        elif name == "OrgnlGrpInfAndSts":
            message_id, message_status, code, text = group_fields.read(el)
            if message_status:
                seq += 1
                yield GroupStatus(
                    seq=seq,
                    scope="message",
                    original_message_id=message_id,
                    original_payment_information_id=None,
                    status=message_status,
                    reason_code=code or None,
                    reason_text=_reason_text(el, code, text),
                )
        else:  # GrpHdr
            try:
                created = el.findtext(f"{{{ns}}}CreDtTm")
                reported = iso_day(created.strip() if created else None)
            except BankFileRefused as e:
                raise BankFileRefused(f"line {el.sourceline}, GrpHdr/CreDtTm: {e}") from None


def _block(
    fields: Fields, block: etree._Element, seq: int, message_id: str
) -> tuple[GroupStatus | None, str]:
    """A payment-information block's GroupStatus (None if it states no status), and the status."""
    block_id, status, code, text = fields.read(block)
    if not status:
        return None, ""
    group = GroupStatus(
        seq=seq,
        scope="payment_information",
        original_message_id=message_id,
        original_payment_information_id=block_id or None,
        status=status,
        reason_code=code or None,
        reason_text=_reason_text(block, code, text),
    )
    return group, status


def _transaction(
    fields: Fields, el: etree._Element, seq: int, inherited: str, reported: date | None
) -> BankEntry:
    e2e, status, code, text, ref, amount, currency, name, account = fields.read(el)
    status = status or inherited
    try:
        fen = amount_fen(amount or None)
    except BankFileRefused as e:
        raise BankFileRefused(f"line {el.sourceline}, OrgnlTxRef/Amt/InstdAmt: {e}") from None
    return BankEntry(
        seq=seq,
        kind="rejected" if status == "RJCT" else "accepted",
        end_to_end_id=None if e2e.upper() in ("", "NOTPROVIDED") else e2e,
        amount=fen,
        currency=currency or None,
        booking_date=reported,
        creditor_name=name or None,
        creditor_account=account or None,
        reason_code=code or None,
        reason_text=_reason_text(el, code, text),
        entry_ref=ref or None,
        status=status or None,
    )


def _reason_text(el: etree._Element, code: str, first_line: str) -> str | None:
    """The bank's words on the first reason, else the meaning of its code.

    AddtlInf may repeat, one line of text each: all lines are joined, read only when there
    is a first one (most statuses carry none).
    """
    if not first_line:
        return REASON_CODES.get(code)
    ns = {"n": etree.QName(el).namespace or ""}
    lines = el.iterfind("n:StsRsnInf[1]/n:AddtlInf", namespaces=ns)
    return " ".join(t for x in lines if x.text and (t := x.text.strip())) or first_line
