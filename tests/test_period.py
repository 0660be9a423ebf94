"""Payout months (``YYYY-MM``) and ISO dates."""

from __future__ import annotations

import calendar
from datetime import date
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidValue
from ledger.period import Period, parse_date


def test_period_parse_reads_year_and_month() -> None:
    period = Period.parse("2026-01")
    assert (period.year, period.month) == (2026, 1)
    assert str(period) == "2026-01"


@pytest.mark.parametrize(
    "text",
    ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", "202601", "2026-01-01", "", "2026-1x"],
)
def test_period_parse_refuses_other_shapes_and_impossible_months(text: str) -> None:
    with pytest.raises(InvalidValue):
        Period.parse(text)


@pytest.mark.parametrize("value", [None, 202601, date(2026, 1, 1)])
def test_period_parse_refuses_non_text(value: object) -> None:
    with pytest.raises(InvalidValue):
        Period.parse(value)  # type: ignore[arg-type]


def test_period_constructor_refuses_month_13() -> None:
    with pytest.raises(InvalidValue):
        Period(2026, 13)


def test_next_crosses_the_year_boundary() -> None:
    assert Period(2025, 12).next() == Period(2026, 1)
    assert Period(2026, 1).next() == Period(2026, 2)


def test_previous_crosses_the_year_boundary() -> None:
    assert Period(2026, 1).previous() == Period(2025, 12)
    assert Period(2026, 3).previous() == Period(2026, 2)


@pytest.mark.parametrize(
    ("period", "n", "expected"),
    [
        (Period(2026, 2), 31, date(2026, 2, 28)),
        (Period(2028, 2), 31, date(2028, 2, 29)),
        (Period(2000, 2), 30, date(2000, 2, 29)),
        (Period(2100, 2), 29, date(2100, 2, 28)),
        (Period(2026, 4), 31, date(2026, 4, 30)),
        (Period(2026, 1), 31, date(2026, 1, 31)),
        (Period(2026, 2), 10, date(2026, 2, 10)),
    ],
)
def test_day_clamps_to_the_last_day_of_the_month(period: Period, n: int, expected: date) -> None:
    assert period.day(n) == expected


def test_first_and_last_day() -> None:
    assert Period(2026, 2).first_day == date(2026, 2, 1)
    assert Period(2026, 12).last_day == date(2026, 12, 31)
    assert Period(2024, 2).last_day == date(2024, 2, 29)


def test_period_of_a_date_is_its_month() -> None:
    assert Period.of(date(2026, 10, 31)) == Period(2026, 10)


def test_months_until_lists_every_month_up_to_not_including_the_end() -> None:
    months = Period(2025, 11).months_until(Period(2026, 3))
    assert [str(p) for p in months] == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_months_until_an_equal_or_earlier_period_is_empty() -> None:
    assert Period(2026, 3).months_until(Period(2026, 3)) == []
    assert Period(2026, 3).months_until(Period(2025, 3)) == []


def test_periods_order_by_year_then_month() -> None:
    unordered = [Period(2026, 1), Period(2025, 12), Period(2025, 2), Period(2026, 10)]
    assert [str(p) for p in sorted(unordered)] == ["2025-02", "2025-12", "2026-01", "2026-10"]


def test_parse_date_reads_iso_dates() -> None:
    assert parse_date("2026-02-01") == date(2026, 2, 1)
    assert parse_date("2028-02-29") == date(2028, 2, 29)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30",
        "2026-13-01",
        "2026-02-00",
        "2026-02-29",
        "2026/02/01",
        "2026-2-1",
        "20260201",
        "01/02/2026",
        "2026-02-01T00:00",
        "",
        None,
        20260201,
    ],
)
def test_parse_date_refuses_other_shapes_and_impossible_dates(text: object) -> None:
    with pytest.raises(InvalidValue):
        parse_date(text)  # type: ignore[arg-type]


periods = st.builds(Period, st.integers(min_value=1901, max_value=9998), st.integers(1, 12))


@settings(max_examples=200)
@given(periods)
def test_period_prints_and_parses_back_to_itself(period: Period) -> None:
    assert Period.parse(str(period)) == period


@settings(max_examples=200)
@given(periods)
def test_next_then_previous_is_the_same_period(period: Period) -> None:
    assert period.next().previous() == period
    assert period.previous().next() == period
    assert period < period.next()


@settings(max_examples=200)
@given(periods)
def test_next_starts_the_day_after_the_last_day(period: Period) -> None:
    assert (period.next().first_day - period.last_day).days == 1


@settings(max_examples=200)
@given(
    st.builds(Period, st.integers(min_value=1901, max_value=9990), st.integers(1, 12)),
    st.integers(min_value=0, max_value=40),
)
def test_months_until_counts_the_months_between(period: Period, gap: int) -> None:
    end = period
    for _ in range(gap):
        end = end.next()
    months = period.months_until(end)
    assert len(months) == gap
    assert months[:1] == ([period] if gap else [])
    assert all(b == a.next() for a, b in pairwise(months))


@given(st.integers(1900, 9998), st.integers(1, 12))
def test_a_months_text_and_days_are_those_of_the_calendar(year: int, month: int) -> None:
    """Worked out once per month (`ledger.period._month`): what the calendar says, asked
    once or many times."""
    period = Period(year, month)
    for _ in range(2):
        assert str(period) == f"{year:04d}-{month:02d}"
        assert period.first_day == date(year, month, 1)
        assert period.last_day == date(year, month, calendar.monthrange(year, month)[1])


def test_a_period_holds_its_year_and_month_only_once_its_days_are_asked() -> None:
    """orjson writes a dataclass from its ``__dict__``: a period whose days were asked for
    must still be written as its year and month."""
    import orjson

    period = Period(2028, 2)
    assert (str(period), period.last_day, period.day(30)) == (
        "2028-02",
        date(2028, 2, 29),
        date(2028, 2, 29),
    )
    assert orjson.loads(orjson.dumps(period)) == {"year": 2028, "month": 2}
    assert vars(period) == {"year": 2028, "month": 2}
