"""A simulated bank (demo, tests, benchmarks): reads our pain.001, answers camt.054 and pain.002.

By default every payment is executed on its requested date, to the instructed account and
name, for the instructed amount. `Anomalies` says which payments the bank gets wrong.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import BinaryIO

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
    """The payments of one of our pain.001 files (streamed: fine for a million)."""
    out: list[Instructed] = []
    msg_id, requested = "", date.min
    for _, el in etree.iterparse(io.BytesIO(data), events=("end",)):
        tag = etree.QName(el).localname
        if tag == "MsgId" and not msg_id:
            msg_id = el.text or ""
        elif tag == "ReqdExctnDt":
            requested = date.fromisoformat(el.text or "")
        elif tag == "CdtTrfTxInf":
            ns = {"p": P001}
            out.append(
                Instructed(
                    el.findtext("p:PmtId/p:EndToEndId", namespaces=ns) or "",
                    el.findtext("p:Amt/p:InstdAmt", namespaces=ns) or "",
                    el.findtext("p:Cdtr/p:Nm", namespaces=ns) or "",
                    el.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=ns) or "",
                    requested,
                    msg_id,
                )
            )
            el.clear()
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


def _entry(
    ref: str,
    e2e: str,
    amount: str,
    name: str,
    account: str,
    day: date,
    credit: bool,
    reason: str | None,
) -> etree._Element:
    ntry = etree.Element(f"{{{C054}}}Ntry", nsmap={None: C054})
    _el(ntry, C054, "NtryRef", ref)
    _el(ntry, C054, "Amt", amount, Ccy="CNY")
    _el(ntry, C054, "CdtDbtInd", "CRDT" if credit else "DBIT")
    _el(ntry, C054, "Sts", "BOOK")
    _el(ntry, C054, "BookgDt/Dt", day.isoformat())
    _el(ntry, C054, "ValDt/Dt", day.isoformat())
    fmly = _el(ntry, C054, "BkTxCd/Domn")
    _el(fmly, C054, "Cd", "PMNT")
    _el(fmly, C054, "Fmly/Cd", "ICDT")
    fmly[-1].append(etree.Element(f"{{{C054}}}SubFmlyCd"))
    fmly[-1][-1].text = "RRTN" if credit else "ESCT"
    tx = _el(ntry, C054, "NtryDtls/TxDtls")
    _el(tx, C054, "Refs/EndToEndId", e2e)
    _el(tx, C054, "AmtDtls/TxAmt/Amt", amount, Ccy="CNY")
    parties = _el(tx, C054, "RltdPties")
    _el(parties, C054, "Cdtr/Nm", name)
    _el(parties, C054, "CdtrAcct/Id/Othr/Id", account)
    if reason:
        _el(tx, C054, "RtrInf/Rsn/Cd", reason)
    return ntry


def write_camt054(
    out: BinaryIO,
    payments: Iterable[Instructed],
    anomalies: Anomalies | None = None,
    statement_id: str = "NTF-1",
) -> None:
    """Stream a camt.054.001.02 notification of what the bank did with the payments."""
    a = anomalies or Anomalies()
    n = 0

    def ref() -> str:
        nonlocal n
        n += 1
        return f"{statement_id}-{n}"

    with etree.xmlfile(out, encoding="UTF-8") as xf:
        xf.write_declaration()
        with (
            xf.element(f"{{{C054}}}Document", nsmap={None: C054}),
            xf.element(f"{{{C054}}}BkToCstmrDbtCdtNtfctn"),
        ):
            hdr = etree.Element(f"{{{C054}}}GrpHdr", nsmap={None: C054})
            _el(hdr, C054, "MsgId", statement_id)
            _el(hdr, C054, "CreDtTm", "2026-12-31T18:00:00")
            xf.write(hdr)
            with xf.element(f"{{{C054}}}Ntfctn"):
                head = etree.Element(f"{{{C054}}}Head", nsmap={None: C054})
                _el(head, C054, "Id", statement_id)
                _el(head, C054, "CreDtTm", "2026-12-31T18:00:00")
                _el(head, C054, "Acct/Id/Othr/Id", "6222020200000000001")
                for child in head:
                    xf.write(child)
                for p in payments:
                    e2e = p.end_to_end_id
                    if e2e in a.missing or e2e in a.rejected:
                        continue
                    day = p.requested + timedelta(days=a.late_days.get(e2e, 0))
                    amount = a.amount.get(e2e, p.amount)
                    name = a.name.get(e2e, p.name)
                    account = a.account.get(e2e, p.account)
                    for _ in range(2 if e2e in a.twice else 1):
                        xf.write(_entry(ref(), e2e, amount, name, account, day, False, None))
                    if e2e in a.returned:
                        xf.write(
                            _entry(
                                ref(),
                                e2e,
                                amount,
                                name,
                                account,
                                day + timedelta(days=2),
                                True,
                                a.returned[e2e],
                            )
                        )
                for e2e, amount, day in a.unknown:
                    xf.write(
                        _entry(ref(), e2e, amount, "某某", "6217999900000000000", day, False, None)
                    )


def camt054(
    payments: list[Instructed], anomalies: Anomalies | None = None, statement_id: str = "NTF-1"
) -> bytes:
    buffer = io.BytesIO()
    write_camt054(buffer, payments, anomalies, statement_id)
    return buffer.getvalue()


def pain002(payments: list[Instructed], anomalies: Anomalies | None = None) -> bytes:
    a = anomalies or Anomalies()
    root = etree.Element(f"{{{P002}}}Document", nsmap={None: P002})
    rpt = _el(root, P002, "CstmrPmtStsRpt")
    hdr = _el(rpt, P002, "GrpHdr")
    _el(hdr, P002, "MsgId", "STS-1")
    reported = payments[0].requested if payments else date(2026, 1, 1)
    _el(hdr, P002, "CreDtTm", f"{reported.isoformat()}T18:00:00")
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
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data
