"""Bank files for an approved run: ISO 20022 pain.001.001.03, and a plain CSV 代发 file.

pain.001: one ``PmtInf`` per program and payment date, the debtor account of the program's
department, amounts in CNY with two decimals, ``EndToEndId`` = the payment id. Held payments
are never exported. Re-exporting the same run gives the same file apart from ``CreDtTm``.

CSV 代发 layout (header row, then one row per payment, ordered as in the pain.001):
``seq,payment_id,account,name,amount,currency,program,period,kind,payment_date,debtor_account``
- ``seq`` 1-based; ``payment_id`` the EndToEndId; ``amount`` yuan with two decimals;
  ``payment_date`` YYYY-MM-DD; UTF-8 by default, GB18030 with ``--encoding gb18030``.
- No cell starts with ``=``, ``+``, ``-``, ``@``, tab or CR (a spreadsheet formula): such a
  value is refused, not quoted (``ExportRefused``), and nothing is written.

Either file is written beside its target and put in its place once complete and checked
(`written_beside`): never over an existing file unless asked, never over the store itself,
never a partial file left behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from ledger.money import format_fen
from ledger.outputs import OutputRefused
from ledger.programs import ProgramsConfig
from ledger.sealing import CLEAR, Sealer
from ledger.store import Database, as_date

#: China Standard Time, the bank's clock: CreDtTm is written in it, with its offset.
BEIJING = timezone(timedelta(hours=8), "CST")

PAIN001_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
PAIN001_XSD = Path(__file__).with_name("xsd") / "pain.001.001.03.xsd"
CSV_COLUMNS = (
    "seq",
    "payment_id",
    "account",
    "name",
    "amount",
    "currency",
    "program",
    "period",
    "kind",
    "payment_date",
    "debtor_account",
)


class ExportRefused(OutputRefused):
    """A bank file was not written: its target, or a value it would carry (nothing written)."""


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


@dataclass(frozen=True)
class ExportGroup:
    """One PmtInf: a program and payment date, with its count and control sum."""

    program: str
    payment_date: date
    count: int
    amount: int


#: The payments a bank file of a run holds: not held, not cancelled, in the approval batches
#: it writes (1: the run's approval; later ones: payments released after it).
_EXPORTABLE = "run_id = ? AND held = '' AND cancelled = 0 AND batch BETWEEN ? AND ?"
_LINE_SQL = (
    "SELECT payment_id, program, department, period, kind, amount, payment_date, "
    f"creditor_account, creditor_name FROM payments WHERE {_EXPORTABLE} "
)


def _line(r: Sequence[Any], sealer: Sealer = CLEAR) -> ExportLine:
    account, name = (sealer.open(r[7]), sealer.open(r[8])) if sealer.on else (r[7], r[8])
    return ExportLine(r[0], r[1], r[2], r[3], r[4], int(r[5]), as_date(r[6]), account, name)  # type: ignore[arg-type]


def run_groups(db: Database, run_id: str, batches: tuple[int, int] = (1, 1)) -> list[ExportGroup]:
    """The exportable payments of a run, grouped as PmtInf blocks, in file order."""
    rows = db.query(
        "SELECT program, payment_date, COUNT(*), SUM(amount) FROM payments "
        f"WHERE {_EXPORTABLE} GROUP BY program, payment_date ORDER BY program, payment_date",
        (run_id, *batches),
    )
    return [ExportGroup(p, as_date(d), int(n), int(a)) for p, d, n, a in rows]  # type: ignore[arg-type]


def group_lines(
    db: Database, run_id: str, group: ExportGroup, batches: tuple[int, int] = (1, 1)
) -> Iterator[ExportLine]:
    """The payments of one block ordered by payment id, streamed from one query."""
    rows = db.stream(
        _LINE_SQL + "AND program = ? AND payment_date = ? ORDER BY payment_id",
        (run_id, *batches, group.program, group.payment_date),
    )
    return (_line(r, db.sealer) for r in rows)


def run_lines(db: Database, run_id: str, batches: tuple[int, int] = (1, 1)) -> list[ExportLine]:
    """The exportable (not held) payments of a run, in file order (small runs, tests)."""
    return [x for g in run_groups(db, run_id, batches) for x in group_lines(db, run_id, g, batches)]


class _Hashing:
    """A binary file wrapper that hashes what is written through it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.f.write(data)


