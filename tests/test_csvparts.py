"""A large file's rows checked in two processes (`ledger.csvparts`): cut at a row, both
halves of the same bytes, and any problem reported as one reading reports it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import ledger.csvparts as parts
from ledger.comparison_terms import COMPARISON_COLUMNS
from ledger.csvfile import InputFile
from ledger.errors import Problems
from ledger.validation import count_comparison_rows

HOLDER = "610102195001010011"
TODAY = "2026-12-15"


def vehicles(n: int, *, detail: str = "轿车") -> list[str]:
    return [f"{HOLDER},陕A{k:05d},2026-11-01,{1000 + k}.00,{detail}" for k in range(n)]


def file_of(tmp_path: Path, rows: list[str], newline: str = "\n") -> Path:
    path = tmp_path / "vehicles.csv"
    text = newline.join([",".join(COMPARISON_COLUMNS), *rows]) + newline
    path.write_bytes(text.encode("utf-8"))
    return path


def checked(path: Path) -> tuple[int, Problems]:
    with InputFile(path, max_bytes=1 << 30) as file:
        return parts.count_checked(
            file, COMPARISON_COLUMNS, count_comparison_rows, "vehicle", TODAY
        )


def halves(path: Path) -> int | None:
    """The good rows the two halves count (None: a half found a problem)."""
    with InputFile(path, max_bytes=1 << 30) as file:
        at = parts.cut(file)
        assert at is not None
        return parts._in_two(
            file, COMPARISON_COLUMNS, count_comparison_rows, ("vehicle", TODAY), at
        )


def test_a_file_is_cut_at_the_start_of_a_row(tmp_path: Path) -> None:
    path = file_of(tmp_path, vehicles(2001), newline="\r\n")
    data = path.read_bytes()
    with InputFile(path, max_bytes=1 << 30) as file:
        at = parts.cut(file)
    assert at is not None
    head_end, start = at
    assert data[:head_end] == (",".join(COMPARISON_COLUMNS) + "\r\n").encode()
    assert data[start - 2 : start] == b"\r\n" and data[start:].startswith(HOLDER.encode())
    assert len(data) // 2 <= start < len(data) // 2 + 100
    assert halves(path) == 2001


@pytest.mark.parametrize(
    "detail",
    [
        '"轿车\n第二行"',  # a quoted line feed: the middle may be inside a row
        'ab"c',  # a stray quote, a character like another to the csv reader
    ],
)
def test_a_file_with_a_quote_before_its_middle_is_checked_whole(
    tmp_path: Path, detail: str
) -> None:
    rows = vehicles(2000)
    rows[10] = rows[10].replace("轿车", detail)
    with InputFile(file_of(tmp_path, rows), max_bytes=1 << 30) as file:
        assert parts.cut(file) is None


@pytest.mark.parametrize("bad_line", [3, 1500])
def test_a_problem_in_either_half_is_reported_as_one_reading_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad_line: int
) -> None:
    rows = vehicles(2000)
    rows[bad_line - 2] = rows[bad_line - 2].replace("2026-11-01", "2026-11-31")
    path = file_of(tmp_path, rows)
    monkeypatch.setattr(parts, "PARTS_FROM", 1 << 30)
    alone = checked(path)
    monkeypatch.setattr(parts, "PARTS_FROM", 0)
    assert halves(path) is None  # the half with the bad row said so
    two = checked(path)
    assert [p.line for p in two[1].kept] == [p.line for p in alone[1].kept] == [bad_line]
    assert two[1].count == 1 and two[0] == alone[0] == 1999


def test_a_good_large_file_counts_the_same_in_two_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = file_of(tmp_path, vehicles(3001))
    monkeypatch.setattr(parts, "PARTS_FROM", 0)
    assert halves(path) == 3001
    rows, problems = checked(path)
    assert (rows, problems.count) == (3001, 0)


def test_a_file_changed_since_it_was_checked_is_not_counted_in_two(tmp_path: Path) -> None:
    """The helper opens the file again and reads it only if its SHA-256 is the one checked:
    a change past this process's half (its last block) makes the count fall back to one
    reading, which refuses the file."""
    path = file_of(tmp_path, vehicles(60_000))
    assert path.stat().st_size > 3 * (1 << 20)
    with InputFile(path, max_bytes=1 << 30) as file:
        at = parts.cut(file)
        assert at is not None
        data = path.read_bytes()
        path.write_bytes(data[:-20] + data[-20:].replace(b".00", b".50"))
        assert (
            parts._in_two(file, COMPARISON_COLUMNS, count_comparison_rows, ("vehicle", TODAY), at)
            is None
        )


def test_a_helper_that_fails_means_one_reading_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper that cannot start its work (here: exits at once) never refuses a good file
    nor passes a bad one: the file is read whole in this process."""
    monkeypatch.setattr(parts, "PARTS_FROM", 0)
    monkeypatch.setattr(
        parts,
        "helper_command",
        lambda *_: [sys.executable, "-c", "import sys; sys.exit('no helper today')"],
    )
    good = file_of(tmp_path, vehicles(3001))
    assert halves(good) is None, "the halves give up"
    rows, problems = checked(good)
    assert (rows, problems.count) == (3001, 0)
    bad = vehicles(3001)
    bad[2500] = bad[2500].replace(",2026-11-01,", ",2026-13-01,")  # no such month
    rows, problems = checked(file_of(tmp_path, bad))
    assert (rows, problems.count) == (3000, 1)
