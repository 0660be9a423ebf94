"""CSV return files (代发回盘) read through bank profiles: a new bank's layout is a profile.

A profile (TOML in ``reconciliation/profiles/``, named by its file) says how one bank writes
its 回盘: encoding, delimiter, whether there is a header row, where each field is (a header
name or a 0-based position), the date format, whether amounts are yuan or fen, which status
words mean success and failure, and which failure words mean which ISO reason code.

代发 is domestic, so a row is in CNY unless the profile names a ``currency`` column and the row
says otherwise: an ISO code (USD) or a word the profile's ``currency_words`` maps to one
(人民币 and RMB are CNY already). A row in another currency is read as such; the importer
keeps it aside and reconciliation reports it (`reconciliation.bank`). A row without a date
gets no booking day; the importer shows it in the month of its ``today``.
"""

from __future__ import annotations

import codecs
import re
import tomllib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from ledger.errors import InvalidValue
from ledger.money import parse_fen
from reconciliation.entries import PAYMENT_CURRENCY, REASON_CODES, BankEntry, BankFileRefused

PROFILES = Path(__file__).with_name("profiles")

Field = Literal[
    "end_to_end_id", "account", "name", "amount", "status", "reason", "date", "bank_ref", "currency"
]
#: Without these a row says nothing we can reconcile.
REQUIRED: tuple[Field, ...] = ("end_to_end_id", "amount", "status")
#: How many bad lines a refusal lists before it only counts the rest.
MAX_LISTED = 20
_FEN = re.compile(r"[0-9]{1,15}")
_ISO_CURRENCY = re.compile(r"[A-Z]{3}")
#: Currency words every profile knows, besides ISO codes.
CURRENCY_WORDS = {"人民币": PAYMENT_CURRENCY, "RMB": PAYMENT_CURRENCY}


