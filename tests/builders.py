"""Builders shared by test modules (fixtures stay in conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from reconciliation.banksim import Instructed

#: Bank files: our fixtures, and other banks' in ``public/``.
BANK = Path(__file__).parent / "fixtures" / "bank"
#: The payment ids our bank fixtures name (those of test_bank_parsers.py), for `answered`.
F_PAID = "202612R1HLSMJRZKUG4UH4NIAWJY"
F_WRONG_NAME = "202612R1XJGHNW4AOBWACCMPF7YR"
F_NO_ACCOUNT = "202612R1IIEGPZID6YXDSECNLBOI"
F_CLOSED = "202612R1NQHHPSD75TT6OLUVBBJR"
F_FROZEN = "202612R1L2BGXCOT45W7IEUFZIRR"
F_ARREARS = "202612A12XHM4XE3TOX3FQSHBU7J"

#: An amount element's start tag (its group) and its number.
_AMOUNT = re.compile(r"(<(?:\w+:)?(?:Amt|InstdAmt)\b[^>]*>)\s*[0-9][0-9.]*\s*(?=<)")


def answered(
    data: bytes, payments: Mapping[str, Instructed], block: str = "Ntry", amounts: bool = True
) -> bytes:
    """A bank file written for other payments (another bank's sample, a fixture of ours), made
    to answer this month: each EndToEndId the file names that is a key of ``payments`` becomes
    that payment's id and, with ``amounts``, every amount in its ``block`` (a camt.054 ``Ntry``,
    a pain.002 ``TxInfAndSts``) the amount instructed. Currencies, statuses and dates stay as
    the file says them."""
    text = data.decode("utf-8")

    def one(m: re.Match[str]) -> str:
        found = [old for old in payments if f">{old}<" in m[0]]
        if not found:
            return m[0]
        (old,) = found
        p = payments[old]
        out = m[0].replace(f">{old}<", f">{p.end_to_end_id}<")
        if amounts:
            out = _AMOUNT.sub(rf"\g<1>{p.amount}", out)
        return out

    return re.sub(rf"<((?:\w+:)?){block}>.*?</\1{block}>", one, text, flags=re.S).encode("utf-8")
