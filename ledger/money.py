"""Money as integer fen (分). Decimal appears only while parsing or printing.

At every edge an amount is a string of yuan with two decimals, ``"1234.50"``.
"""

from __future__ import annotations

import re
from typing import Any

from ledger.errors import InvalidValue

_AMOUNT = re.compile(r"^(?P<sign>-?)(?P<yuan>[0-9]{1,13})(?:\.(?P<fen>[0-9]{1,2}))?$")


def parse_fen(text: str) -> int:
    """Parse ``"1234.50"``, ``"1234.5"`` or ``"1234"`` (yuan) into integer fen.

    Refuses thousands separators, more than two decimals, exponents, NaN,
    infinities, empty strings and anything that is not a ``str`` (floats
    included: a float has already lost the exact amount).
    """
    if not isinstance(text, str):
        raise InvalidValue(f"amount must be text like '1234.50', got {type(text).__name__}")
    m = _AMOUNT.match(text.strip())
    if m is None:
        raise InvalidValue(
            f"malformed amount {text!r}: expected yuan with at most two decimals, e.g. '1234.50'"
        )
    fen = int(m["yuan"]) * 100 + int((m["fen"] or "0").ljust(2, "0"))
    return -fen if m["sign"] else fen


def format_fen(fen: int) -> str:
    """Format integer fen as yuan with exactly two decimals: ``123450 -> "1234.50"``."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise InvalidValue(f"amount must be integer fen, got {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{rest:02d}"


class Money:
    """An amount of CNY held as integer fen. Immutable; compares and adds as fen."""

    __slots__ = ("fen",)
    fen: int

    def __init__(self, fen: int) -> None:
        if isinstance(fen, bool) or not isinstance(fen, int):
            raise InvalidValue(f"Money takes integer fen, got {type(fen).__name__}")
        object.__setattr__(self, "fen", fen)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Money is immutable")

    @classmethod
    def parse(cls, text: str) -> Money:
        """Parse a yuan string (see :func:`parse_fen`)."""
        return cls(parse_fen(text))

    def __str__(self) -> str:
        return format_fen(self.fen)

    def __repr__(self) -> str:
        return f"Money('{format_fen(self.fen)}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and other.fen == self.fen

    def __hash__(self) -> int:
        return hash(("Money", self.fen))

    def __lt__(self, other: Money) -> bool:
        return self.fen < other.fen

    def __add__(self, other: Money) -> Money:
        return Money(self.fen + other.fen)

    def __sub__(self, other: Money) -> Money:
        return Money(self.fen - other.fen)