class BankProfile(BaseModel):
    """One bank's 回盘 layout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # the profile file's name, e.g. "icbc"
    bank: str  # for people: 中国工商银行
    encoding: str = "gb18030"
    delimiter: str = "|"
    has_header: bool = True
    #: Field -> header name (when there is a header row) or 0-based position. ``bank_ref``
    #: (the bank's serial number for the row) is optional and becomes the entry's reference.
    columns: dict[Field, str | int]
    date_format: str = "%Y%m%d"
    amount_unit: Literal["yuan", "fen"] = "yuan"
    #: Whole status cell values. Matched exactly, not as substrings: 不成功 contains 成功.
    success_words: tuple[str, ...]
    failure_words: tuple[str, ...]
    #: Words found in a failure's reason text -> ISO reason code, first match wins.
    reason_words: dict[str, str] = {}
    #: Words of the ``currency`` column -> ISO 4217 code, besides `CURRENCY_WORDS`.
    currency_words: dict[str, str] = {}
    #: Lines to ignore that start with one of these (summary lines such as 合计).
    skip_prefixes: tuple[str, ...] = ()

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        codecs.lookup(value)  # LookupError names the unknown encoding
        # A file is cut into lines at line feed bytes, and its first line read as bytes: the
        # encoding must write ASCII as ASCII (UTF-16 and UTF-32 do not).
        if _ASCII_SAMPLE.encode(decoded_as(value)) != _ASCII_SAMPLE.encode("ascii"):
            raise ValueError(
                f"{value} does not write ASCII as ASCII; a 回盘 must be in an encoding that does "
                "(gb18030, gbk, utf-8...)"
            )
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f"delimiter must be one character, not {value!r}")
        return value

    @field_validator("reason_words")
    @classmethod
    def _iso_codes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [code for code in value.values() if not re.fullmatch(r"[A-Z0-9]{4}", code)]
        if bad:
            raise ValueError(f"reason codes must be ISO external codes like AC04, not {bad}")
        return value

    @field_validator("currency_words")
    @classmethod
    def _currency_codes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [code for code in value.values() if not _ISO_CURRENCY.fullmatch(code)]
        if bad:
            raise ValueError(f"currencies must be ISO 4217 codes like CNY, not {bad}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BankProfile:
        missing = [f for f in REQUIRED if f not in self.columns]
        if missing:
            raise ValueError(f"columns must name {', '.join(missing)}")
        named = [f for f, c in self.columns.items() if isinstance(c, str)]
        if named and not self.has_header:
            raise ValueError(f"no header row, so {', '.join(named)} must be positions")
        if not self.success_words or not self.failure_words:
            raise ValueError("success_words and failure_words must both name something")
        both = set(self.success_words) & set(self.failure_words)
        if both:
            raise ValueError(f"words both success and failure: {sorted(both)}")
        return self


_ASCII_SAMPLE = "Az09\r\n|,;\t "


def decoded_as(encoding: str) -> str:
    """The codec a file in ``encoding`` is decoded with: UTF-8 with a signature as plain UTF-8
    (`parse` drops the mark from the first line; the signature's decoder would hide its three
    bytes from the offsets of refusals)."""
    return "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding


def list_profiles() -> list[str]:
    """The names of the shipped bank profiles."""
    return sorted(p.stem for p in PROFILES.glob("*.toml"))


def load_profile(name: str) -> BankProfile:
    """A shipped profile by name (``icbc``), or a profile file by path (``my-bank.toml``)."""
    path = Path(name) if name.endswith(".toml") else PROFILES / f"{name}.toml"
    if not path.is_file():
        raise BankFileRefused(f"no bank profile {name!r} (known: {', '.join(list_profiles())})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return BankProfile.model_validate({"name": path.stem, **raw})
    except (tomllib.TOMLDecodeError, ValidationError, LookupError) as e:
        raise BankFileRefused(f"bank profile {path}: {e}") from None


def detect_profile(source: bytes | Path) -> BankProfile | None:
    """The profile whose header names all appear in the file's first line, if exactly one.

    Profiles without a header row cannot be recognised: name them (``--profile ccb``). When
    several match, the one naming the most columns wins; a tie is None, never a guess. Given a
    path, reads only the first line.
    """
    matches: list[tuple[int, BankProfile]] = []
    first_line = _first_line(source)
    for name in list_profiles():
        profile = load_profile(name)
        if not profile.has_header:
            continue
        try:
            first = first_line.decode(profile.encoding).lstrip("\ufeff").rstrip("\r")
        except UnicodeDecodeError:
            continue
        header = {h.strip() for h in first.split(profile.delimiter)}
        names = [c for c in profile.columns.values() if isinstance(c, str)]
        if names and all(n in header for n in names):
            matches.append((len(names), profile))
    matches.sort(key=lambda m: m[0], reverse=True)
    if not matches or (len(matches) > 1 and matches[0][0] == matches[1][0]):
        return None
    return matches[0][1]


def parse(source: bytes | Path, profile: BankProfile) -> Iterator[BankEntry]:
    """Every row of a 回盘 file (its bytes, or its path) as an entry: success is executed,
    failure is rejected. Streamed: a file is read and decoded a chunk at a time.

    Rows are checked to the end, and if any is bad (a status that is neither a success nor a
    failure word, a malformed amount or date, too few fields) the file is refused with every
    bad line number and reason; entries stop being yielded at the first bad row, so consume
    the whole iterator before storing anything. Text that is not in the profile's encoding
    refuses the file at the first byte that is not (some rows may have been yielded before).
    """
    positions: dict[str, int] = {f: c for f, c in profile.columns.items() if isinstance(c, int)}
    problems: list[str] = []
    seq = 0
    for line_no, raw in enumerate(_lines(source, profile), start=1):
        line = raw.rstrip("\r")
        if line_no == 1:
            line = line.lstrip("\ufeff")
        if line_no == 1 and profile.has_header:
            positions.update(_header_positions(line, profile))
            continue
        if not line.strip():
            continue
        if profile.skip_prefixes and line.lstrip().startswith(profile.skip_prefixes):
            continue
        try:
            entry = _entry(line.split(profile.delimiter), positions, profile, seq + 1, line_no)
        except _RowProblem as e:
            problems.append(f"line {line_no}: {e}")
            continue
        seq += 1
        if not problems:
            yield entry
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise BankFileRefused(
            f"{len(problems)} bad row(s) in a {profile.bank} ({profile.name}) file: {listed}{more}"
        )


#: How much of a file is read and decoded at a time.
CHUNK_BYTES = 2**20


def _chunks(source: bytes | Path) -> Iterator[bytes]:
    if isinstance(source, bytes):
        yield source
        return
    with source.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            yield chunk


def _first_line(source: bytes | Path) -> bytes:
    """A file's bytes up to its first line feed."""
    line = b""
    for chunk in _chunks(source):
        head, feed, _ = chunk.partition(b"\n")
        line += head
        if feed:
            break
    return line


