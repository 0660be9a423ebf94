"""Checking a large input file's rows in two processes at once.

An import checks every row before it writes one (all or nothing): for a large file of rows
checked each on its own (a comparison file), that first reading is a single Python core's
work while the database waits. `count_checked` cuts the file in two at a line feed that
surely ends a row (`cut`: no quote before it), checks the first half here and the second in
a helper process (a plain interpreter running `_keys_main`), and adds up the rows. It only
ever says "good, so many rows": if either half finds any problem, or the file cannot be
cut, or the helper fails, the file is checked again whole in this process, so a refusal
lists exactly what one reading finds, by line, as before.

The helper opens the file itself and reads it only if its SHA-256 is the one the import
checked (`ledger.csvfile.InputFile`), so both halves are of the same bytes.

`keys_in_two` does the same for a check that must also hand back, of each good row, what a
check across rows needs afterwards (a case file's case id and program by line, for
`ledger.validation.LineKeys`): the helper writes those keys to a temporary file, and this
process passes them on after its own half's, in file order, as if it had read them itself.
What the check needs besides the rows (the programs config, the staff directory) goes to
the helper pickled, on its standard input.
"""

from __future__ import annotations

import importlib
import json
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from ledger.csvfile import BLOCK, CsvRow, InputFile, iter_rows
from ledger.errors import Problems
from ledger.helpers import helper_command

#: Files smaller than this are checked in one process: a helper's start, and its hashing the
#: file again, would cost more than its half saves.
PARTS_FROM = 32 << 20
#: How far past the middle a cut looks for a line that ends a row.
_CUT_WINDOW = 1 << 20
#: A check of rows: ``check(rows, problems, *args)`` the number of good rows, each problem
#: to ``problems``; a module-level function (the helper imports it), ``args`` JSON values.
Check = Callable[..., int]
#: What a check in two hands back of each good row: its line, a key (text without tab or
#: line break), a tag and one more number (`keys_in_two`).
Emit = Callable[[int, str, int, int], None]
#: A check of rows that hands back keys: ``check(rows, problems, payload, emit)``, each
#: problem to ``problems`` and each good row's key to ``emit``; a module-level function,
#: ``payload`` anything pickle takes.
KeyCheck = Callable[[Iterator[CsvRow], Problems, Any, Emit], None]


def count_checked(
    file: InputFile, required: Sequence[str], check: Check, *args: Any
) -> tuple[int, Problems]:
    """The number of good rows of ``file`` by ``check`` and the problems found (none, or all
    of them as one reading finds them): in two processes if the file is large enough and
    can be cut, else in this one."""
    cut_at = cut(file) if file.size >= PARTS_FROM and file.encoding is not None else None
    if cut_at is not None:
        counted = _in_two(file, required, check, args, cut_at)
        if counted is not None:
            return counted, Problems()
    problems = Problems()
    return check(iter_rows(file, required, problems), problems, *args), problems


def cut(file: InputFile) -> tuple[int, int] | None:
    """Where to cut ``file`` in two: (the end of its header line, the start of the second
    half), or None. The second half starts after the first line feed past the middle, and
    only if no quote comes before it: then that line feed ends a row for any reader. A file
    with quotes is read whole: an odd quote where a field does not start is a character
    like another to the csv reader, so counting quotes cannot say where its rows end, and
    the writing reading trusts that the rows it writes are the rows checked."""
    middle = file.size // 2
    if any(b'"' in block for block in file.bytes_of(0, middle)):
        return None
    window = b"".join(file.bytes_of(middle, min(middle + _CUT_WINDOW, file.size)))
    head_end, feed = _first_feed(file), window.find(b"\n")
    if head_end is None or feed < 0 or b'"' in window[:feed]:
        return None
    start = middle + feed + 1
    return (head_end, start) if head_end <= start < file.size else None


def keys_in_two(
    file: InputFile, required: Sequence[str], check: KeyCheck, payload: Any, emit: Emit
) -> int | None:
    """Check ``file``'s rows in two processes (as `count_checked`), handing each good row's
    key to ``emit`` in file order; the number of rows read, or None: the file is too small or
    cannot be cut, the helper failed, or either half found a problem. On None the caller
    checks the file whole in this process, starting again from nothing (``emit`` may have
    been given this process's half already)."""
    with second_half(file, required, check, payload) as theirs:
        if theirs is None:
            return None
        problems = Problems(0)
        rows = _Counted(iter_rows(file, required, problems, (0, theirs.start)))
        check(iter(rows), problems, payload, emit)
        if problems:
            return None
        counted = theirs.result(emit)
    return None if counted is None else rows.count + counted


@dataclass
class SecondHalf:
    """A helper process checking the second half of a file (`second_half`), from ``start``
    (the file's header ends at ``head_end``); its lines are those of its own reading plus
    ``offset``."""

    head_end: int
    start: int
    offset: int
    helper: subprocess.Popen[bytes]
    out: IO[bytes]

    def result(self, emit: Emit | None = None) -> int | None:
        """Wait for the helper: the rows it read, each good row's key handed to ``emit``
        (lines numbered in the whole file); None if it found a problem or failed."""
        if self.helper.wait() != 0:
            return None
        self.out.seek(0)
        return _passed_on(self.out, self.offset, emit)


@contextmanager
def second_half(
    file: InputFile, required: Sequence[str], check: KeyCheck, payload: Any
) -> Iterator[SecondHalf | None]:
    """A helper checking the second half of ``file`` with ``check`` (its keys kept for
    `SecondHalf.result`) while this process reads the first; None if the file is too small
    or cannot be cut (`cut`), or no process can be started. The helper is stopped on leaving,
    whatever happened."""
    cut_at = cut(file) if file.size >= PARTS_FROM and file.encoding is not None else None
    if cut_at is None:
        yield None
        return
    with _helper(file, required, check, payload, cut_at) as theirs:
        yield theirs


