"""Files aidledger writes for people and banks: never over the store, never half a file.

A bank file, a spreadsheet or a CSV written to ``--out`` is written beside its target under a
hidden unique name (mode 0600: it may hold names and accounts), flushed, and put in the
target's place only once complete (and, for a bank file, checked against its approval); on any
error nothing is left under any name. An existing file is replaced only when asked (``--force``),
and the store's own files never.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from ledger.errors import AidLedgerError


class OutputRefused(AidLedgerError):
    """A file was not written: its target, or a value it would carry (nothing written)."""


def check_target(out: Path, *, replace: bool, protected: Sequence[Path] = ()) -> None:
    """Refuse a target a file must not be written to: one of the ``protected`` files (the
    store's own), even with ``replace``; a folder, or a file in a folder that does not exist;
    anything but a regular file; an existing file unless ``replace``."""
    if any(_same_file(out, p) for p in protected):
        raise OutputRefused(
            f"{out} is the store's own file: nothing is ever written over the store; "
            "choose another --out"
        )
    if out.is_dir():
        raise OutputRefused(f"{out} is a folder: name the file to write (e.g. {out / 'run.xml'})")
    if not out.parent.is_dir():
        raise OutputRefused(f"folder {out.parent} does not exist: create it first, or check --out")
    if out.exists() or out.is_symlink():
        if not out.is_file():
            raise OutputRefused(f"{out} is not a regular file: choose another --out")
        if not replace:
            raise OutputRefused(f"{out} exists: choose another --out, or add --force to replace it")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # a hard link to it
    except OSError:
        return False


@contextmanager
def written_beside(
    out: Path, *, replace: bool, protected: Sequence[Path] = ()
) -> Iterator[BinaryIO]:
    """A file to write, beside ``out`` under a hidden unique name (mode 0600: it holds names
    and accounts), put in ``out``'s place when the block ends without an error; on any error,
    and if it cannot be put there, it is removed. Never a partial file under any name.

    Without ``replace``, it is put there only if ``out`` still does not exist (a hard link, so
    a file that appeared meanwhile is never overwritten). `check_target` first."""
    check_target(out, replace=replace, protected=protected)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # on disk before it takes the name
        check_target(out, replace=replace, protected=protected)
        _put_in_place(tmp, out, replace=replace)
    finally:
        tmp.unlink(missing_ok=True)


def _put_in_place(tmp: Path, out: Path, *, replace: bool) -> None:
    if replace:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)  # fails if out exists: no check-then-write gap
    except FileExistsError:
        raise OutputRefused(
            f"{out} appeared while the file was being written: it was left as it was"
        ) from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A file system without hard links: the check above is as close as it gets.
        os.replace(tmp, out)


#: What a spreadsheet takes for the start of a formula (OWASP, "CSV injection"). The bank
#: file's writer refuses the same set (`disbursement.export.FORMULA_STARTS`).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A plain number ("-2.00"): a spreadsheet reads it as the number, not a formula.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> str:
    """One cell of a CSV written for people, safe to open in a spreadsheet.

    A text starting with a formula character gets a single quote in front and is quoted, as
    OWASP recommends (``=1+2`` is written ``"'=1+2"``); a plain number, negative too, is left
    as it is; anything else is quoted only where CSV needs it. Every CSV written for people
    (the command line's, the console's downloads) goes through here."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return '"' + ("'" + text).replace('"', '""') + '"'
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(out: TextIO, fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A header and rows, each cell through `csv_cell`."""
    out.write(",".join(csv_cell(f) for f in fields) + "\n")
    for cells in rows:
        out.write(",".join(csv_cell(c) for c in cells) + "\n")
