"""Money: integer fen inside, ``"1234.50"`` yuan strings at the edges, never a float."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidValue
from ledger.money import Money, format_fen, parse_fen

# parse_fen takes up to 13 digits of yuan: far above any payment, and the range we round-trip.
LIMIT_FEN = 10**15 - 1
fens = st.integers(min_value=-LIMIT_FEN, max_value=LIMIT_FEN)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1234.50", 123450),
        ("1234.5", 123450),
        ("1234", 123400),
        ("0.01", 1),
        ("0.10", 10),
        ("0", 0),
        ("-5.00", -500),
        ("-0.05", -5),
    ],
)
def test_parse_fen_reads_yuan_with_up_to_two_decimals(text: str, fen: int) -> None:
    assert parse_fen(text) == fen


@pytest.mark.parametrize(
    "text",
    [
        "12,3x",
        "1,234.50",
        "1.234",
        "1e3",
        "1E3",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "",
        " ",
        "¥12",
        "12元",
        "+12.00",
        ".50",
        "12.",
        "1 234.50",
        "--5",
        "0x10",
        "12_000",
    ],
)
def test_parse_fen_refuses_malformed_amounts(text: str) -> None:
    with pytest.raises(InvalidValue):
        parse_fen(text)


@pytest.mark.parametrize("value", [12.5, 12, 12.0, Decimal("12.50"), None, b"12.50", True])
def test_parse_fen_refuses_anything_but_text(value: object) -> None:
    with pytest.raises(InvalidValue):
        parse_fen(value)  # type: ignore[arg-type]


def test_parse_fen_error_shows_the_refused_value() -> None:
    with pytest.raises(InvalidValue, match=re.escape("1,234.50")):
        parse_fen("1,234.50")


@pytest.mark.parametrize(
    ("fen", "text"),
    [(123450, "1234.50"), (1, "0.01"), (10, "0.10"), (0, "0.00"), (-500, "-5.00"), (-5, "-0.05")],
)
def test_format_fen_prints_yuan_with_two_decimals(fen: int, text: str) -> None:
    assert format_fen(fen) == text


@pytest.mark.parametrize("value", [12.5, 1.0, 0.0, True, False, "1234.50", Decimal("1"), None])
def test_format_fen_refuses_floats_bools_and_non_integers(value: object) -> None:
    with pytest.raises(InvalidValue):
        format_fen(value)  # type: ignore[arg-type]


@settings(max_examples=200)
@given(fens)
def test_formatted_fen_parses_back_to_the_same_fen(fen: int) -> None:
    assert parse_fen(format_fen(fen)) == fen


@settings(max_examples=200)
@given(fens)
def test_format_fen_always_has_exactly_two_decimals(fen: int) -> None:
    text = format_fen(fen)
    whole, dot, decimals = text.partition(".")
    assert dot == "."
    assert len(decimals) == 2 and decimals.isdigit()
    assert whole.lstrip("-").isdigit()
    # The sign is on the yuan, and only for negative amounts (no "-0.00").
    assert text.startswith("-") == (fen < 0)


yuan_decimals = st.integers(min_value=0, max_value=2).flatmap(
    lambda places: st.decimals(
        min_value=Decimal("-9999999999999.99"),
        max_value=Decimal("9999999999999.99"),
        places=places,
        allow_nan=False,
        allow_infinity=False,
    )
)


@settings(max_examples=200)
@given(yuan_decimals)
def test_parse_fen_of_a_decimal_string_equals_its_value_in_fen(amount: Decimal) -> None:
    text = str(amount)
    assert parse_fen(text) == int(amount * 100)


@settings(max_examples=200)
@given(fens, fens)
def test_money_arithmetic_and_order_match_integer_fen(a: int, b: int) -> None:
    ma, mb = Money(a), Money(b)
    assert (ma + mb).fen == a + b
    assert (ma - mb).fen == a - b
    assert (ma < mb) == (a < b)
    assert (ma == mb) == (a == b)
    assert (hash(ma) == hash(mb)) or a != b


@settings(max_examples=200)
@given(fens)
def test_money_prints_and_parses_as_yuan(fen: int) -> None:
    money = Money(fen)
    assert str(money) == format_fen(fen)
    assert Money.parse(str(money)) == money
    assert repr(money) == f"Money('{format_fen(fen)}')"


@pytest.mark.parametrize("value", [1.0, 0.5, True, "100", Decimal("1.00"), None])
def test_money_refuses_anything_but_integer_fen(value: object) -> None:
    with pytest.raises(InvalidValue):
        Money(value)  # type: ignore[arg-type]


def test_money_parse_refuses_malformed_text() -> None:
    with pytest.raises(InvalidValue):
        Money.parse("1,234.50")


def test_money_is_immutable() -> None:
    money = Money(100)
    with pytest.raises(AttributeError):
        money.fen = 200
    assert money.fen == 100


def test_money_equals_only_money_not_a_bare_int() -> None:
    assert Money(100) != 100
    assert Money(100) == Money.parse("1.00")


def test_equal_money_collapses_in_a_set() -> None:
    assert len({Money(150), Money.parse("1.5"), Money.parse("1.50"), Money(151)}) == 2
