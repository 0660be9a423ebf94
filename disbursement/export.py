"""Bank files for an approved run: ISO 20022 pain.001.001.03, and a plain CSV 代发 file.

pain.001: one ``PmtInf`` per program and payment date, the debtor account of the program's
department, amounts in CNY with two decimals, ``EndToEndId`` = the payment id. Held payments
are never exported. Re-exporting the same run gives the same file apart from ``CreDtTm``.

CSV 代发 layout (header row, then one row per payment, ordered as in the pain.001):
``seq,payment_id,account,name,amount,currency,program,period,kind,payment_date,debtor_account``
- ``seq`` 1-based; ``payment_id`` the EndToEndId; ``amount`` yuan with two decimals;
  ``payment_date`` YYYY-MM-DD; UTF-8 by default, GB18030 with ``--encoding gb18030``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import groupby
from pathlib import Path

from lxml import etree

from ledger.money import format_fen
from ledger.programs import ProgramsConfig
from ledger.store import Database, as_date

PAIN001_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
PAIN001_XSD = Path(__file__).with_name("xsd") / "pain.001.001.03.xsd"
CSV_COLUMNS = (
    "seq", "payment_id", "account", "name", "amount", "currency", "program", "period", "kind",
    "payment_date", "debtor_account",
)


@dataclass(frozen=True)
class ExportLine:
    payment_id: str
    program: str
    department: str
    period: str
    kind: str
    amount: int
    payment_date: date
    account: str
    name: str


def run_lines(db: Database, run_id: str) -> list[ExportLine]:
    """The exportable (not held) payments of a run, in file order."""
    rows = db.query(
        "SELECT payment_id, program, department, period, kind, amount, payment_date, "
        "creditor_account, creditor_name FROM payments WHERE run_id = ? AND held = '' "
        "ORDER BY program, payment_date, payment_id",
        (run_id,),
    )
    return [
        ExportLine(r[0], r[1], r[2], r[3], r[4], int(r[5]), as_date(r[6]), r[7], r[8])  # type: ignore[arg-type]
        for r in rows
    ]


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{PAIN001_NS}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _path(parent: etree._Element, tags: str, text: str) -> None:
    *inner, last = tags.split("/")
    for tag in inner:
        parent = _sub(parent, tag)
    _sub(parent, last, text)


def pain001(
    run_id: str, lines: Sequence[ExportLine], config: ProgramsConfig, *, created: datetime,
    initiator: str = "aidledger",
) -> bytes:
    """The pain.001.001.03 document for a run's payments."""
    root = etree.Element(f"{{{PAIN001_NS}}}Document", nsmap={None: PAIN001_NS})
    cstmr = _sub(root, "CstmrCdtTrfInitn")
    hdr = _sub(cstmr, "GrpHdr")
    _sub(hdr, "MsgId", run_id)
    _sub(hdr, "CreDtTm", created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    _sub(hdr, "NbOfTxs", str(len(lines)))
    _sub(hdr, "CtrlSum", format_fen(sum(x.amount for x in lines)))
    _path(hdr, "InitgPty/Nm", initiator)
    groups = groupby(lines, key=lambda x: (x.program, x.payment_date))
    for n, ((program, pay_date), group_iter) in enumerate(groups, start=1):
        group = list(group_iter)
        dept = config.department_of(program)
        info = _sub(cstmr, "PmtInf")
        _sub(info, "PmtInfId", f"{run_id}-{n:03d}")
        _sub(info, "PmtMtd", "TRF")
        _sub(info, "BtchBookg", "true")
        _sub(info, "NbOfTxs", str(len(group)))
        _sub(info, "CtrlSum", format_fen(sum(x.amount for x in group)))
        _sub(info, "ReqdExctnDt", pay_date.isoformat())
        _path(info, "Dbtr/Nm", dept.debtor_name)
        _path(info, "DbtrAcct/Id/Othr/Id", dept.debtor_account)
        _path(info, "DbtrAgt/FinInstnId/BIC", dept.debtor_agent_bic)
        _sub(info, "ChrgBr", "DEBT")
        for x in group:
            tx = _sub(info, "CdtTrfTxInf")
            _path(tx, "PmtId/EndToEndId", x.payment_id)
            amt = _sub(tx, "Amt")
            _sub(amt, "InstdAmt", format_fen(x.amount), Ccy="CNY")
            _path(tx, "Cdtr/Nm", x.name)
            _path(tx, "CdtrAcct/Id/Othr/Id", x.account)
            _path(tx, "RmtInf/Ustrd",
                  f"{x.period} {config.programs[program].name} {x.kind}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def daifa_csv(lines: Sequence[ExportLine], config: ProgramsConfig, *, encoding: str = "utf-8") -> bytes:
    """The plain CSV 代发 file (layout in this module's docstring)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for seq, x in enumerate(lines, start=1):
        writer.writerow((
            seq, x.payment_id, x.account, x.name, format_fen(x.amount), "CNY", x.program,
            x.period, x.kind, x.payment_date.isoformat(), config.department_of(x.program).debtor_account,
        ))
    return buffer.getvalue().encode(encoding)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
