"""What kind of bank file this is, from its content (never its name: banks rename files)."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Literal

from lxml import etree

from reconciliation.entries import BankFileRefused
from reconciliation.xmlstream import File, wrong_namespace, xml_input

Kind = Literal["camt054", "pain002", "csv"]

_BOMS = (b"\xef\xbb\xbf", b"\x84\x31\x95\x33")  # UTF-8, GB18030
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_MESSAGES: dict[str, Kind] = {"camt.054": "camt054", "pain.002": "pain002"}
# A namespace naming a message and its version: the ISO URN or a national variant of it.
_VERSIONED = re.compile(r"(?:^|[:/])([a-z]{4}\.[0-9]{3})\.[0-9]{3}\.[0-9]{2}")
#: Well-known openings of binary formats people send by mistake instead of the bank's file.
_BINARY = {
    b"PK\x03\x04": "a ZIP archive (or an .xlsx workbook): export the bank's text file instead",
    b"\xd0\xcf\x11\xe0": "an old Excel/Word file (.xls/.doc): export the bank's text file",
    b"%PDF": "a PDF: reconciliation needs the bank's data file, not a printout",
    b"\x1f\x8b": "a gzip archive: unpack it first",
}


def detect_kind(source: File) -> Kind:
    """camt054 or pain002 by the XML root's namespace; other readable text is a CSV return.

    Refuses empty files, binary files (archives, spreadsheets, PDFs, anything with NUL
    bytes), text that is neither UTF-8 nor GB18030, malformed XML, and XML of any other
    message (a pain.001 we sent, a camt.053 statement...), saying which. Given a path, reads
    only the start of the file.
    """
    if isinstance(source, Path):
        with source.open("rb") as f:
            sample = f.read(65536)
    else:
        sample = source[:65536]
    head = sample[:4096]
    for magic, what in _BINARY.items():
        if head.startswith(magic):
            raise BankFileRefused(f"not a bank return file: this is {what}")
    if head.startswith(_UTF16_BOMS):
        try:  # UTF-16 XML exists; lxml reads it from the BOM
            text = head.decode("utf-16")
        except UnicodeDecodeError:
            raise BankFileRefused("unreadable: a UTF-16 mark followed by invalid text") from None
        return _xml_kind(source) if text.lstrip("\ufeff \t\r\n").startswith("<") else "csv"
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    stripped = head.lstrip(b" \t\r\n")
    if not stripped:
        whole = source.read_bytes() if isinstance(source, Path) else source
        raise BankFileRefused("empty file" if not whole.strip() else "a file of blank lines")
    if b"\x00" in head:
        raise BankFileRefused("unreadable: binary content (NUL bytes), not a text or XML file")
    if stripped.startswith(b"<"):
        return _xml_kind(source)
    if not _decodes(sample):
        raise BankFileRefused("unreadable: the text is neither UTF-8 nor GB18030/GBK")
    return "csv"


def _decodes(sample: bytes) -> bool:
    """Whether the start of the file is UTF-8 or GB18030 text (the CSV parser checks the rest
    with the encoding its profile names)."""
    for encoding in ("utf-8", "gb18030"):
        try:
            # Incremental, so a character cut at the end of the sample is not an error.
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
            return True
        except UnicodeDecodeError:
            continue
    return False


def _xml_kind(source: File) -> Kind:
    try:
        events = etree.iterparse(
            xml_input(source), events=("start",), no_network=True, resolve_entities=False
        )
        _, root = next(iter(events))  # the root is all we need; the parser reads the rest
    except etree.XMLSyntaxError as e:
        raise BankFileRefused(f"malformed XML: {e}") from None
    namespace = etree.QName(root).namespace or ""
    m = _VERSIONED.search(namespace)
    kind = _MESSAGES.get(m.group(1)) if m else None
    if kind is None:
        raise BankFileRefused(
            "not a bank file aidledger imports (camt.054 or pain.002): "
            + wrong_namespace(root, namespace)
        )
    return kind
