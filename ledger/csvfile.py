"""Reading input CSV files: encoding detected, header required, line numbers kept."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import Problem

#: Columns whose values are personal data: never echoed in full in an error message.
SENSITIVE_COLUMNS = frozenset({"name", "id_number", "bank_account", "account_name"})


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its first physical line number and its values by column name."""

    line: int
    values: dict[str, str]


def decode(data: bytes) -> tuple[str, str]:
    """Decode a file as UTF-8 (with or without BOM) or, failing that, GB18030 (GBK's superset).

    Returns the text and the encoding used.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as e:
        raise ValueError(f"neither UTF-8 nor GB18030/GBK text (byte {e.start})") from None


def shown(column: str, value: str) -> str:
    """A value as it may appear in an error message (personal data masked)."""
    if column in SENSITIVE_COLUMNS and value:
        keep = 4 if len(value) > 8 else 1
        return "*" * (len(value) - keep) + value[-keep:]
    return value


def read_rows(data: bytes, required: Sequence[str]) -> tuple[list[CsvRow], list[Problem]]:
    """Parse CSV bytes into rows keyed by the header's column names.

    Every problem is returned (missing or duplicated columns, rows with too many or too few
    fields, undecodable bytes); blank lines are skipped. Column names are matched after
    trimming spaces; extra columns are ignored.
    """
    try:
        text, _ = decode(data)
    except ValueError as e:
        return [], [Problem(1, "", str(e))]
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    try:
        header = next(reader)
    except StopIteration:
        return [], [Problem(1, "", "empty file: a header row is required")]
    except csv.Error as e:
        return [], [Problem(1, "", f"unreadable CSV: {e}")]
    names = [h.strip() for h in header]
    for name in sorted({n for n in names if names.count(n) > 1 and n}):
        problems.append(Problem(1, name, "column appears more than once in the header"))
    for name in required:
        if name not in names:
            problems.append(Problem(1, name, "missing column"))
    if problems:
        return [], problems
    index = {name: names.index(name) for name in required}
    rows: list[CsvRow] = []
    line = reader.line_num + 1
    try:
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(names):
                problems.append(
                    Problem(start, "", f"has {len(fields)} fields, the header has {len(names)}")
                )
                continue
            rows.append(CsvRow(start, {n: fields[i].strip() for n, i in index.items()}))
    except csv.Error as e:
        problems.append(Problem(line, "", f"unreadable CSV: {e}"))
    return rows, problems