def _el(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.Element(f"{{{PAIN001_NS}}}{tag}", attrs, nsmap={None: PAIN001_NS})
    if text is not None:
        el.text = text
    return el


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{PAIN001_NS}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _path(parent: etree._Element, tags: str, text: str) -> etree._Element:
    *inner, last = tags.split("/")
    for tag in inner:
        parent = _sub(parent, tag)
    return _sub(parent, last, text)


def write_pain001(
    out: BinaryIO,
    run_id: str,
    groups: Sequence[ExportGroup],
    lines: Callable[[ExportGroup], Iterable[ExportLine]],
    config: ProgramsConfig,
    *,
    created: datetime,
    initiator: str = "aidledger",
) -> str:
    """Stream the pain.001.001.03 document of a run to ``out``; returns its SHA-256.

    Memory stays flat however many payments: totals come from ``groups``, transactions are
    written one at a time.
    """
    sink = _Hashing(out)
    with etree.xmlfile(sink, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{PAIN001_NS}}}Document", nsmap={None: PAIN001_NS}):
            xf.write("\n")
            with xf.element(f"{{{PAIN001_NS}}}CstmrCdtTrfInitn"):
                xf.write("\n")
                hdr = _el("GrpHdr")
                _sub(hdr, "MsgId", run_id)
                # With its offset: a bank reading a bare time takes it for Beijing time.
                _sub(hdr, "CreDtTm", created.astimezone(BEIJING).isoformat(timespec="seconds"))
                _sub(hdr, "NbOfTxs", str(sum(g.count for g in groups)))
                _sub(hdr, "CtrlSum", format_fen(sum(g.amount for g in groups)))
                _path(hdr, "InitgPty/Nm", initiator)
                xf.write(hdr, pretty_print=True)
                for n, group in enumerate(groups, start=1):
                    _write_block(xf, sink, run_id, n, group, lines(group), config)
                xf.write("\n")
    return sink.digest.hexdigest()


#: Characters an XML document cannot hold (lxml refuses them in a text).
_NOT_XML_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_NOT_XML = re.compile(f"[{_NOT_XML_CHARS}]")
#: What a text needs escaped, or refused: the escaping lxml writes for text.
_SPECIAL = re.compile(f"[&<>\r{_NOT_XML_CHARS}]")


class _TransactionText:
    """One ``CdtTrfTxInf`` as text, exactly as lxml writes the element (pretty-printed, its
    namespace declared), with its five texts put in: lxml writes the skeleton once, with
    markers where the texts go; a payment is then the pieces joined with its texts
    escaped as lxml escapes text (``&``, ``<``, ``>``, CR), a few times faster than copying and
    writing an element per payment. A text XML cannot hold is refused (`ExportRefused`), as
    lxml refuses it."""

    def __init__(self) -> None:
        template = _el("CdtTrfTxInf")
        _path(template, "PmtId/EndToEndId", "@@0@@")
        _sub(_sub(template, "Amt"), "InstdAmt", "@@1@@", Ccy="CNY")
        _path(template, "Cdtr/Nm", "@@2@@")
        _path(template, "CdtrAcct/Id/Othr/Id", "@@3@@")
        _path(template, "RmtInf/Ustrd", "@@4@@")
        text = etree.tostring(template, encoding="unicode", pretty_print=True)
        self.pieces = re.split(r"@@[0-4]@@", text)
        if re.findall(r"@@([0-4])@@", text) != list("01234"):  # lxml wrote another shape
            raise RuntimeError(f"a pain.001 transaction's skeleton is not as expected: {text}")

    def of(self, *texts: str) -> str:
        """The transaction of these texts (the payment id first)."""
        p = self.pieces
        try:
            a, b, c, d, e = (_escaped(t) if _SPECIAL.search(t) else t for t in texts)
        except _NotXml as refused:
            raise ExportRefused(
                f"payment {texts[0]}: its text holds the character {refused.args[0]!r}, which "
                "an XML bank file cannot carry: nothing was written (correct the case's name "
                "or account, or export --format csv)"
            ) from None
        return f"{p[0]}{a}{p[1]}{b}{p[2]}{c}{p[3]}{d}{p[4]}{e}{p[5]}"