def _lines(source: bytes | Path, profile: BankProfile) -> Iterator[str]:
    """A file's text split on line feeds only (csv quoting does not exist in these files, and
    a stray quote in a name must not swallow the lines after it), decoded as it is read.

    Bytes that are not text in the profile's encoding refuse the file, naming their line and
    their offset in the file."""
    encoding = decoded_as(profile.encoding)
    decoder = codecs.getincrementaldecoder(encoding)()
    read = 0  # bytes handed to the decoder so far
    ended = 0  # lines ended so far
    rest: list[str] = []  # the line being read, in pieces (a file may have no line feed)

    def decode(chunk: bytes, final: bool = False) -> str:
        held = decoder.getstate()[0]  # a character's first bytes, from the last chunk
        try:
            return decoder.decode(chunk, final)
        except UnicodeDecodeError as e:
            # What precedes the bad byte is text: its line feeds say which line it is on.
            before = (held + chunk)[: e.start].decode(encoding, errors="replace")
            raise BankFileRefused(
                f"line {ended + before.count(chr(10)) + 1}: not {profile.encoding} text "
                f"(byte {read - len(held) + e.start}); is this a {profile.bank} file?"
            ) from None

    for chunk in _chunks(source):
        *lines, tail = decode(chunk).split("\n")
        read += len(chunk)
        if lines:
            lines[0] = "".join(rest) + lines[0]
            rest = []
            ended += len(lines)
            yield from lines
        rest.append(tail)
    rest.append(decode(b"", final=True))
    yield "".join(rest)


class _RowProblem(ValueError):
    """One row's problem; the file is refused once all rows are checked."""


def _header_positions(line: str, profile: BankProfile) -> dict[str, int]:
    names = [h.strip() for h in line.split(profile.delimiter)]
    positions: dict[str, int] = {}
    for field, column in profile.columns.items():
        if isinstance(column, str):
            if column not in names:
                raise BankFileRefused(
                    f"line 1: the header has no column {column!r} for {field} "
                    f"(profile {profile.name}; header: {' | '.join(names)})"
                )
            positions[field] = names.index(column)
    return positions


def _entry(
    cells: list[str], positions: dict[str, int], profile: BankProfile, seq: int, line_no: int
) -> BankEntry:
    def cell(field: str) -> str:
        i = positions.get(field)
        if i is None:
            return ""
        if i >= len(cells):
            raise _RowProblem(f"{len(cells)} fields, so no {field} (field {i + 1})")
        return cells[i].strip()

    status = cell("status")
    if status in profile.success_words:
        kind: Literal["executed", "rejected"] = "executed"
    elif status in profile.failure_words:
        kind = "rejected"
    else:
        expected = " / ".join(profile.success_words + profile.failure_words)
        raise _RowProblem(f"unknown status {status!r} (expected one of {expected})")
    amount = _amount(cell("amount"), profile)
    if amount is None and kind == "executed":
        raise _RowProblem("a successful row without an amount")
    when = _date(cell("date"), profile)
    currency = _currency(cell("currency"), profile)
    reason = cell("reason") if kind == "rejected" else ""
    code = next((c for word, c in profile.reason_words.items() if word in reason), None)
    return BankEntry(
        seq=seq,
        kind=kind,
        end_to_end_id=cell("end_to_end_id") or None,
        amount=amount,
        currency=currency,
        booking_date=when,
        creditor_name=cell("name") or None,
        creditor_account=cell("account") or None,
        reason_code=code,
        reason_text=reason or (REASON_CODES.get(code) if code else None),
        # The bank's serial number when the profile names one, else where the row is.
        entry_ref=cell("bank_ref") or f"{profile.name}:{line_no}",
        status=status,
    )


def _amount(raw: str, profile: BankProfile) -> int | None:
    if not raw:
        return None
    if profile.amount_unit == "fen":
        if not _FEN.fullmatch(raw):  # isdigit() would let full-width digits through
            raise _RowProblem(f"malformed amount in fen {raw!r}: expected digits only")
        return int(raw)
    if raw.startswith("-"):
        raise _RowProblem(f"negative amount {raw!r}")
    try:
        return parse_fen(raw)
    except InvalidValue as e:
        raise _RowProblem(str(e)) from None


def _currency(raw: str, profile: BankProfile) -> str:
    """A row's currency: CNY when the file does not say (代发 is domestic)."""
    if not raw:
        return PAYMENT_CURRENCY
    code = profile.currency_words.get(raw) or CURRENCY_WORDS.get(raw)
    if code is None and not _ISO_CURRENCY.fullmatch(raw):
        raise _RowProblem(
            f"unknown currency {raw!r}: an ISO code (CNY, USD...) or a word in the profile's "
            "currency_words"
        )
    return code or raw


def _date(raw: str, profile: BankProfile) -> date | None:
    if not raw:
        return None
    try:
        return datetime.strptime(raw, profile.date_format).date()
    except ValueError:
        raise _RowProblem(f"date {raw!r} does not match {profile.date_format}") from None
