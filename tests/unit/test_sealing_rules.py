"""Sealing personal values for the read models (ledger/sealing.py), without a database."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.sealing import CLEAR, TAG_SIZE, SealBroken, Sealer

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(bytes(range(1, 33))).decode()
SEALER = Sealer(KEY)

NAME, ID_NUMBER, ACCOUNT = "欧阳秀兰", "61010219500101001X", "6228480000000000011"


def _raw(sealed: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))


def _text(raw: bytearray) -> str:
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("value", [NAME, ID_NUMBER, ACCOUNT, "王" * 200])
def test_a_sealed_value_opens_to_itself_and_shows_nothing_of_it(value: str) -> None:
    sealed = SEALER.seal(value)
    assert sealed != value and value not in sealed
    assert SEALER.open(sealed) == value
    # The tag, then as many bytes as the value's UTF-8: its length is what shows.
    assert len(_raw(sealed)) == TAG_SIZE + len(value.encode())


def test_a_one_letter_value_is_sealed_too() -> None:
    assert SEALER.seal("a") != "a" and SEALER.open(SEALER.seal("a")) == "a"


def test_equal_values_give_equal_sealed_texts_and_different_ones_different() -> None:
    assert SEALER.seal(NAME) == SEALER.seal(NAME) == Sealer(KEY).seal(NAME)
    assert SEALER.seal(NAME) != SEALER.seal("欧阳秀英")
    assert SEALER.seal_all([ID_NUMBER, ACCOUNT]) == [SEALER.seal(ID_NUMBER), SEALER.seal(ACCOUNT)]
    # Another key seals the same value otherwise.
    assert Sealer(OTHER_KEY).seal(NAME) != SEALER.seal(NAME)


@pytest.mark.parametrize("where", [0, TAG_SIZE - 1, TAG_SIZE, -1])
def test_an_altered_tag_or_value_is_refused(where: int) -> None:
    raw = _raw(SEALER.seal(ID_NUMBER))
    raw[where] ^= 0x01
    with pytest.raises(SealBroken, match="does not open: it was altered"):
        SEALER.open(_text(raw))


@pytest.mark.parametrize(
    "stored",
    [
        "not base64 at all!",
        _text(bytearray(b"short")),  # shorter than a tag
        SEALER.seal(ID_NUMBER)[:-4],  # cut short
        ID_NUMBER,  # a clear value where a sealed one belongs
    ],
)
def test_what_is_no_sealed_value_is_refused(stored: str) -> None:
    with pytest.raises(SealBroken, match="aidledger projections rebuild"):
        SEALER.open(stored)


def test_a_value_sealed_under_another_key_is_refused() -> None:
    with pytest.raises(SealBroken):
        Sealer(OTHER_KEY).open(SEALER.seal(NAME))


def test_empty_and_none_are_kept_as_they_are() -> None:
    assert SEALER.seal("") == "" and SEALER.open("") == ""
    assert SEALER.seal_optional(None) is None and SEALER.open_optional(None) is None
    rows = [("C001", NAME, None, ""), ("C002", "", ACCOUNT, None)]
    sealed = SEALER.seal_rows(rows, (1, 2, 3))
    assert sealed[0][2] is None and sealed[0][3] == "" and sealed[1][1] == ""
    assert sealed[0][0] == "C001" and sealed[0][1] == SEALER.seal(NAME)
    assert SEALER.open_rows(sealed, (1, 2, 3)) == rows


def test_without_a_key_nothing_is_sealed() -> None:
    rows = [("C001", NAME, ACCOUNT)]
    for clear in (CLEAR, Sealer(None), Sealer("")):
        assert not clear.on
        assert clear.seal(NAME) == NAME and clear.open(NAME) == NAME
        assert clear.seal_rows(rows, (1, 2)) is rows and clear.open_rows(rows, (1, 2)) is rows
        assert clear.seal_all([ID_NUMBER]) == [ID_NUMBER]


def test_the_sealer_shows_no_key() -> None:
    assert repr(SEALER) == "Sealer(on=True)"


@given(st.text())
def test_any_text_opens_to_itself(value: str) -> None:
    assert SEALER.open(SEALER.seal(value)) == value
    assert SEALER.seal(value) == SEALER.seal(value)
