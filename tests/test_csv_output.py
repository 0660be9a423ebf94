"""CSVs written for people open safely in a spreadsheet (OWASP "CSV injection"): a cell that
starts like a formula is written with a single quote in front, quoted; numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from aidledger.cli.common import ReportFormat, print_rows
from disbursement import export
from ledger import outputs
from ledger.outputs import csv_cell

FORMULAS = ["=1+2", "+86 138", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1", '=HYPERLINK("http://x","王")']


def read_back(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("value", FORMULAS)
def test_a_cell_starting_like_a_formula_gets_a_quote_in_front_and_is_quoted(value: str) -> None:
    cell = csv_cell(value)
    assert cell.startswith("\"'")
    assert read_back(cell + "\n") == [["'" + value]]


@pytest.mark.parametrize("value", ["-2.00", "-2", "1180.50", "0", "王秀兰", "610102", ""])
def test_numbers_and_plain_text_are_written_as_they_are(value: str) -> None:
    assert csv_cell(value) == value


def test_a_comma_or_quote_inside_is_quoted_as_csv_needs() -> None:
    assert read_back(csv_cell('王, "小" 兰') + "\n") == [['王, "小" 兰']]
    assert csv_cell(None) == ""


def test_every_cell_of_a_report_in_csv_goes_through_it(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"program": "=cmd|' /C calc'!A0", "region_code": "610102", "amount": "-2.00"},
        {"program": "dibao", "region_code": "@610102", "amount": "1560.00"},
    ]
    print_rows(rows, ReportFormat.csv, title="t", fields=("program", "region_code", "amount"))
    written = capsys.readouterr().out
    assert read_back(written) == [
        ["program", "region_code", "amount"],
        ["'=cmd|' /C calc'!A0", "610102", "-2.00"],
        ["dibao", "'@610102", "1560.00"],
    ]


def test_the_bank_file_refuses_what_reports_neutralise() -> None:
    assert outputs.FORMULA_STARTS == export.FORMULA_STARTS
