"""Streaming reads of ISO 20022 bank files: one pass, flat memory, refusal on anything odd.

A monthly camt.054 can hold 1.5 million transactions (some 800 MB), possibly in a single batch
entry, so the parsers never build the whole tree, nor hold the file: given a path, lxml reads
it in chunks; ``iterparse`` hands over each finished element of interest, the parser reads what
it needs, and the element and its finished siblings are dropped before the next one arrives.
Reading the fields costs more than parsing, so a big file is read by one process per core, each
reading the fields of its share of the elements (`read_in_shares`).
"""

from __future__ import annotations

import gc
import heapq
import importlib
import io
import json
import pickle
import re
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, TypeVar

from lxml import etree

from ledger.errors import InvalidValue
from ledger.money import parse_fen
from reconciliation.entries import BankFileRefused

# xs:decimal as ISO 20022 writes amounts: "500", "500.00", "3.10000" (up to five decimals).
_ISO_AMOUNT = re.compile(r"^\+?(?P<units>[0-9]*)(?:\.(?P<decimals>[0-9]*))?$")
# What nearly every file holds, and parse_fen reads as is.
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,13}(?:\.[0-9]{1,2})?")
# Parser options: no network, no entity expansion, no comments or processing instructions
# (they would sit between the entries we drop and stop the clean-up), and no huge_tree (it
# would lift libxml2's limits against hostile documents).
_OPTIONS = {
    "no_network": True,
    "resolve_entities": False,
    "remove_comments": True,
    "remove_pis": True,
}

#: A bank file: its bytes, or its path (read in chunks, never whole).
Source = bytes | Path


def xml_input(source: Source) -> Any:
    """What lxml's ``iterparse`` reads: a file name (libxml2 reads it in chunks) or a buffer."""
    return str(source) if isinstance(source, Path) else io.BytesIO(source)


def message_namespace(source: Source, message: str, message_element: str, what: str) -> str:
    """Check that ``data`` is a ``message`` document (e.g. ``camt.054``); return its namespace.

    The root namespace must name the message and a version: the ISO URN
    (``urn:iso:std:iso:20022:tech:xsd:camt.054.001.08``) or a national variant that keeps
    the ISO name, such as Switzerland's ``.../pain.002.001.03.ch.02.xsd``. The first child
    must be the message element (``BkToCstmrDbtCdtNtfctn``). A DOCTYPE is refused: bank files
    never need one, and entity declarations could hide what a file says.
    """
    pattern = re.compile(rf"(?:^|[:/]){re.escape(message)}\.[0-9]{{3}}\.[0-9]{{2}}(?:\.|$)")
    namespace = ""
    try:
        events = etree.iterparse(xml_input(source), events=("start",), **_OPTIONS)
        for depth, (_, el) in enumerate(events):
            if depth == 0:
                if el.getroottree().docinfo.doctype:
                    raise BankFileRefused(f"not accepted as {what}: the file has a DOCTYPE")
                namespace = etree.QName(el).namespace or ""
                if not pattern.search(namespace):
                    why = wrong_namespace(el, namespace)
                    raise BankFileRefused(f"not a {what} document: {why}")
                continue
            if etree.QName(el).localname != message_element:
                raise BankFileRefused(
                    f"not a {what} document: the root's first element is "
                    f"{etree.QName(el).localname!r}, expected {message_element!r}"
                )
            return namespace
    except etree.XMLSyntaxError as e:
        raise BankFileRefused(f"malformed XML: {e}") from None
    raise BankFileRefused(f"not a {what} document: no {message_element!r} element")


def wrong_namespace(root: etree._Element, namespace: str) -> str:
    """Why a root element's namespace is not one we read, for the refusal message."""
    if namespace:
        return f"its root namespace is {namespace!r}"
    # Seen in the wild (a Cross River sandbox file): 'Xmlns=' is a plain attribute, so the
    # document declares no namespace and says nothing about which message it is.
    typo = next((a for a in root.attrib if str(a).lower() == "xmlns"), None)
    if typo:
        return (
            f"its root element has no namespace: it has an attribute {typo!r}, but a namespace "
            "is declared with lowercase 'xmlns'"
        )
    return "its root element has no namespace"


