"""Streaming helpers for ISO 20022 files: namespace-agnostic lookups, refusal on bad XML."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime
from functools import lru_cache

from lxml import etree

from ledger.errors import InvalidValue
from ledger.money import parse_fen
from reconciliation.entries import BankFileRefused


def local(tag: object) -> str:
    """The local name of an element tag (``{ns}Ntry`` -> ``Ntry``)."""
    return etree.QName(tag).localname if isinstance(tag, str) else ""


@lru_cache(maxsize=1024)
def qualified(namespace: str, path: str) -> str:
    """``BookgDt/Dt`` in a namespace, as an ElementPath (cached: lookups are the hot path)."""
    if not namespace:
        return path
    return "/".join(f"{{{namespace}}}{p}" for p in path.split("/"))


def text(el: etree._Element, path: str) -> str | None:
    """Text at a path of local names (``BookgDt/Dt``) in the element's namespace, or None."""
    namespace = el.tag[1 : el.tag.index("}")] if el.tag[0] == "{" else ""
    found = el.find(qualified(namespace, path))
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def fen(value: str | None, where: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_fen(value)
    except InvalidValue as e:
        raise BankFileRefused(f"{where}: {e}") from None


def day(value: str | None, where: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10]) if len(value) >= 10 else None
    except ValueError:
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            raise BankFileRefused(f"{where}: malformed date {value!r}") from None


def elements(data: bytes, message: str, wanted: set[str], what: str) -> Iterator[etree._Element]:
    """Yield complete elements with the wanted local names; memory stays flat.

    The document's root namespace must name the ``message`` (``camt.054.``): the ISO URN, or a
    national variant such as the Swiss ``pain.002.001.03.ch.02``. Each yielded element
    is cleared after the caller is done with it (and its finished siblings dropped).
    """
    try:
        for _, root in etree.iterparse(
            io.BytesIO(data), events=("start",), no_network=True, resolve_entities=False
        ):
            ns = etree.QName(root).namespace or ""
            if message not in ns:
                raise BankFileRefused(f"not a {what} document (root namespace {ns or 'none'!r})")
            break
        # lxml filters the events itself: Python sees only the elements asked for.
        context = etree.iterparse(
            io.BytesIO(data),
            events=("end",),
            huge_tree=True,
            resolve_entities=False,
            no_network=True,
            tag=[f"{{{ns}}}{name}" for name in sorted(wanted)],
        )
        for _, el in context:
            yield el
            el.clear(keep_tail=True)
            parent = el.getparent()
            while parent is not None and el.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as e:
        raise BankFileRefused(f"malformed XML: {e}") from None
