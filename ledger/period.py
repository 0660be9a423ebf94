"""A payout month, ``YYYY-MM``; the clock of timestamps."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from ledger.errors import InvalidValue

_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, order=True)
class Period:
    """One calendar month. Ordered, hashable, printed as ``YYYY-MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 1900 <= self.year <= 9999):
            raise InvalidValue(f"invalid period {self.year:04d}-{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``YYYY-MM``; anything else is refused."""
        m = _PERIOD.match(text.strip()) if isinstance(text, str) else None
        if m is None:
            raise InvalidValue(f"malformed period {text!r}: expected YYYY-MM")
        return cls(int(m[1]), int(m[2]))

    @classmethod
    def of(cls, day: date) -> Period:
        """The month a date falls in."""
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return _month(self.year, self.month)[0]

    @property
    def first_day(self) -> date:
        return _month(self.year, self.month)[1]

    @property
    def last_day(self) -> date:
        return _month(self.year, self.month)[2]

    def day(self, n: int) -> date:
        """Day ``n`` of the month, clamped to the month's last day (e.g. 31 in February)."""
        return date(self.year, self.month, min(n, self.last_day.day))

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def months_until(self, end: Period) -> list[Period]:
        """Every period from this one up to, not including, ``end``."""
        out: list[Period] = []
        p = self
        while p < end:
            out.append(p)
            p = p.next()
        return out


@lru_cache(maxsize=4096)
def _month(year: int, month: int) -> tuple[str, date, date]:
    """A month's text, first and last day: asked for millions of times by a province's
    prepare (each payment's period and due day), so worked out once per month. Kept here,
    not on the instance: a `Period` holds its year and month only (orjson serializes a
    dataclass by its ``__dict__``)."""
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return f"{year:04d}-{month:02d}", date(year, month, 1), following - timedelta(days=1)


def parse_date(text: str) -> date:
    """Parse an ISO ``YYYY-MM-DD`` date, refusing other shapes."""
    if not isinstance(text, str) or not _DATE.fullmatch(text.strip()):
        raise InvalidValue(f"malformed date {text!r}: expected YYYY-MM-DD")
    try:
        return date.fromisoformat(text.strip())
    except ValueError as e:
        raise InvalidValue(f"impossible date {text!r}: {e}") from None


#: A clock of timestamps: timezone-aware UTC (tests move their own).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)
