"""camt.054 (001.02, 001.08 and neighbours): booked debits and returned credits, streamed.

DBIT entries are executed payments; CRDT entries with return information (or a return
bank-transaction code, RRTN) are returns; other credits are not ours and are skipped. One
`BankEntry` per transaction detail (a batch entry carries many).
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from reconciliation.entries import REASON_CODES, BankEntry, BankFileRefused
from reconciliation.xmlstream import day, elements, fen, qualified, text

MESSAGE = "camt.054."
#: Bank transaction sub-family codes of a credit that returns one of our payments.
RETURN_FAMILIES = {"RRTN", "RPCR"}


def parse(data: bytes) -> Iterator[BankEntry]:
    """Every payment-level entry of a camt.054 notification, in file order."""
    seq = 0
    for n, ntry in enumerate(elements(data, MESSAGE, {"Ntry"}, "camt.054"), start=1):
        where = f"entry {n}"
        indicator = text(ntry, "CdtDbtInd")
        if indicator not in ("DBIT", "CRDT"):
            raise BankFileRefused(f"{where}: CdtDbtInd must be DBIT or CRDT, not {indicator!r}")
        amount_el = ntry.find(qualified(_ns(ntry), "Amt"))
        entry_amount = fen(text(ntry, "Amt"), where)
        currency = amount_el.get("Ccy") if amount_el is not None else None
        booked = day(text(ntry, "BookgDt/Dt") or text(ntry, "BookgDt/DtTm"), where)
        valued = day(text(ntry, "ValDt/Dt") or text(ntry, "ValDt/DtTm"), where)
        ref = text(ntry, "NtryRef") or text(ntry, "AcctSvcrRef")
        status = text(ntry, "Sts") or text(ntry, "Sts/Cd")
        family = text(ntry, "BkTxCd/Domn/Fmly/SubFmlyCd")
        details = ntry.findall(qualified(_ns(ntry), "NtryDtls/TxDtls"))
        for i, tx in enumerate(details or [None], start=1):
            entry = _entry(
                tx, indicator, entry_amount if len(details) <= 1 else None, currency, family, where
            )
            if entry is None:
                continue
            seq += 1
            yield BankEntry(
                seq=seq,
                kind=entry[0],
                end_to_end_id=entry[1],
                amount=entry[2],
                currency=entry[3],
                booking_date=booked,
                value_date=valued,
                creditor_name=entry[4],
                creditor_account=entry[5],
                reason_code=entry[6],
                reason_text=entry[7],
                entry_ref=(f"{ref}/{i}" if ref and len(details) > 1 else ref)
                or (text(tx, "Refs/AcctSvcrRef") if tx is not None else None),
                status=status,
            )


def _entry(
    tx: etree._Element | None,
    indicator: str,
    entry_amount: int | None,
    currency: str | None,
    family: str | None,
    where: str,
) -> tuple | None:  # type: ignore[type-arg]
    e2e = text(tx, "Refs/EndToEndId") if tx is not None else None
    if e2e == "NOTPROVIDED":
        e2e = None
    returned = tx is not None and tx.find(qualified(_ns(tx), "RtrInf")) is not None
    if indicator == "CRDT" and not returned and family not in RETURN_FAMILIES:
        return None  # an ordinary incoming credit, not a result of our payments
    kind = "executed" if indicator == "DBIT" else "returned"
    amount, ccy = entry_amount, currency
    if tx is not None:
        for path in ("AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt", "Amt"):
            el = tx.find(qualified(_ns(tx), path))
            if el is not None and el.text:
                amount, ccy = fen(el.text.strip(), where), el.get("Ccy") or currency
                break
    name = account = code = reason = None
    if tx is not None:
        name = text(tx, "RltdPties/Cdtr/Nm") or text(tx, "RltdPties/Cdtr/Pty/Nm")
        account = text(tx, "RltdPties/CdtrAcct/Id/Othr/Id") or text(
            tx, "RltdPties/CdtrAcct/Id/IBAN"
        )
        code = text(tx, "RtrInf/Rsn/Cd") or text(tx, "RtrInf/Rsn/Prtry")
        reason = text(tx, "RtrInf/AddtlInf") or (REASON_CODES.get(code) if code else None)
    return kind, e2e, amount, ccy, name, account, code, reason


def _ns(el: etree._Element) -> str:
    tag = el.tag
    return tag[1 : tag.index("}")] if tag[0] == "{" else ""
