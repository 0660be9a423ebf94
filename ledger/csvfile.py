"""Reading input CSV files: encoding detected, header required, line numbers kept."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ledger.errors import Problem

#: Columns whose values are personal data: never echoed in full in an error message.
SENSITIVE_COLUMNS = frozenset({"name", "id_number", "bank_account", "account_name"})


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its first physical line number and its values by column name."""

    line: int
    values: dict[str, str]


def detect_encoding(data: bytes) -> str:
    """UTF-8 with BOM, UTF-8, or else GB18030 (GBK's superset); refuses anything else.

    Checked by an incremental decode, so no decoded copy of a large file is kept.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for i in range(0, len(data), 1 << 20):
                decoder.decode(data[i : i + (1 << 20)])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ValueError("neither UTF-8 nor GB18030/GBK text")


def shown(column: str, value: str) -> str:
    """A value as it may appear in an error message (personal data masked)."""
    if column in SENSITIVE_COLUMNS and value:
        keep = 4 if len(value) > 8 else 1
        return "*" * (len(value) - keep) + value[-keep:]
    return value


def read_rows(data: bytes, required: Sequence[str]) -> tuple[list[CsvRow], list[Problem]]:
    """Parse CSV bytes into rows keyed by the header's column names (see :func:`iter_rows`)."""
    problems: list[Problem] = []
    rows = list(iter_rows(data, required, problems))
    return rows, problems


def iter_rows(data: bytes, required: Sequence[str], problems: list[Problem]) -> Iterator[CsvRow]:
    """Yield the data rows of CSV bytes, appending every problem found to ``problems``.

    Missing or duplicated columns, rows with too many or too few fields and undecodable bytes
    are problems; blank lines are skipped; column names are matched after trimming spaces;
    extra columns are ignored. Decoding is lazy, so a large file is never held as text.
    """
    try:
        encoding = detect_encoding(data)
    except ValueError as e:
        problems.append(Problem(1, "", str(e)))
        return
    start = 3 if encoding == "utf-8-sig" else 0
    text = io.TextIOWrapper(
        io.BytesIO(data[start:] if start else data), encoding=encoding, newline=""
    )
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        problems.append(Problem(1, "", "empty file: a header row is required"))
        return
    except csv.Error as e:
        problems.append(Problem(1, "", f"unreadable CSV: {e}"))
        return
    names = [h.strip() for h in header]
    before = len(problems)
    for name in sorted({n for n in names if names.count(n) > 1 and n}):
        problems.append(Problem(1, name, "column appears more than once in the header"))
    for name in required:
        if name not in names:
            problems.append(Problem(1, name, "missing column"))
    if len(problems) > before:
        return
    index = [(name, names.index(name)) for name in required]
    width = len(names)
    line = reader.line_num + 1
    try:
        for fields in reader:
            first, line = line, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != width:
                problems.append(
                    Problem(first, "", f"has {len(fields)} fields, the header has {width}")
                )
                continue
            yield CsvRow(first, {n: fields[i].strip() for n, i in index})
    except csv.Error as e:
        problems.append(Problem(line, "", f"unreadable CSV: {e}"))
