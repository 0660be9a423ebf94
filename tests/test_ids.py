"""Identifiers: resident id numbers (GB 11643), region codes, staff ids, derived ids, masking."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidValue
from ledger.ids import (
    derived_id,
    id_check_char,
    mask_id_number,
    mask_name,
    parse_id_number,
    parse_region_code,
    parse_staff_id,
)

CHECK_ALPHABET = "0123456789X"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _id(region: str, birth: date, seq: str) -> str:
    first17 = f"{region}{birth:%Y%m%d}{seq}"
    return first17 + id_check_char(first17)


def _with_check(id_number: str, check: str) -> str:
    return id_number[:17] + check


# The GB 11643-1999 standard's own worked example, independent of our implementation.
GB_EXAMPLE = "11010519491231002X"


def _weighted_check(first17: str) -> str:
    """GB 11643 written out from the standard: weight 2^(i-1) mod 11, check (12 - S) mod 11."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


VALID_IDS = [
    GB_EXAMPLE,
    _id("610102", date(1985, 7, 1), "123"),
    _id("440300", date(2000, 2, 29), "007"),
    _id("110101", date(1900, 1, 1), "001"),
    _id("652901", date(2025, 12, 31), "999"),
]


def test_check_char_agrees_with_the_gb_11643_example() -> None:
    assert id_check_char(GB_EXAMPLE[:17]) == "X"


@settings(max_examples=200)
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_char_agrees_with_the_standards_formula(first17: str) -> None:
    assert id_check_char(first17) == _weighted_check(first17)


@pytest.mark.parametrize("id_number", VALID_IDS)
def test_parse_id_number_accepts_valid_ids(id_number: str) -> None:
    assert parse_id_number(id_number) == id_number


def test_parse_id_number_normalises_lowercase_x_to_uppercase() -> None:
    assert parse_id_number(GB_EXAMPLE.lower()) == GB_EXAMPLE


def test_parse_id_number_strips_surrounding_blanks() -> None:
    assert parse_id_number(f"  {GB_EXAMPLE}\n") == GB_EXAMPLE


@pytest.mark.parametrize(
    "text",
    [
        _with_check(GB_EXAMPLE, "1"),  # wrong check digit
        _with_check(VALID_IDS[1], "X" if VALID_IDS[1][17] != "X" else "0"),
        GB_EXAMPLE[:17],  # 17 characters
        GB_EXAMPLE + "0",  # 19 characters
        "1101051949123100",  # 16 characters
        "",
        "11010A19491231002X",  # letter among the digits
        "X10105194912310020",  # X anywhere but last
        "11010519491231002Y",  # check character that is not a digit or X
        "110105-19491231-002X",
        "11010519491231 002X",
    ],
)
def test_parse_id_number_refuses_malformed_ids(text: str) -> None:
    with pytest.raises(InvalidValue):
        parse_id_number(text)


@pytest.mark.parametrize(
    "birth",
    ["19491331", "20230230", "19490229", "19490001", "19490100", "19490132", "00000101"],
)
def test_parse_id_number_refuses_impossible_birth_dates(birth: str) -> None:
    first17 = f"110105{birth}002"
    # A correct check character, so only the birth date can be the reason for refusing.
    with pytest.raises(InvalidValue, match="birth"):
        parse_id_number(first17 + id_check_char(first17))


@pytest.mark.parametrize("value", [None, 11010519491231002, b"11010519491231002X"])
def test_parse_id_number_refuses_non_text(value: object) -> None:
    with pytest.raises(InvalidValue):
        parse_id_number(value)  # type: ignore[arg-type]


def test_wrong_check_digit_error_names_the_expected_one() -> None:
    with pytest.raises(InvalidValue, match="X"):
        parse_id_number(_with_check(GB_EXAMPLE, "5"))