class _NotXml(ValueError):
    """A character an XML document cannot hold."""


def _escaped(text: str) -> str:
    """``text`` as lxml writes it in an element (raises _NotXml where lxml refuses it)."""
    found = _NOT_XML.search(text)
    if found is not None:
        raise _NotXml(found.group())
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _write_block(
    xf: Any,
    sink: _Hashing,
    run_id: str,
    n: int,
    group: ExportGroup,
    lines: Iterable[ExportLine],
    config: ProgramsConfig,
) -> None:
    dept = config.department_of(group.program)
    with xf.element(f"{{{PAIN001_NS}}}PmtInf"):
        head = _el("Head")
        _sub(head, "PmtInfId", f"{run_id}-{n:03d}")
        _sub(head, "PmtMtd", "TRF")
        _sub(head, "BtchBookg", "true")
        _sub(head, "NbOfTxs", str(group.count))
        _sub(head, "CtrlSum", format_fen(group.amount))
        _sub(head, "ReqdExctnDt", group.payment_date.isoformat())
        _path(head, "Dbtr/Nm", dept.debtor_name)
        _path(head, "DbtrAcct/Id/Othr/Id", dept.debtor_account)
        _path(head, "DbtrAgt/FinInstnId/BIC", dept.debtor_agent_bic)
        _sub(head, "ChrgBr", "DEBT")
        xf.write("\n")
        for child in head:
            xf.write(child, pretty_print=True)
        label = config.programs[group.program].name
        texts = _TransactionText()
        xf.flush()  # what lxml holds goes out before the transactions written beside it
        written: list[str] = []
        for x in lines:
            written.append(
                texts.of(
                    x.payment_id,
                    format_fen(x.amount),
                    x.name,
                    x.account,
                    f"{x.period} {label} {x.kind}",
                )
            )
            if len(written) == 1000:
                sink.write("".join(written).encode("utf-8"))
                written.clear()
        sink.write("".join(written).encode("utf-8"))
    xf.write("\n")


#: What a spreadsheet takes for the start of a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _refuse_formula_cells(payment_id: str, row: Sequence[str]) -> None:
    """A bank file is read by a bank's system, not a spreadsheet, so a formula-like cell is not
    quoted away (the bank would pay "'=..." as the name): it is refused. Input files refuse
    such names and ids; this is the last line, for a value that came in before they did."""
    for column, value in zip(CSV_COLUMNS, row, strict=True):
        if value.startswith(FORMULA_STARTS):
            raise ExportRefused(
                f"payment {payment_id}: its {column} starts with {value[0]!r}, which a "
                "spreadsheet takes for a formula: a bank CSV never carries such a cell, so "
                "nothing was written (correct the case's value, or export --format pain001)"
            )


def write_daifa_csv(
    out: BinaryIO, lines: Iterable[ExportLine], config: ProgramsConfig, *, encoding: str = "utf-8"
) -> str:
    """Stream the plain CSV 代发 file (layout in this module's docstring); returns its SHA-256.

    Raises ExportRefused, before writing it, for a cell a spreadsheet would take for a
    formula (`FORMULA_STARTS`): never written, and never quoted away either."""
    sink = _Hashing(out)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for seq, x in enumerate(lines, start=1):
        row = (
            str(seq),
            x.payment_id,
            x.account,
            x.name,
            format_fen(x.amount),
            "CNY",
            x.program,
            x.period,
            x.kind,
            x.payment_date.isoformat(),
            config.department_of(x.program).debtor_account,
        )
        _refuse_formula_cells(x.payment_id, row)
        writer.writerow(row)
        if seq % 5000 == 0:  # encode in slices: flat memory for a million rows
            sink.write(buffer.getvalue().encode(encoding))
            buffer.seek(0)
            buffer.truncate()
    sink.write(buffer.getvalue().encode(encoding))
    return sink.digest.hexdigest()
