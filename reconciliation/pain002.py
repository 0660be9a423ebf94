"""pain.002 (001.03 and 001.10): payment status reports, streamed.

Per-transaction statuses become entries (RJCT: rejected; anything else: accepted). Group and
payment-information statuses become `GroupStatus` values that the importer applies to every
payment of the message or block they name.
"""

from __future__ import annotations

from collections.abc import Iterator

from reconciliation.entries import REASON_CODES, BankEntry, GroupStatus
from reconciliation.xmlstream import day, elements, fen, local, text

MESSAGE = "pain.002."


def parse(data: bytes) -> Iterator[BankEntry | GroupStatus]:
    """Every status of a pain.002 report, in file order."""
    seq = 0
    message_id = ""
    reported = None  # the report's creation date: when the bank said so
    wanted = {"GrpHdr", "OrgnlGrpInfAndSts", "TxInfAndSts", "OrgnlPmtInfAndSts"}
    for el in elements(data, MESSAGE, wanted, "pain.002"):
        name = local(el.tag)
        if name == "GrpHdr":
            reported = day(text(el, "CreDtTm"), "GrpHdr")
            continue
        seq += 1
        code = text(el, "StsRsnInf/Rsn/Cd") or text(el, "StsRsnInf/Rsn/Prtry")
        reason = text(el, "StsRsnInf/AddtlInf") or (REASON_CODES.get(code) if code else None)
        if name == "OrgnlGrpInfAndSts":
            message_id = text(el, "OrgnlMsgId") or ""
            status = text(el, "GrpSts")
            if status:
                yield GroupStatus(seq, "message", message_id, None, status, code, reason)
        elif name == "OrgnlPmtInfAndSts":
            status = text(el, "PmtInfSts")
            if status:
                yield GroupStatus(
                    seq,
                    "payment_information",
                    message_id,
                    text(el, "OrgnlPmtInfId"),
                    status,
                    code,
                    reason,
                )
        else:
            status = text(el, "TxSts")
            e2e = text(el, "OrgnlEndToEndId")
            yield BankEntry(
                seq=seq,
                kind="rejected" if status == "RJCT" else "accepted",
                end_to_end_id=None if e2e == "NOTPROVIDED" else e2e,
                amount=fen(text(el, "OrgnlTxRef/Amt/InstdAmt"), f"transaction {seq}"),
                booking_date=reported,
                reason_code=code,
                reason_text=reason,
                entry_ref=text(el, "StsId"),
                status=status,
            )
