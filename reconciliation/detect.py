"""What kind of bank file this is, from its content (not its name)."""

from __future__ import annotations

import io
from typing import Literal

from lxml import etree

from reconciliation.entries import BankFileRefused

Kind = Literal["camt054", "pain002", "csv"]


def detect_kind(data: bytes) -> Kind:
    """camt054 or pain002 by the XML root's namespace; anything not XML is a CSV return file."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise BankFileRefused("empty file")
    if not head.startswith(b"<"):
        return "csv"
    try:
        for _, el in etree.iterparse(
            io.BytesIO(data), events=("start",), no_network=True, resolve_entities=False
        ):
            ns = etree.QName(el).namespace or ""
            break
        else:
            raise BankFileRefused("an XML file with no elements")
    except etree.XMLSyntaxError as e:
        raise BankFileRefused(f"malformed XML: {e}") from None
    if "camt.054." in ns:
        return "camt054"
    if "pain.002." in ns:
        return "pain002"
    raise BankFileRefused(
        f"an XML document aidledger does not import (namespace {ns or 'none'!r}): "
        "expected camt.054 or pain.002"
    )
