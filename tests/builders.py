"""Builders shared by test modules (fixtures stay in conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from reconciliation.banksim import Instructed

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
