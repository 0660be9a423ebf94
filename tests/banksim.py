"""A small bank for tests: reads our pain.001 and answers with camt.054 and pain.002.

By default every payment is executed on its requested date, to the instructed account and
name, for the instructed amount. `Anomalies` says which payments the bank gets wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from lxml import etree

P001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
C054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
P002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"


@dataclass(frozen=True)
class Instructed:
    end_to_end_id: str
    amount: str
    name: str
    account: str
    requested: date
    msg_id: str


@dataclass
class Anomalies:
    amount: dict[str, str] = field(default_factory=dict)  # e2e -> executed amount
    account: dict[str, str] = field(default_factory=dict)  # e2e -> credited account
    name: dict[str, str] = field(default_factory=dict)  # e2e -> reported holder name
    late_days: dict[str, int] = field(default_factory=dict)  # e2e -> days late
    returned: dict[str, str] = field(default_factory=dict)  # e2e -> return reason code
    rejected: dict[str, str] = field(default_factory=dict)  # e2e -> reject reason code
    twice: set[str] = field(default_factory=set)  # executed twice
    missing: set[str] = field(default_factory=set)  # no result at all
    unknown: list[tuple[str, str, date]] = field(default_factory=list)  # (e2e, amount, day)


def read_pain001(data: bytes) -> list[Instructed]:
    ns = {"p": P001}
    doc = etree.fromstring(data)
    msg_id = doc.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=ns) or ""
    out = []
    for info in doc.iterfind("p:CstmrCdtTrfInitn/p:PmtInf", namespaces=ns):
        requested = date.fromisoformat(info.findtext("p:ReqdExctnDt", namespaces=ns) or "")
        for tx in info.iterfind("p:CdtTrfTxInf", namespaces=ns):
            out.append(
                Instructed(
                    tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns) or "",
                    tx.findtext("p:Amt/p:InstdAmt", namespaces=ns) or "",
                    tx.findtext("p:Cdtr/p:Nm", namespaces=ns) or "",
                    tx.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=ns) or "",
                    requested,
                    msg_id,
                )
            )
    return out


def _el(
    parent: etree._Element, ns: str, path: str, text: str | None = None, **attrs: str
) -> etree._Element:
    node = parent
    for tag in path.split("/"):
        node = etree.SubElement(node, f"{{{ns}}}{tag}")
    for k, v in attrs.items():
        node.set(k, v)
    if text is not None:
        node.text = text
    return node


def camt054(
    payments: list[Instructed], anomalies: Anomalies | None = None, statement_id: str = "NTF-1"
) -> bytes:
    a = anomalies or Anomalies()
    root = etree.Element(f"{{{C054}}}Document", nsmap={None: C054})
    msg = _el(root, C054, "BkToCstmrDbtCdtNtfctn")
    hdr = _el(msg, C054, "GrpHdr")
    _el(hdr, C054, "MsgId", statement_id)
    _el(hdr, C054, "CreDtTm", "2026-12-31T18:00:00")
    ntfctn = _el(msg, C054, "Ntfctn")
    _el(ntfctn, C054, "Id", statement_id)
    _el(ntfctn, C054, "CreDtTm", "2026-12-31T18:00:00")
    _el(ntfctn, C054, "Acct/Id/Othr/Id", "6222020200000000001")
    n = 0

    def entry(
        e2e: str,
        amount: str,
        name: str,
        account: str,
        day: date,
        credit: bool,
        reason: str | None = None,
    ) -> None:
        nonlocal n
        n += 1
        ntry = _el(ntfctn, C054, "Ntry")
        _el(ntry, C054, "NtryRef", f"{statement_id}-{n}")
        _el(ntry, C054, "Amt", amount, Ccy="CNY")
        _el(ntry, C054, "CdtDbtInd", "CRDT" if credit else "DBIT")
        _el(ntry, C054, "Sts", "BOOK")
        _el(ntry, C054, "BookgDt/Dt", day.isoformat())
        _el(ntry, C054, "ValDt/Dt", day.isoformat())
        _el(ntry, C054, "BkTxCd/Domn/Cd", "PMNT")
        ntry[-1].find(f"{{{C054}}}Domn").append(
            etree.fromstring(
                f'<Fmly xmlns="{C054}"><Cd>ICDT</Cd><SubFmlyCd>{"RRTN" if credit else "ESCT"}'
                "</SubFmlyCd></Fmly>"
            )
        )
        tx = _el(ntry, C054, "NtryDtls/TxDtls")
        _el(tx, C054, "Refs/EndToEndId", e2e)
        _el(tx, C054, "AmtDtls/TxAmt/Amt", amount, Ccy="CNY")
        parties = _el(tx, C054, "RltdPties")
        _el(parties, C054, "Cdtr/Nm", name)
        _el(parties, C054, "CdtrAcct/Id/Othr/Id", account)
        if reason:
            _el(tx, C054, "RtrInf/Rsn/Cd", reason)

    for p in payments:
        if p.end_to_end_id in a.missing or p.end_to_end_id in a.rejected:
            continue
        day = p.requested + timedelta(days=a.late_days.get(p.end_to_end_id, 0))
        amount = a.amount.get(p.end_to_end_id, p.amount)
        name = a.name.get(p.end_to_end_id, p.name)
        account = a.account.get(p.end_to_end_id, p.account)
        for _ in range(2 if p.end_to_end_id in a.twice else 1):
            entry(p.end_to_end_id, amount, name, account, day, credit=False)
        if p.end_to_end_id in a.returned:
            entry(
                p.end_to_end_id,
                amount,
                name,
                account,
                day + timedelta(days=2),
                credit=True,
                reason=a.returned[p.end_to_end_id],
            )
    for e2e, amount, day in a.unknown:
        entry(e2e, amount, "某某", "6217999900000000000", day, credit=False)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def pain002(payments: list[Instructed], anomalies: Anomalies | None = None) -> bytes:
    a = anomalies or Anomalies()
    root = etree.Element(f"{{{P002}}}Document", nsmap={None: P002})
    rpt = _el(root, P002, "CstmrPmtStsRpt")
    hdr = _el(rpt, P002, "GrpHdr")
    _el(hdr, P002, "MsgId", "STS-1")
    _el(hdr, P002, "CreDtTm", "2026-12-10T18:00:00")
    grp = _el(rpt, P002, "OrgnlGrpInfAndSts")
    _el(grp, P002, "OrgnlMsgId", payments[0].msg_id if payments else "none")
    _el(grp, P002, "OrgnlMsgNmId", "pain.001.001.03")
    info = _el(rpt, P002, "OrgnlPmtInfAndSts")
    _el(info, P002, "OrgnlPmtInfId", f"{payments[0].msg_id if payments else 'none'}-001")
    for i, p in enumerate(payments, start=1):
        if p.end_to_end_id in a.missing:
            continue
        tx = _el(info, P002, "TxInfAndSts")
        _el(tx, P002, "StsId", f"S{i}")
        _el(tx, P002, "OrgnlEndToEndId", p.end_to_end_id)
        reason = a.rejected.get(p.end_to_end_id)
        _el(tx, P002, "TxSts", "RJCT" if reason else "ACSC")
        if reason:
            _el(tx, P002, "StsRsnInf/Rsn/Cd", reason)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
