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
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from lxml import etree

from ledger.errors import InvalidValue
from ledger.helpers import helper_command
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


@dataclass(frozen=True)
class Part:
    """A piece of a big file read as a document of its own (see `cut`): the file's first
    ``head`` bytes (what comes before the first element it is cut at), then its bytes from
    ``start`` to ``end``, then ``closers``, the end tags of what the head leaves open."""

    path: Path
    head: int
    start: int
    end: int
    closers: bytes


#: A bank file: its bytes, or its path (read in chunks, never whole).
File = bytes | Path
#: What the readers read: a file, or a part of one.
Source = File | Part


def xml_input(source: Source) -> Any:
    """What lxml's ``iterparse`` reads: a file name (libxml2 reads it in chunks), a buffer,
    or a reader of a part."""
    if isinstance(source, Path):
        return str(source)
    if isinstance(source, Part):
        return _PartReader(source)
    return io.BytesIO(source)


class _PartReader:
    """The bytes of a `Part`, in the chunks lxml asks for."""

    def __init__(self, part: Part) -> None:
        self._file = part.path.open("rb")
        self._pieces = [(0, part.head), (part.start, part.end)]
        self._closers = part.closers

    def read(self, size: int = -1) -> bytes:
        while self._pieces:
            at, end = self._pieces[0]
            if at >= end:
                self._pieces.pop(0)
                continue
            self._file.seek(at)
            data = self._file.read(end - at if size < 0 else min(size, end - at))
            if not data:  # the file got shorter: what lxml reads next will not parse
                self._pieces.clear()
                break
            self._pieces[0] = (at + len(data), end)
            return data
        self._file.close()
        closers, self._closers = self._closers, b""
        return closers


#: The opening of a start tag, up to its local name: ``<`` or ``<prefix:``.
_TAG_OPENING = rb"<(?:[A-Za-z_][\w.-]*:)?"
#: A start tag of a name, with or without a namespace prefix (``name`` goes in as a regex).
_START_TAG = _TAG_OPENING + rb"%s[\s/>]"
#: How far past a planned cut the next start tag is looked for.
_CUT_WINDOW = 4 * 2**20