def test_parse_id_number_never_returns_full_width_digits() -> None:
    # Full-width digits (０-９) are common in text typed with a Chinese input method. The stored
    # id_number is what deaths, staff and duplicate checks match on, so an id must come back as
    # the ASCII id or be refused; a full-width copy would not match the same person's id.
    full_width = GB_EXAMPLE.translate(FULL_WIDTH)
    try:
        parsed = parse_id_number(full_width)
    except InvalidValue:
        return
    assert parsed == GB_EXAMPLE


regions = st.text(alphabet="0123456789", min_size=6, max_size=6)
births = st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31))
sequences = st.text(alphabet="0123456789", min_size=3, max_size=3)


@settings(max_examples=200)
@given(regions, births, sequences)
def test_any_id_built_with_its_check_char_parses_back_to_itself(
    region: str, birth: date, seq: str
) -> None:
    id_number = _id(region, birth, seq)
    assert parse_id_number(id_number) == id_number


@settings(max_examples=200)
@given(regions, births, sequences, st.sampled_from(CHECK_ALPHABET))
def test_any_other_check_char_is_refused(region: str, birth: date, seq: str, other: str) -> None:
    id_number = _id(region, birth, seq)
    if other == id_number[17]:
        other = CHECK_ALPHABET[(CHECK_ALPHABET.index(other) + 1) % len(CHECK_ALPHABET)]
    with pytest.raises(InvalidValue):
        parse_id_number(_with_check(id_number, other))


@settings(max_examples=200)
@given(regions, births, sequences, st.integers(min_value=0, max_value=16), st.integers(1, 9))
def test_changing_any_one_digit_is_refused(
    region: str, birth: date, seq: str, position: int, shift: int
) -> None:
    id_number = _id(region, birth, seq)
    digit = str((int(id_number[position]) + shift) % 10)
    with pytest.raises(InvalidValue):
        parse_id_number(id_number[:position] + digit + id_number[position + 1 :])


@pytest.mark.parametrize("code", ["610102", "610102001001", " 610102 "])
def test_parse_region_code_accepts_6_or_12_digits(code: str) -> None:
    assert parse_region_code(code) == code.strip()


@pytest.mark.parametrize(
    "code",
    ["", "61010", "6101020", "61010200100", "6101020010011", "61010A", "610-102", None, 610102],
)
def test_parse_region_code_refuses_other_shapes(code: object) -> None:
    with pytest.raises(InvalidValue):
        parse_region_code(code)  # type: ignore[arg-type]


def test_parse_region_code_never_returns_full_width_digits() -> None:
    full_width = "610102".translate(FULL_WIDTH)
    try:
        parsed = parse_region_code(full_width)
    except InvalidValue:
        return
    assert parsed == "610102"


@pytest.mark.parametrize("staff_id", ["S001", "zhang.san", "a", "W-12_3", "x" * 32])
def test_parse_staff_id_accepts_plain_ids(staff_id: str) -> None:
    assert parse_staff_id(staff_id) == staff_id


@pytest.mark.parametrize(
    "staff_id", ["", " ", "_s1", "-s1", ".s1", "s 1", "s/1", "张三", "x" * 33, None, 1]
)
def test_parse_staff_id_refuses_other_shapes(staff_id: object) -> None:
    with pytest.raises(InvalidValue):
        parse_staff_id(staff_id)  # type: ignore[arg-type]


def test_derived_id_is_stable_for_the_same_key() -> None:
    first = derived_id("case", "C-0001")
    assert isinstance(first, UUID)
    assert first == derived_id("case", "C-0001")
    assert first.version == 5


def test_derived_id_differs_by_kind_and_by_key() -> None:
    ids = {
        derived_id("case", "C-0001"),
        derived_id("staff", "C-0001"),
        derived_id("case", "C-0002"),
        derived_id("file", "cases", "abc"),
        derived_id("file", "deaths", "abc"),
    }
    assert len(ids) == 5


