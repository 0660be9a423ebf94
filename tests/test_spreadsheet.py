"""Spreadsheets: amounts as exact numbers with two decimals, ids as text, no formula ever."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from ledger.spreadsheet import Sheet, write_xlsx


def test_amounts_are_numbers_ids_are_text_and_nothing_is_a_formula(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    rows = [
        {
            "case_id": "000123",
            "id_number": "610102195001010011",
            "name": '=HYPERLINK("http://x",A1)',
            "amount": "1234.50",
            "payments": 3,
        },
        {"case_id": "C2", "id_number": "61010219500101001X", "name": "+SUM(1)", "amount": "0.10"},
    ]
    write_xlsx(
        path,
        [
            Sheet(
                "payouts 2026-12",
                ("case_id", "id_number", "name", "amount", "payments"),
                rows,
                heading=("2026年12月发放表", "发布单位：民政局"),
                totals={"case_id": "合计", "amount": "1234.60"},
            )
        ],
    )
    ws = load_workbook(path)["payouts 2026-12"]
    assert ws["A1"].value == "2026年12月发放表"
    header = [c.value for c in ws[4]]
    assert header == ["case_id", "id_number", "name", "amount", "payments"]
    first = ws[5]
    assert first[0].value == "000123" and first[0].data_type == "s"  # leading zeros kept
    assert first[1].value == "610102195001010011" and first[1].data_type == "s"
    assert first[2].value.startswith("=") and first[2].data_type == "s"  # text, not a formula
    assert Decimal(str(first[3].value)) == Decimal("1234.50")
    assert first[3].number_format == "#,##0.00" and first[3].data_type == "n"
    assert first[4].value == 3
    assert ws[6][2].data_type == "s"
    assert Decimal(str(ws[7][3].value)) == Decimal("1234.60")  # the totals row
    assert not list(tmp_path.glob(".*part")), "written beside, then renamed"
