"""Spreadsheets (.xlsx) of reports, findings, recoveries, runs and the 公示 notice.

Amounts are numbers with two decimals (exact: written from their ``"1234.50"`` text, never
through a float); ids, id numbers, accounts and region codes are text, so a spreadsheet keeps
their leading zeros and all 18 digits. Every text cell is written as text, never as a formula,
whatever it starts with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

Kind = Literal["text", "money", "int"]

#: Columns read as numbers; any other column is text.
MONEY_COLUMNS = frozenset(
    {
        "amount",
        "held_amount",
        "payable_amount",
        "collected",
        "outstanding",
        "instructed_amount",
        "bank_amount",
        "amount_delta",
        "due",
        "instructed",
        "sent",
        "executed",
        "returned",
        "recovery_owed",
        "recovery_collected",
    }
)
INT_COLUMNS = frozenset(
    {"cases", "payments", "held", "payable", "household_size", "seq", "added_cases"}
)


@dataclass
class Sheet:
    """One worksheet: lines above the table (title, issuer, date), the table, a totals row."""

    name: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]
    heading: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # column -> header shown
    totals: Mapping[str, Any] | None = None
    kinds: Mapping[str, Kind] = field(default_factory=dict)  # beyond the defaults above

    def kind(self, column: str) -> Kind:
        if column in self.kinds:
            return self.kinds[column]
        if column in MONEY_COLUMNS:
            return "money"
        return "int" if column in INT_COLUMNS else "text"


def write_xlsx(
    path: Path, sheets: Sequence[Sheet], *, replace: bool = False, protected: Sequence[Path] = ()
) -> None:
    """Write the sheets to ``path``: beside it first, in its place once whole (never over an
    existing file unless ``replace``, never over a ``protected`` one: `ledger.outputs`)."""
    from ledger.outputs import written_beside

    content = xlsx_bytes(sheets)
    with written_beside(path, replace=replace, protected=protected) as f:
        f.write(content)


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """The workbook of ``sheets`` as bytes (a file's content, or a download's)."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        ws = book.create_sheet(_sheet_name(sheet.name))
        row = 1
        for n, line in enumerate(sheet.heading):
            cell = ws.cell(row=row, column=1)
            _text(cell, line)
            cell.font = Font(bold=n == 0, size=14 if n == 0 else 11)
            row += 1
        if sheet.heading:
            row += 1
        for col, name in enumerate(sheet.columns, start=1):
            cell = ws.cell(row=row, column=col)
            _text(cell, sheet.labels.get(name, name))
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center")
        header = row
        for record in sheet.rows:
            row += 1
            _write_row(ws, row, sheet, record)
        if sheet.totals is not None:
            row += 1
            _write_row(ws, row, sheet, sheet.totals)
            for col in range(1, len(sheet.columns) + 1):
                ws.cell(row=row, column=col).font = Font(bold=True)
        ws.freeze_panes = ws.cell(row=header + 1, column=1)
        for col, name in enumerate(sheet.columns, start=1):
            width = max(
                [len(str(sheet.labels.get(name, name)))]
                + [len(str(r.get(name) or "")) for r in sheet.rows[:500]]
            )
            ws.column_dimensions[ws.cell(row=header, column=col).column_letter].width = min(
                60, max(8, width + 2)
            )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _write_row(ws: Any, row: int, sheet: Sheet, record: Mapping[str, Any]) -> None:
    for col, name in enumerate(sheet.columns, start=1):
        value = record.get(name)
        cell = ws.cell(row=row, column=col)
        if value is None or value == "":
            continue
        kind = sheet.kind(name)
        if kind == "money":
            cell.value = Decimal(str(value))
            cell.number_format = "#,##0.00"
        elif kind == "int" and not isinstance(value, bool):
            cell.value = int(value)
            cell.number_format = "0"
        else:
            _text(cell, str(value))


def _text(cell: Any, value: str) -> None:
    """A text cell, never read as a formula (openpyxl would take ``=...`` for one)."""
    cell.value = value
    cell.data_type = "s"
    cell.number_format = "@"


def _sheet_name(name: str) -> str:
    """A worksheet name as Excel allows it (31 characters, none of ``[]:*?/\\``)."""
    for bad in "[]:*?/\\":
        name = name.replace(bad, " ")
    return name[:31] or "sheet"