kinds = st.sampled_from(["case", "payment", "run", "recovery", "finding", "staff", "death"])
keys = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=3)


@settings(max_examples=200)
@given(kinds, kinds, keys)
def test_derived_id_same_key_different_kind_gives_different_ids(
    kind_a: str, kind_b: str, key: list[str]
) -> None:
    assert derived_id(kind_a, *key) == derived_id(kind_a, *key)
    assert (derived_id(kind_a, *key) == derived_id(kind_b, *key)) == (kind_a == kind_b)


@pytest.mark.parametrize("id_number", VALID_IDS)
def test_mask_id_number_keeps_region_and_last_four_only(id_number: str) -> None:
    masked = mask_id_number(id_number)
    assert len(masked) == 18
    assert masked[:6] == id_number[:6]
    assert masked[6:14] == "********"
    assert masked[14:] == id_number[14:]


def test_mask_id_number_has_the_public_notice_shape() -> None:
    assert mask_id_number("610102198507011234") == "610102********1234"


@settings(max_examples=200)
@given(regions, births, sequences)
def test_mask_id_number_never_shows_the_birth_date(region: str, birth: date, seq: str) -> None:
    id_number = _id(region, birth, seq)
    masked = mask_id_number(id_number)
    assert f"{birth:%Y%m%d}" not in masked
    assert not any(ch.isdigit() for ch in masked[6:14])


@pytest.mark.parametrize("text", ["", "1234", "61010219850701123", "6101021985070112345"])
def test_mask_id_number_of_a_malformed_value_shows_no_digit(text: str) -> None:
    masked = mask_id_number(text)
    assert not any(ch.isdigit() for ch in masked)


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("张小三", "张*三"), ("欧阳小明", "欧**明"), ("李", "*")],
)
def test_mask_name_keeps_only_the_first_and_last_characters(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@settings(max_examples=200)
@given(st.text(alphabet="张王李赵欧阳小明三丽华", min_size=2, max_size=8))
def test_mask_name_hides_every_middle_character(name: str) -> None:
    masked = mask_name(name)
    assert len(masked) == len(name)
    assert masked[0] == name[0]
    assert set(masked[1:-1]) <= {"*"}
    # A two-character name shows only its family name.
    assert masked[-1] == ("*" if len(name) == 2 else name[-1])


@given(st.text(max_size=40))
def test_derived_id_is_the_standard_uuid5_of_kind_and_key(key: str) -> None:
    """Stored events depend on it: the fast derivation must stay exactly uuid5."""
    import pickle
    from uuid import uuid5

    from ledger.ids import NAMESPACE

    for kind, parts in (("payment", (key,)), ("case", ("C1", key))):
        fast, standard = derived_id(kind, *parts), uuid5(NAMESPACE, "/".join((kind, *parts)))
        assert fast == standard and hash(fast) == hash(standard)
        assert (fast.bytes, str(fast), fast.version) == (standard.bytes, str(standard), 5)
        assert pickle.loads(pickle.dumps(fast)) == standard


@given(st.lists(st.text(max_size=20), min_size=1, max_size=6), st.integers(1, 51))
@example([""], 51)  # more characters than the hash has whole bits for: padded as base32 pads
def test_payment_digests_are_the_standard_base32_of_the_hash(parts: list[str], length: int) -> None:
    # Payment, recovery and finding ids are derived from these: they must never change.
    import base64
    import hashlib

    from ledger.payment import _digest

    raw = hashlib.sha256("|".join(parts).encode("utf-8")).digest()
    assert _digest(*parts, length=length) == base64.b32encode(raw).decode("ascii")[:length]


def test_a_payment_id_is_what_it_has_always_been() -> None:
    from ledger.payment import payment_id

    # As computed by the first release's code (stored runs and bank files carry it).
    assert (
        payment_id("C6101021398586", "dibao", "2026-12", "regular")
        == "202612R1ZWAGW3EJBYB7MY7HZB4E"
    )
