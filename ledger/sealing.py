"""Personal data at rest in the read models: sealed with a key derived from the cipher key.

With ``AIDLEDGER_CIPHER_KEY`` the event payloads are encrypted by the event store's cipher;
this module does the same for the names, id numbers and bank accounts the read models keep
(``cases``, ``staff``, ``relatives``, ``deaths``, ``payments``, the bank tables, households,
comparison records): a table holds each of them *sealed*, never in clear.

A sealed value is a deterministic authenticated encryption of the clear one (the SIV
construction of Rogaway and Shrimpton, with HMAC-SHA256 as its two pseudo-random functions):

- its first 16 bytes are a keyed hash of the value (HMAC-SHA256 under the *matching* subkey,
  truncated): equal values give equal sealed values, so every equality join, ``IN`` list,
  ``GROUP BY`` and dictionary lookup that matches people (duplicates across programs, shared
  accounts, staff and their relatives, deaths, household members, other departments' records,
  bank returns by account) works unchanged on sealed columns;
- the rest is the value XORed with a keystream drawn from that hash under the *encryption*
  subkey (HMAC-SHA256 in counter mode); opening it recomputes the hash and refuses a value
  that was altered or sealed under another key.

What it discloses without the key: which rows hold the same value, and each value's length
in bytes. Nothing else; in particular not the id number's region or birth date, which a
table that needs them keeps as their own columns.

Without a key (:data:`CLEAR`) values are stored as they are, and nothing here runs: the bulk
paths ask :attr:`Sealer.on` once and skip the loop. Empty strings stay empty (``''`` means
"none" in several columns) and ``None`` stays ``None``.

Two subkeys are derived from the cipher key with HMAC-SHA256 under distinct labels (HKDF's
expand step with a single block), so the read models' keys are never the event store's own
AES key. HMAC from the standard library costs a few microseconds a value: a province's month
of 1.5M payments seals its three personal fields in well under a minute on one core.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from ledger.errors import AidLedgerError

#: Bytes of the keyed hash at the head of a sealed value (128 bits: no two people collide).
TAG_SIZE: Final = 16
_BLOCK: Final = hashlib.sha256().digest_size
_MATCHING_LABEL: Final = b"aidledger read models: matching\x01"
_ENCRYPTION_LABEL: Final = b"aidledger read models: encryption\x01"


class SealBroken(AidLedgerError):
    """A sealed value that does not open: altered, or sealed under another key."""


def _subkey(master: bytes, label: bytes) -> bytes:
    return hmac.new(master, label, hashlib.sha256).digest()


class Sealer:
    """Seals and opens personal values for the read models; :data:`CLEAR` does nothing."""

    def __init__(self, cipher_key: str | None = None) -> None:
        """``cipher_key`` is the store's ``AIDLEDGER_CIPHER_KEY`` (base64, already checked for
        its form by ``ledger.store.check_cipher_key``); ``None`` or empty: no sealing."""
        self.on = bool(cipher_key)
        if cipher_key:
            master = base64.b64decode(cipher_key)
            self._mac_key = _subkey(master, _MATCHING_LABEL)
            self._enc_key = _subkey(master, _ENCRYPTION_LABEL)

    def __repr__(self) -> str:
        return f"Sealer(on={self.on})"

    def _keystream(self, tag: bytes, size: int) -> bytes:
        blocks = (size + _BLOCK - 1) // _BLOCK
        return b"".join(
            hmac.new(self._enc_key, tag + n.to_bytes(4, "big"), hashlib.sha256).digest()
            for n in range(blocks)
        )[:size]

    def seal(self, value: str) -> str:
        """``value`` sealed (deterministic: the same value always gives the same text)."""
        if not self.on or not value:
            return value
        clear = value.encode()
        tag = hmac.new(self._mac_key, clear, hashlib.sha256).digest()[:TAG_SIZE]
        stream = self._keystream(tag, len(clear))
        hidden = (int.from_bytes(clear, "big") ^ int.from_bytes(stream, "big")).to_bytes(
            len(clear), "big"
        )
        return base64.urlsafe_b64encode(tag + hidden).rstrip(b"=").decode()

    def seal_optional(self, value: str | None) -> str | None:
        """:meth:`seal`, with ``None`` kept."""
        return None if value is None else self.seal(value)

    def open(self, stored: str) -> str:
        """The clear value of a sealed one (SealBroken if it was altered or is another key's)."""
        if not self.on or not stored:
            return stored
        try:
            raw = base64.urlsafe_b64decode(stored + "=" * (-len(stored) % 4))
        except (binascii.Error, ValueError):
            raise SealBroken(_BROKEN) from None
        tag, hidden = raw[:TAG_SIZE], raw[TAG_SIZE:]
        if len(tag) != TAG_SIZE:
            raise SealBroken(_BROKEN)
        stream = self._keystream(tag, len(hidden))
        clear = (int.from_bytes(hidden, "big") ^ int.from_bytes(stream, "big")).to_bytes(
            len(hidden), "big"
        )
        expected = hmac.new(self._mac_key, clear, hashlib.sha256).digest()[:TAG_SIZE]
        if not hmac.compare_digest(tag, expected):
            raise SealBroken(_BROKEN)
        try:
            return clear.decode()
        except UnicodeDecodeError:
            raise SealBroken(_BROKEN) from None

    def open_optional(self, stored: str | None) -> str | None:
        """:meth:`open`, with ``None`` kept."""
        return None if stored is None else self.open(stored)

    def seal_all(self, values: Iterable[str]) -> list[str]:
        """Each of ``values`` sealed (for an ``IN`` list or a lookup by sealed values)."""
        return [self.seal(v) for v in values] if self.on else list(values)

    def seal_rows(self, rows: list[Any], positions: Sequence[int]) -> list[Any]:
        """``rows`` (tuples) with the values at ``positions`` sealed; the same list, untouched,
        without a key (so a bulk path pays nothing for it then)."""
        return _each_value(rows, positions, self.seal) if self.on else rows

    def open_rows(self, rows: list[Any], positions: Sequence[int]) -> list[Any]:
        """``rows`` (tuples) with the values at ``positions`` opened; untouched without a key."""
        return _each_value(rows, positions, self.open) if self.on else rows


def _each_value(
    rows: list[Any], positions: Sequence[int], change: Callable[[str], str]
) -> list[Any]:
    """``rows`` as tuples with ``change`` applied to their values (not None) at ``positions``."""
    out: list[Any] = []
    for row in rows:
        values = list(row)
        for i in positions:
            if values[i] is not None:
                values[i] = change(values[i])
        out.append(tuple(values))
    return out


_BROKEN = (
    "a sealed personal value in the read models does not open: it was altered in the "
    "database. Rebuild the read models from the event log (aidledger projections rebuild), "
    "and find out who wrote to the tables"
)

#: No key: values are stored and read as they are.
CLEAR: Final = Sealer(None)