def finished(source: Source, namespace: str, names: Iterable[str]) -> Iterator[etree._Element]:
    """Yield each element with one of the local ``names`` once it is complete, in file order.

    When the caller asks for the next element, the previous one is cleared and earlier
    siblings of the same name are removed, so memory holds one entry at a time. Siblings
    with other names (a block's header, read when its first transaction ends) are kept: they
    are small and a caller may still need them. An XML syntax error refuses the file, after
    the elements before it were yielded: callers that store must consume everything first.
    """
    tags = [f"{{{namespace}}}{name}" for name in names]
    try:
        for _, el in etree.iterparse(xml_input(source), events=("end",), tag=tags, **_OPTIONS):
            yield el
            el.clear(keep_tail=False)
            parent = el.getparent()
            if parent is not None:
                previous = el.getprevious()
                while previous is not None and previous.tag == el.tag:
                    parent.remove(previous)
                    previous = el.getprevious()
    except etree.XMLSyntaxError as e:
        raise BankFileRefused(f"malformed XML: {e}") from None


class Fields:
    """Fields of an element, all read by one compiled XPath call.

    ``Fields(ns, ("Amt", "Amt/@Ccy", "BookgDt/Dt|BookgDt/DtTm", "count(RtrInf)"))`` reads
    those paths of local names (``|`` for alternatives) relative to an element, and
    `read` returns their texts in that order, ready to unpack. One call into libxml2 per
    element instead of one ``find`` per field is what keeps a million-entry file in seconds.
    The values come back joined by U+FDD0, a Unicode noncharacter that no bank text has
    reason to contain; if one does, the count of values is off and the file is refused rather
    than read with shifted fields.
    """

    SEPARATOR = "\ufdd0"

    def __init__(self, namespace: str, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        # normalize-space strips in C (and folds inner runs of spaces, harmless for our fields).
        parts = [f"normalize-space({_qualify(p)})" for p in self.paths]
        glue = f", '{self.SEPARATOR}', "
        self._xpath = etree.XPath(f"concat({glue.join(parts)}, '')", namespaces={"n": namespace})

    def read(self, el: etree._Element) -> list[str]:
        """Each path's text, space-normalised; an empty string where it is absent or empty."""
        values = str(self._xpath(el)).split(self.SEPARATOR)
        if len(values) != len(self.paths):
            raise BankFileRefused(f"line {el.sourceline}: text contains the character U+FDD0")
        return values


def _qualify(path: str) -> str:
    """``BookgDt/Dt|count(RtrInf)`` -> ``n:BookgDt/n:Dt|count(n:RtrInf)``."""
    if path.startswith("count(") and path.endswith(")"):
        return f"count({_qualify(path[6:-1])})"
    return "|".join(
        "/".join(step if step.startswith("@") else f"n:{step}" for step in alt.split("/"))
        for alt in path.split("|")
    )


def amount_fen(raw: str | None) -> int | None:
    """An ISO amount's text as integer fen (never through float), or None if absent.

    ISO allows up to five decimals; trailing zeros past the fen are dropped, anything else
    past the fen cannot be paid and refuses the file. Amounts are never negative in ISO 20022
    (the direction is CdtDbtInd), so a minus sign is refused too. Raises `BankFileRefused`
    without a location: the caller knows the line and adds it.
    """
    if raw is None:
        return None
    return _fen(raw)


@lru_cache(maxsize=65536)
def _fen(raw: str) -> int:
    """`amount_fen` of a present amount, cached: a month's file repeats a few thousand amounts.
    (A refusal is an exception, and exceptions are not cached.)"""
    if _PLAIN_AMOUNT.fullmatch(raw):
        return parse_fen(raw)
    m = _ISO_AMOUNT.match(raw)
    decimals = (m["decimals"] or "") if m else ""
    if m is None or not (m["units"] or decimals) or decimals[2:].strip("0"):
        raise BankFileRefused(f"malformed amount {raw!r}")
    try:
        return parse_fen(f"{m['units'] or '0'}.{decimals[:2] or '0'}")
    except InvalidValue as e:
        raise BankFileRefused(str(e)) from None


@lru_cache(maxsize=4096)
def iso_day(value: str | None) -> date | None:
    """The date of an ISO ``Dt`` or ``DtTm``.

    A DtTm keeps the date the bank wrote (its own local day), not the UTC day: that is the
    booking day on the bank's statement. Cached: a file has few distinct days and a million
    entries.
    """
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BankFileRefused(f"malformed date {value!r}") from None


T = TypeVar("T")
#: What a parser reads of one share of a file: (position, row) in file order.
Shares = Callable[[Path, tuple[int, int]], Iterator[tuple[int, T]]]
_CHUNK = 5000
#: A share's reader: a plain interpreter running only this module's `_share_main` (not the
#: caller's script, which multiprocessing's spawn would import again).
_SHARE_MAIN = "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); " + (
    "from reconciliation.xmlstream import _share_main; _share_main(sys.argv[2:])"
)


def read_in_shares(reader: Shares[T], path: Path, processes: int) -> Iterator[T]:
    """Every row ``reader`` finds in a file, read by ``processes`` processes at once.

    Each process parses the whole file (libxml2 is the cheap part) but reads the fields of
    only its share of the rows (``reader(path, (k, processes))``), so that a month's file is
    read in less time on several cores. This process reads share 0 while the others send
    theirs through pipes; the rows come back in file order. A refusal is the first one in
    the file of those the shares found, so it is what one process reading all would say.
    ``reader`` must be a module-level function (the other processes import it). Should a
    helper process fail, this one reads the whole file itself. Returns once all is read;
    each row is let go of as it is handed over.
    """
    shares: list[deque[tuple[int, T]]] = [deque() for _ in range(processes)]
    refusals: list[BankFileRefused] = []
    failures: list[str] = []
    helpers = []
    try:
        for k in range(1, processes):
            # Not a pipe: one could fill up and stall the helper. Its listener closes it.
            errors = tempfile.TemporaryFile()  # noqa: SIM115
            helper = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _SHARE_MAIN,
                    json.dumps(sys.path),
                    reader.__module__,
                    reader.__qualname__,
                    str(path),
                    str(k),
                    str(processes),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
            listener = threading.Thread(
                target=_receive, args=(helper, errors, shares[k], refusals, failures), daemon=True
            )
            listener.start()
            helpers.append((helper, listener))
    except OSError as e:
        failures.append(f"cannot start a process: {e}")
    try:
        shares[0].extend(reader(path, (0, processes)))
    except BankFileRefused as e:
        refusals.append(e)
    except BaseException:
        for helper, _ in helpers:
            helper.kill()
        raise
    for helper, listener in helpers:
        listener.join()
        helper.wait()
    if failures:  # never seen; but a helper's trouble must not refuse a good file
        shares = [deque(reader(path, (0, 1)))]
    elif refusals:
        raise min(refusals, key=lambda e: e.position)
    return (row for _, row in heapq.merge(*map(_drained, shares), key=lambda item: item[0]))


def _drained(items: deque[tuple[int, T]]) -> Iterator[tuple[int, T]]:
    while items:
        yield items.popleft()


def _share_main(argv: Sequence[str]) -> None:
    """A helper process: pickle one share's rows to stdout in chunks, then None (or why not)."""
    module, name, path, k, parts = argv
    gc.disable()
    reader: Shares[Any] = getattr(importlib.import_module(module), name)
    out = sys.stdout.buffer
    chunk: list[tuple[int, Any]] = []
    try:
        for item in reader(Path(path), (int(k), int(parts))):
            chunk.append(item)
            if len(chunk) >= _CHUNK:
                pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
                chunk = []
        pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(None, out)
    except BankFileRefused as e:
        pickle.dump(("refused", str(e), e.position), out)
    out.flush()


def _receive(
    helper: subprocess.Popen[bytes],
    errors: IO[bytes],
    rows: deque[tuple[int, T]],
    refusals: list[BankFileRefused],
    failures: list[str],
) -> None:
    """In a thread: collect one helper's chunks until its end."""
    assert helper.stdout is not None
    try:
        while True:
            message = pickle.load(helper.stdout)
            if message is None:
                return
            if isinstance(message, tuple):
                _, text, position = message
                refusal = BankFileRefused(text)
                refusal.position = position
                refusals.append(refusal)
                return
            rows.extend(message)
    except (EOFError, pickle.UnpicklingError) as e:
        helper.wait()
        errors.seek(0)
        failures.append(f"{e!r}: {errors.read().decode(errors='replace')[-2000:]}")
    finally:
        helper.stdout.close()
        errors.close()
