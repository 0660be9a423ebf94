"""Identifiers: PRC resident id numbers, region codes, staff ids, derived aggregate ids."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from operator import mul
from uuid import UUID, SafeUUID

from ledger.errors import InvalidValue

# GB 11643-1999: weights for the first 17 digits, and the check character for sum mod 11.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ZEROS = ord("0") * sum(_WEIGHTS)
_ID = re.compile(r"^[0-9]{17}[0-9X]$")
_REGION = re.compile(r"^[0-9]{6}([0-9]{6})?$")
_STAFF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

#: Namespace for every derived aggregate id. Never change it: ids in stored events depend on it.
NAMESPACE = UUID("6f1f8a52-3c1e-5b8e-9d2a-a1d1e0000001")


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an id number."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def parse_id_number(text: str) -> str:
    """Validate an 18-character resident id number: digits, birth date, check character.

    A lower-case ``x`` is accepted and normalised to ``X``.
    """
    if not isinstance(text, str):
        raise InvalidValue("id_number must be text")
    value = text.strip().upper()
    if not _ID.match(value):
        raise InvalidValue("id_number must be 17 digits and a check digit or X (18 characters)")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidValue("id_number has an impossible birth date") from None
    if birth.year < 1880:
        raise InvalidValue("id_number has an impossible birth date")
    # The weighted sum of the digits' character codes, less that of seventeen "0"s: a third
    # of `id_check_char`'s time, and every id number of a province's files passes here.
    expected = _CHECK[(sum(map(mul, value[:17].encode(), _WEIGHTS)) - _ZEROS) % 11]
    if value[17] != expected:
        raise InvalidValue(f"id_number check digit is wrong (GB 11643 expects {expected})")
    return value


def birth_date(id_number: str) -> date:
    """The birth date written in a (valid) id number."""
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def parse_region_code(text: str) -> str:
    """A 6-digit (county) or 12-digit (village/community) administrative division code."""
    value = text.strip() if isinstance(text, str) else ""
    if not _REGION.match(value):
        raise InvalidValue("region_code must be 6 or 12 digits")
    return value


def county_of(region_code: str) -> str:
    """The 6-digit county part of a region code."""
    return region_code[:6]


def parse_staff_id(text: str) -> str:
    """A staff id: 1-32 letters, digits, '_', '.', '-', starting with a letter or digit."""
    value = text.strip() if isinstance(text, str) else ""
    if not _STAFF.match(value):
        raise InvalidValue("staff id must be 1-32 letters, digits, '_', '.' or '-'")
    return value


_NAMESPACE_BYTES = NAMESPACE.bytes


#: RFC 4122 variant and version 5 bits of a name-based (SHA-1) UUID, and what they replace.
_V5_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_V5_SET = (0x8000 << 48) | (5 << 76)


def derived_id(kind: str, *key: str) -> UUID:
    """A stable aggregate id from a business key: the same facts always give the same id.

    Exactly ``uuid5(NAMESPACE, "kind/key…")``, computed without uuid5's argument handling and
    UUID's constructor checks (as ``UUID(bytes=..., version=5)`` sets the same bits): bulk work
    derives a million of these per run.
    """
    name = "/".join((kind, *key)).encode()
    digest = hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()
    uid = object.__new__(UUID)
    object.__setattr__(uid, "int", int.from_bytes(digest[:16]) & _V5_CLEAR | _V5_SET)
    object.__setattr__(uid, "is_safe", SafeUUID.unknown)
    return uid


def mask_id_number(id_number: str) -> str:
    """Mask an id number for public notices and logs: ``610102********1234``."""
    return (
        id_number[:6] + "*" * 8 + id_number[-4:] if len(id_number) == 18 else "*" * len(id_number)
    )


def mask_account(account: str | None) -> str:
    """Mask a bank account to its last four digits: ``****1234`` (``none`` when empty)."""
    return f"****{account[-4:]}" if account else "none"


def mask_name(name: str) -> str:
    """Mask a name for public notices: ``张三 -> 张*``, ``张小三 -> 张*三``."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
