"""Reading input CSV files: encoding detected, header required, line numbers kept.

A file is read as a stream, never held whole: an import checks every row in a first reading
and writes in a second (`InputFile`), so its memory does not grow with the file. Lines
longer than `MAX_LINE` characters and fields longer than the csv module's limit are problems,
not a reason to hold a gigabyte line.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import BinaryIO, NamedTuple, TextIO

from ledger.errors import InputChanged, InputTooLarge, Problem, ProblemSink

#: Columns whose values are personal data: never echoed in full in an error message.
SENSITIVE_COLUMNS = frozenset(
    {"name", "id_number", "bank_account", "account_name", "member_name", "member_id_number"}
)

#: Columns whose values people see, in a spreadsheet too (names, account names, ids, free
#: text): a value starting as a formula would is refused (`formula_lead`).
SHOWN_COLUMNS = frozenset(
    {
        "case_id",
        "application_id",  # steps files: the id, the outcome and the detail people read
        "outcome",
        "detail",
        "name",
        "id_number",
        "bank_account",
        "account_name",
        "decided_by",
        "approved_by",
        "staff_id",
        "source",
        "relation",
        "grant_id",
        "reason",
        "member_id_number",  # households files
        "member_name",
        "source_ref",  # comparison files
        "department",
        "benefit",
    }
)

#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
FORMULA_STARTS = frozenset("=+-@")
#: Characters a spreadsheet may skip before looking for a formula: refused as a first
#: character too, even though the value is trimmed when read.
FORMULA_BLANKS = frozenset("\t\r")

#: Longest line read, in characters; a data row of the files we read is a few hundred.
MAX_LINE = 1 << 20
#: Bytes read (and checked) at a time.
BLOCK = 1 << 20

_NO_FORMULAS: Mapping[str, str] = MappingProxyType({})


class CsvRow(NamedTuple):
    """One data row: its first physical line number and its values by column name (trimmed).

    ``formulas``: the shown columns (`SHOWN_COLUMNS`) whose cell starts as a formula would,
    with that first character (`formula_lead`); validation refuses them.

    A named tuple, not a frozen dataclass: as immutable, and built in a third of the time
    (a frozen dataclass sets each field through ``object.__setattr__``; a province's files
    are millions of rows)."""

    line: int
    values: dict[str, str]
    formulas: Mapping[str, str] = _NO_FORMULAS


def formula_lead(cell: str) -> str | None:
    """The character that would make a spreadsheet take ``cell`` for a formula, if any: ``=``,
    ``+``, ``-`` or ``@`` first once blanks are trimmed, or a tab or carriage return first
    once spaces are."""
    first = cell.lstrip(" ")[:1]
    if first and first in FORMULA_BLANKS:
        return first
    first = cell.strip()[:1]
    return first if first and first in FORMULA_STARTS else None


def detect_encoding(data: bytes) -> str:
    """UTF-8 with BOM, UTF-8, or else GB18030 (GBK's superset); refuses anything else.

    Checked by an incremental decode, so no decoded copy of a large file is kept.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        if _decodes((data[i : i + BLOCK] for i in range(0, len(data), BLOCK)), encoding):
            return encoding
    raise ValueError("neither UTF-8 nor GB18030/GBK text")


def _decodes(
    blocks: Iterator[bytes], encoding: str, decoder: codecs.IncrementalDecoder | None = None
) -> bool:
    """Whether the blocks (after what ``decoder`` has decoded already) are text in
    ``encoding``; decoded a block at a time, nothing kept."""
    decoder = decoder or codecs.getincrementaldecoder(encoding)()
    try:
        for block in blocks:
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def shown(column: str, value: str) -> str:
    """A value as it may appear in an error message (personal data masked)."""
    if column in SENSITIVE_COLUMNS and value:
        keep = 4 if len(value) > 8 else 1
        return "*" * (len(value) - keep) + value[-keep:]
    return value


class InputFile:
    """An input file, read as often as an import needs, each time the same bytes.

    Opened once; refused at once if larger than ``max_bytes``. The first reading hashes it
    (its SHA-256 is the file's identity), keeps a digest of each block and finds its
    encoding. Each later reading (`text`) checks every block against that digest before
    handing any of it on, so an import writes the rows it checked even if someone rewrites
    the file meanwhile (it raises `InputChanged` instead).
    """

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self._file: BinaryIO = path.open("rb")
        self._digests: list[bytes] = []
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            if self.size > max_bytes:
                raise InputTooLarge(str(path), self.size, max_bytes)
            self.sha256, self.encoding = self._first_reading()
        except BaseException:
            self._file.close()
            raise

    def _first_reading(self) -> tuple[str, str | None]:
        """The file's SHA-256 and encoding (None: neither UTF-8 nor GB18030), keeping the
        digest of each block."""
        whole = hashlib.sha256()
        utf8: codecs.IncrementalDecoder | None = None  # while the file decodes as UTF-8
        bom = False
        for block in iter(lambda: self._file.read(BLOCK), b""):
            whole.update(block)
            if not self._digests:
                bom = block.startswith(codecs.BOM_UTF8)
                utf8 = codecs.getincrementaldecoder("utf-8")()
            self._digests.append(hashlib.sha256(block).digest())
            if utf8 is not None:
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    utf8 = None
        sha256 = whole.hexdigest()
        if not self._digests:
            return sha256, "utf-8"  # empty: read as text, it is refused for having no header
        if utf8 is not None and _decodes(iter(()), "utf-8", utf8):
            return sha256, "utf-8-sig" if bom else "utf-8"
        if bom:
            return sha256, None
        # Not UTF-8: GBK then (a second reading, only for such files).
        return sha256, "gb18030" if _decodes(self._blocks(), "gb18030") else None

    def _blocks(self, first: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The file's blocks from the ``first`` (to the end, or before ``stop``), each checked
        against the first reading."""
        fd = self._file.fileno()
        for n in range(first, len(self._digests) if stop is None else stop):
            block = os.pread(fd, BLOCK, n * BLOCK)
            if hashlib.sha256(block).digest() != self._digests[n]:
                raise InputChanged(
                    f"{self.path}: changed while it was being imported (bytes {n * BLOCK:,} "
                    f"on differ from what was checked): nothing more of it was recorded"
                )
            yield block
        if stop is None and os.pread(fd, 1, len(self._digests) * BLOCK):
            raise InputChanged(f"{self.path}: grew while it was being imported")

    def bytes_of(self, start: int, end: int) -> Iterator[bytes]:
        """The file's bytes from ``start`` to before ``end``, checked block by block."""
        first = start // BLOCK
        blocks = self._blocks(first, min(-(-end // BLOCK), len(self._digests)))
        for n, block in enumerate(blocks, start=first):
            yield block[max(start - n * BLOCK, 0) : end - n * BLOCK]

    def text(self, *pieces: tuple[int, int]) -> TextIO:
        """A new reading of the file as text, from its start (checked block by block); with
        ``pieces`` (start and end offsets), of those bytes one after another."""
        blocks = (
            (b for start, end in pieces for b in self.bytes_of(start, end))
            if pieces
            else self._blocks()
        )
        raw = io.BufferedReader(_BlockReader(blocks), BLOCK)
        return io.TextIOWrapper(raw, encoding=self.encoding or "utf-8", newline="")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> InputFile:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()


class _BlockReader(io.RawIOBase):
    """A raw stream over checked blocks (for `io.BufferedReader`)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._block = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._block:
            self._block = memoryview(next(self._blocks, b""))
        n = min(len(buffer), len(self._block))
        buffer[:n] = self._block[:n]
        self._block = self._block[n:]
        return n


def read_rows(data: bytes, required: Sequence[str]) -> tuple[list[CsvRow], list[Problem]]:
    """Parse CSV bytes into rows keyed by the header's column names (see :func:`iter_rows`)."""
    problems: list[Problem] = []
    rows = list(iter_rows(data, required, problems))
    return rows, problems


def iter_rows(
    source: bytes | InputFile,
    required: Sequence[str],
    problems: ProblemSink,
    *pieces: tuple[int, int],
) -> Iterator[CsvRow]:
    """Yield the data rows of a CSV file (or its bytes), appending every problem found to
    ``problems``; of a file, with ``pieces``, the rows of those bytes (`InputFile.text`: the
    header's then a part's, see `ledger.csvparts`).

    Missing or duplicated columns, rows with too many or too few fields, overlong lines and
    fields, and undecodable bytes are problems; blank lines are skipped; column names are
    matched after trimming spaces; extra columns are ignored. A shown column's cell that
    starts as a formula is marked in the row's ``formulas`` (validation refuses it).
    """
    if isinstance(source, bytes):
        try:
            encoding = detect_encoding(source)
        except ValueError as e:
            problems.append(Problem(1, "", str(e)))
            return
        text: TextIO = io.TextIOWrapper(io.BytesIO(source), encoding=encoding, newline="")
    elif source.encoding is None:
        problems.append(Problem(1, "", "neither UTF-8 nor GB18030/GBK text"))
        return
    else:
        text = source.text(*pieces)
    yield from _rows(text, required, problems, formulas=True)


def reread_rows(source: InputFile, required: Sequence[str]) -> Iterator[CsvRow]:
    """The rows of a file that `iter_rows` read before and found good, read again to be
    written (see `reread_values`)."""
    for line, values in reread_values(source, required):
        yield CsvRow(line, dict(zip(required, values, strict=True)))


def reread_values(
    source: InputFile, required: Sequence[str], *pieces: tuple[int, int]
) -> Iterator[tuple[int, list[str]]]:
    """Each data line of a file that `iter_rows` read before and found good, and its values
    (trimmed) in the order of ``required``: the same bytes (`InputFile`), so nothing is
    checked again. The lean loop of an import's writing reading, where a few microseconds a
    row are a province's seconds. With ``pieces``, of those bytes (as `iter_rows`)."""
    reader = csv.reader(source.text(*pieces))
    header = [h.strip() for h in next(reader)]
    order = [header.index(name) for name in required]
    as_read = order == list(range(len(header)))  # the usual file: columns in our order
    width = len(header)
    line = reader.line_num + 1
    for fields in reader:
        first, line = line, reader.line_num + 1
        if len(fields) != width:
            continue  # a blank line: the first reading refused any other
        values = list(map(str.strip, fields))
        if any(values):
            yield first, values if as_read else [values[i] for i in order]


class SecondReading:
    """Where the problems of a second reading of good rows go: nowhere, for there can be none
    (the same bytes, read by the same code); one would mean rows silently left out, so it
    raises instead."""

    def __init__(self, source: InputFile) -> None:
        self.source = source

    def append(self, problem: Problem, /) -> None:
        raise InputChanged(f"{self.source.path}: read differently the second time: {problem}")


class _LineTooLong(Exception):
    pass


def _lines(text: TextIO) -> Iterator[str]:
    """The text's lines, refusing one longer than `MAX_LINE` (never read whole)."""
    while line := text.readline(MAX_LINE):
        if len(line) == MAX_LINE and line[-1] not in "\r\n":
            raise _LineTooLong
        yield line


def _rows(
    text: TextIO, required: Sequence[str], problems: ProblemSink, *, formulas: bool
) -> Iterator[CsvRow]:
    reader = csv.reader(_lines(text))
    try:
        try:
            header = next(reader)
        except StopIteration:
            problems.append(Problem(1, "", "empty file: a header row is required"))
            return
        except csv.Error as e:
            problems.append(Problem(1, "", f"unreadable CSV: {e}"))
            return
        names = [h.strip() for h in header]
        missing = False
        for name in sorted({n for n in names if names.count(n) > 1 and n}):
            problems.append(Problem(1, name, "column appears more than once in the header"))
            missing = True
        for name in required:
            if name not in names:
                problems.append(Problem(1, name, "missing column"))
                missing = True
        if missing:
            return
        index = [(name, names.index(name)) for name in required]
        shown_index = [(n, i) for n, i in index if n in SHOWN_COLUMNS] if formulas else []
        width = len(names)
        line = reader.line_num + 1
        try:
            for fields in reader:
                first, line = line, reader.line_num + 1
                if len(fields) != width:
                    if any(f.strip() for f in fields):
                        problems.append(
                            Problem(first, "", f"has {len(fields)} fields, the header has {width}")
                        )
                    continue
                values = {n: fields[i].strip() for n, i in index}
                if not any(values.values()) and not any(f.strip() for f in fields):
                    continue
                leads = _NO_FORMULAS
                for n, i in shown_index:
                    value = values[n]
                    # A cell is suspect if it starts as a formula once trimmed, or if trimming
                    # took something off (a leading tab or CR); the rest, the common case,
                    # cost two comparisons.
                    if (value and value[0] in FORMULA_STARTS) or len(value) != len(fields[i]):
                        lead = formula_lead(fields[i])
                        if lead is not None:
                            leads = {**leads, n: lead}
                yield CsvRow(first, values, leads)
        except csv.Error as e:
            problems.append(Problem(line, "", f"unreadable CSV: {e}"))
    except _LineTooLong:
        problems.append(
            Problem(
                reader.line_num + 1,
                "",
                f"line longer than {MAX_LINE:,} characters: not a row of this file "
                "(the rest of the file was not read)",
            )
        )
    except UnicodeDecodeError as e:  # a UTF-8 file with a BOM and bad bytes after it
        problems.append(Problem(reader.line_num + 1, "", f"undecodable text: {e.reason}"))