@contextmanager
def _helper(
    file: InputFile, required: Sequence[str], check: KeyCheck, payload: Any, at: tuple[int, int]
) -> Iterator[SecondHalf | None]:
    """A helper checking ``file`` from the cut ``at`` (`second_half`); None if no process
    can be started."""
    head_end, start = at
    # The helper's reader numbers the second part's lines from after the header's.
    offset = line_breaks(file, 0, start) - line_breaks(file, 0, head_end)
    job = _job(file, required, check, at)
    with tempfile.TemporaryFile() as out:
        try:
            # Nothing reads its stderr: a helper that fails only means one reading here.
            helper = subprocess.Popen(
                helper_command(_keys_main, json.dumps(job)),
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            yield None
            return
        try:
            try:
                with cast(IO[bytes], helper.stdin) as stdin:  # started with stdin=PIPE
                    pickle.dump(payload, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            except OSError:  # the helper died before reading: its result says so
                pass
            yield SecondHalf(head_end, start, offset, helper, out)
        finally:
            if helper.poll() is None:
                helper.kill()
            helper.wait()


class _Counted:
    """Rows, counted as they pass."""

    def __init__(self, rows: Iterator[CsvRow]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[CsvRow]:
        for row in self.rows:
            self.count += 1
            yield row


def _passed_on(out: Any, offset: int, emit: Emit | None) -> int | None:
    """The helper's keys handed to ``emit`` (lines numbered in the whole file), and the
    number of rows it read; None if it found a problem (or wrote nothing whole)."""
    summary: dict[str, Any] = {}
    for raw in out:
        if raw.startswith(b"{"):
            summary = json.loads(raw)
            break
        if emit is not None:
            line, key, tag, extra = raw.decode("utf-8").split("\t")
            emit(int(line) + offset, key, int(tag), int(extra))
    if summary.get("problems") != 0:
        return None
    return int(summary["rows"])


def line_breaks(file: InputFile, start: int, end: int) -> int:
    """The line breaks in the file's bytes from ``start`` to before ``end``, as a text
    reading with universal newlines counts them: LF, CR LF and a lone CR."""
    lf = cr = crlf = 0
    last = b""
    for block in file.bytes_of(start, end):
        if not block:
            continue
        lf += block.count(b"\n")
        cr += block.count(b"\r")
        crlf += block.count(b"\r\n") + (last == b"\r" and block[:1] == b"\n")
        last = block[-1:]
    return lf + cr - crlf


def _keys_main(argv: Sequence[str]) -> None:
    """A helper process: check one part of a file, writing each good row's key as a line
    (line, key, tag, extra; tab-separated) and then a summary (rows, problems) as JSON."""
    job = json.loads(argv[0])
    payload = pickle.load(sys.stdin.buffer)
    module, name = job["check"]
    check: KeyCheck = getattr(importlib.import_module(module), name)
    out = sys.stdout
    with InputFile(Path(job["path"]), max_bytes=job["max_bytes"]) as file:
        if file.sha256 != job["sha256"]:
            print(json.dumps({"changed": True}))
            return
        problems = Problems(0)
        rows = _Counted(iter_rows(file, job["required"], problems, *map(tuple, job["pieces"])))

        def emit(line: int, key: str, tag: int, extra: int) -> None:
            out.write(f"{line}\t{key}\t{tag}\t{extra}\n")

        check(iter(rows), problems, payload, emit)
    out.write(json.dumps({"rows": rows.count, "problems": problems.count}) + "\n")
    out.flush()


def _first_feed(file: InputFile) -> int | None:
    """The end of the file's first line, its header."""
    for n, block in enumerate(file.bytes_of(0, min(_CUT_WINDOW, file.size))):
        feed = block.find(b"\n")
        if feed >= 0:
            return n * BLOCK + feed + 1
    return None


def _job(
    file: InputFile, required: Sequence[str], check: Callable[..., Any], at: tuple[int, int]
) -> dict[str, Any]:
    """A helper's work: the file (which it reads only if its SHA-256 is this one), the pieces
    it reads (the header, then from the cut ``at`` to the end) and the check it runs."""
    head_end, start = at
    return {
        "path": str(file.path),
        "sha256": file.sha256,
        "max_bytes": file.size,
        "pieces": [[0, head_end], [start, file.size]],
        "required": list(required),
        "check": [check.__module__, check.__qualname__],
    }


def _in_two(
    file: InputFile, required: Sequence[str], check: Check, args: Sequence[Any], at: tuple[int, int]
) -> int | None:
    """The good rows of both halves, or None if either found a problem or the helper failed.
    The helper is `second_half`'s, running ``check`` through `_counting` (no keys)."""
    named = (check.__module__, check.__qualname__, list(args))
    with _helper(file, required, _counting, named, at) as theirs:
        if theirs is None:
            return None
        problems = Problems(0)
        mine = check(iter_rows(file, required, problems, (0, theirs.start)), problems, *args)
        if problems:
            return None
        counted = theirs.result()
    return None if counted is None else mine + counted


def _counting(
    rows: Iterator[CsvRow], problems: Problems, named: tuple[str, str, list[Any]], _: Emit
) -> None:
    """A `Check` (``named``: its module, name and arguments) run as a `KeyCheck` in a
    helper: the rows it reads are counted there, and it hands back no key."""
    module, name, args = named
    check: Check = getattr(importlib.import_module(module), name)
    check(rows, problems, *args)
