"""CSV return files (回盘) through bank profiles: a new bank's layout is a profile, not code.

A profile (TOML in ``reconciliation/profiles/``) names the encoding, delimiter, whether there
is a header, where each field is (header name or 0-based position), the date format, the
amount unit, the status words for success and failure, and the failure words mapped to ISO
reason codes.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ledger.errors import InvalidValue
from ledger.money import parse_fen
from reconciliation.entries import REASON_CODES, BankEntry, BankFileRefused

PROFILES = Path(__file__).with_name("profiles")
FIELDS = ("end_to_end_id", "account", "name", "amount", "status", "reason", "date")


class BankProfile(BaseModel):
    """One bank's 回盘 layout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    bank: str
    encoding: str = "gb18030"
    delimiter: str = "|"
    has_header: bool = True
    columns: dict[str, str | int]
    date_format: str = "%Y%m%d"
    amount_unit: Literal["yuan", "fen"] = "yuan"
    success_words: tuple[str, ...] = ("成功",)
    failure_words: tuple[str, ...] = ("失败",)
    reason_codes: dict[str, str] = {}


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES.glob("*.toml"))


def load_profile(name: str) -> BankProfile:
    """A shipped profile by name (or a path to a profile file)."""
    path = Path(name) if name.endswith(".toml") else PROFILES / f"{name}.toml"
    if not path.is_file():
        raise BankFileRefused(f"no bank profile {name!r} (known: {', '.join(list_profiles())})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return BankProfile.model_validate({"name": path.stem, **raw})
    except (tomllib.TOMLDecodeError, ValidationError) as e:
        raise BankFileRefused(f"bank profile {path}: {e}") from None


def detect_profile(data: bytes) -> BankProfile | None:
    """The profile whose header columns all appear in the file's first line, if any."""
    for name in list_profiles():
        profile = load_profile(name)
        if not profile.has_header:
            continue
        try:
            first = data.split(b"\n", 1)[0].decode(profile.encoding).strip()
        except UnicodeDecodeError:
            continue
        header = {h.strip() for h in first.lstrip("\ufeff").split(profile.delimiter)}
        if all(isinstance(c, str) and c in header for c in profile.columns.values()):
            return profile
    return None


def parse(data: bytes, profile: BankProfile) -> Iterator[BankEntry]:
    """Every row of a 回盘 file as an entry; a row that cannot be read refuses the file."""
    try:
        text = data.decode(profile.encoding).lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise BankFileRefused(f"not {profile.encoding} text (byte {e.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=profile.delimiter)
    index: dict[str, int] = {}
    seq = 0
    for line, row in enumerate(reader, start=1):
        if line == 1 and profile.has_header:
            names = [h.strip() for h in row]
            for field, column in profile.columns.items():
                if isinstance(column, str):
                    if column not in names:
                        raise BankFileRefused(f"line 1: header has no column {column!r}")
                    index[field] = names.index(column)
            continue
        if not any(cell.strip() for cell in row):
            continue
        for field, column in profile.columns.items():
            if isinstance(column, int):
                index[field] = column
        seq += 1
        yield _entry(row, index, profile, line, seq)


def _entry(
    row: list[str], index: dict[str, int], profile: BankProfile, line: int, seq: int
) -> BankEntry:
    def get(field: str) -> str:
        i = index.get(field)
        if i is None:
            return ""
        if i >= len(row):
            raise BankFileRefused(f"line {line}: has {len(row)} fields, no {field} (field {i})")
        return row[i].strip()

    status = get("status")
    if any(w == status or w in status for w in profile.success_words):
        kind: Literal["executed", "rejected"] = "executed"
    elif any(w == status or w in status for w in profile.failure_words):
        kind = "rejected"
    else:
        raise BankFileRefused(f"line {line}: unknown status {status!r} for profile {profile.name}")
    raw_amount = get("amount")
    try:
        if profile.amount_unit == "fen":
            if not raw_amount.isdigit():
                raise InvalidValue(f"malformed amount in fen {raw_amount!r}")
            amount: int | None = int(raw_amount)
        else:
            amount = parse_fen(raw_amount) if raw_amount else None
    except InvalidValue as e:
        raise BankFileRefused(f"line {line}: {e}") from None
    raw_date = get("date")
    try:
        when: date | None = (
            datetime.strptime(raw_date, profile.date_format).date() if raw_date else None
        )
    except ValueError:
        raise BankFileRefused(
            f"line {line}: date {raw_date!r} is not {profile.date_format}"
        ) from None
    reason = get("reason") or None
    code = None
    if kind == "rejected" and reason:
        code = next((c for word, c in profile.reason_codes.items() if word in reason), None)
    return BankEntry(
        seq=seq,
        kind=kind,
        end_to_end_id=get("end_to_end_id") or None,
        amount=amount,
        currency="CNY",
        booking_date=when,
        creditor_name=get("name") or None,
        creditor_account=get("account") or None,
        reason_code=code,
        reason_text=reason or (REASON_CODES.get(code) if code else None),
        entry_ref=f"{profile.name}:{line}",
        status=status,
    )