def cut(path: Path, element: str, container: str, parts: int) -> list[Part] | None:
    """``path`` cut into ``parts`` documents at start tags of ``element``, each about the same
    size, or None if it cannot be cut that way.

    Each part is a well-formed document when the file is: the file's head (up to its first
    ``element``) opens the same elements as before any later ``element``, and the end tags
    that close them end all but the last part. That holds when every ``element`` is a child of
    the file's one ``container`` (a camt.054 with one ``Ntfctn``): a file with other than one
    ``container`` start tag is not cut. An ``element`` tag that is not such a child (inside a
    comment, say) leaves a part that does not parse, and the caller reads the file whole.
    """
    tag = re.compile(_START_TAG % re.escape(element.encode()))
    with path.open("rb") as f:
        size = f.seek(0, io.SEEK_END)

        def next_tag(at: int) -> int | None:
            f.seek(at)
            found = tag.search(f.read(_CUT_WINDOW))
            return None if found is None else at + found.start()

        head = next_tag(0)
        if head is None or _start_tags(f, container) != 1:
            return None
        f.seek(0)
        closers = _closers(f.read(head))
        if closers is None:
            return None
        cuts = [head]
        for k in range(1, parts):
            at = next_tag(max(cuts[-1] + 1, size * k // parts))
            if at is None:
                return None
            cuts.append(at)
    cuts.append(size)
    return [
        Part(path, 0 if k == 0 else head, 0 if k == 0 else cuts[k], cuts[k + 1],
             closers if k < parts - 1 else b"")
        for k in range(parts)
    ]  # fmt: skip


def _start_tags(f: IO[bytes], name: str) -> int:
    """How many start tags of local ``name`` a file has: read in chunks, the name searched at
    memchr speed (a month's file in about a second), each find checked for a tag's shape:
    ``<Ntfctn`` or ``<p:Ntfctn``, then a space, ``/`` or ``>`` (not an end tag, not a longer
    name)."""
    needle = name.encode()
    opening = re.compile(_TAG_OPENING + rb"$")
    keep = 256 + len(needle)  # bytes carried over, so that a find at a chunk's end is whole
    count, tail = 0, b""
    f.seek(0)
    while chunk := f.read(_SCAN_CHUNK):
        data = tail + chunk
        at = data.find(needle)
        while at >= 0:
            end = at + len(needle) + 1  # with the byte after the name
            # Counted in the chunk where it first is whole (not again from the carried tail).
            if len(tail) < end <= len(data) and data[end - 1 : end] in _AFTER_NAME:
                count += opening.search(data, max(0, at - 256), at) is not None
            at = data.find(needle, at + 1)
        tail = data[-keep:]
    return count


_SCAN_CHUNK = 2**22
_AFTER_NAME = (b" ", b"\t", b"\r", b"\n", b"/", b">")


def _closers(head: bytes) -> bytes | None:
    """The end tags of the elements a file's head leaves open, innermost first."""
    parser = etree.XMLPullParser(events=("start", "end"), **_OPTIONS)
    stack: list[str] = []
    try:
        parser.feed(head)
        for event, el in parser.read_events():
            if event == "start":
                local = etree.QName(el).localname
                stack.append(f"{el.prefix}:{local}" if el.prefix else local)
            else:
                stack.pop()
    except etree.XMLSyntaxError:
        return None
    return "".join(f"</{name}>" for name in reversed(stack)).encode() if stack else None


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
Shares = Callable[[Source, tuple[int, int]], Iterator[tuple[int, T]]]
_CHUNK = 5000


def read_in_shares(reader: Shares[T], path: Path, processes: int) -> Iterator[T]:
    """Every row ``reader`` finds in a file, read by ``processes`` processes at once.

    Each process parses the whole file but reads the fields of only its share of the rows
    (``reader(path, (k, processes))``), so that a month's file is read in less time on several
    cores. The rows come back in file order. A refusal is the first one in the file of those
    the shares found, so it is what one process reading all would say. ``reader`` must be a
    module-level function (the other processes import it). Should a helper process fail, this
    one reads the whole file itself. Returns once all is read; each row is let go of as it is
    handed over.
    """
    shares, refusals, failures = _read_together(
        reader, [(path, (k, processes)) for k in range(processes)]
    )
    if failures:  # never seen; but a helper's trouble must not refuse a good file
        shares = [deque(reader(path, (0, 1)))]
    elif refusals:
        raise min(refusals, key=lambda e: e.position)
    return (row for _, row in heapq.merge(*map(_drained, shares), key=lambda item: item[0]))


def read_in_parts(reader: Shares[T], parts: Sequence[Part]) -> Iterator[T] | None:
    r"""Every row ``reader`` finds in the `Part`\ s of a file (see `cut`), a process each, in
    file order; or None if any part was refused or a helper failed: then the file is to be
    read whole (parts of a good file parse; a bad one's refusal must name its own line).

    Unlike `read_in_shares`, each process parses only its part: libxml2's share of the work
    is divided too.
    """
    found, refusals, failures = _read_together(reader, [(part, (0, 1)) for part in parts])
    if refusals or failures:
        return None
    return (row for rows in found for _, row in _drained(rows))


def _read_together(
    reader: Shares[T], jobs: Sequence[tuple[Source, tuple[int, int]]]
) -> tuple[list[deque[tuple[int, T]]], list[BankFileRefused], list[str]]:
    """Run ``reader`` on each job at once: the first here, the others in helper processes
    that send their rows through pipes. Returns each job's rows, the refusals, the failures."""
    found: list[deque[tuple[int, T]]] = [deque() for _ in jobs]
    refusals: list[BankFileRefused] = []
    failures: list[str] = []
    helpers = []
    try:
        for k, (job, (mine, shares)) in enumerate(jobs[1:], start=1):
            # Not a pipe: one could fill up and stall the helper. Its listener closes it.
            errors = tempfile.TemporaryFile()  # noqa: SIM115
            helper = subprocess.Popen(
                # A share's reader: a plain interpreter running only `_share_main`.
                helper_command(
                    _share_main,
                    reader.__module__,
                    reader.__qualname__,
                    _source_arg(job),
                    str(mine),
                    str(shares),
                ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
            listener = threading.Thread(
                target=_receive, args=(helper, errors, found[k], refusals, failures), daemon=True
            )
            listener.start()
            helpers.append((helper, listener))
    except OSError as e:
        failures.append(f"cannot start a process: {e}")
    source, share = jobs[0]
    try:
        found[0].extend(reader(source, share))
    except BankFileRefused as e:
        refusals.append(e)
    except BaseException:
        for helper, _ in helpers:
            helper.kill()
        raise
    for helper, listener in helpers:
        listener.join()
        helper.wait()
    return found, refusals, failures


def _source_arg(source: Source) -> str:
    """A file or part of one, for a helper's command line (`_source_of` reads it back)."""
    if isinstance(source, Part):
        fields = asdict(source)
        fields.update(path=str(source.path), closers=source.closers.decode("latin-1"))
        return json.dumps({"part": fields})
    return json.dumps({"path": str(source)})


def _source_of(arg: str) -> Source:
    spec = json.loads(arg)
    if "part" in spec:
        fields = spec["part"]
        fields.update(path=Path(fields["path"]), closers=fields["closers"].encode("latin-1"))
        return Part(**fields)
    return Path(spec["path"])


def _drained(items: deque[tuple[int, T]]) -> Iterator[tuple[int, T]]:
    while items:
        yield items.popleft()


def _share_main(argv: Sequence[str]) -> None:
    """A helper process: pickle one share's rows to stdout in chunks, then None (or why not)."""
    module, name, source, k, parts = argv
    gc.disable()
    reader: Shares[Any] = getattr(importlib.import_module(module), name)
    out = sys.stdout.buffer
    chunk: list[tuple[int, Any]] = []
    try:
        for item in reader(_source_of(source), (int(k), int(parts))):
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
    stdout = cast(IO[bytes], helper.stdout)  # started with stdout=PIPE
    try:
        while True:
            message = pickle.load(stdout)
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
        stdout.close()
        errors.close()
