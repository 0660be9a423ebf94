"""What every command shares: the consoles, formats, opening the store, refusals, progress.

Commands import the domain where they use it: a command that only reads starts without
loading the writers, the XML schemas or the scheduler.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from aidledger.wiring import Services

err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
T = TypeVar("T")

#: Rows above which a progress bar is shown.
PROGRESS_THRESHOLD = 5000


class Format(StrEnum):
    text = "text"
    json = "json"


class TableFormat(StrEnum):
    json = "json"
    table = "table"


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"
    table = "table"


BY = typer.Option("--by", help="Staff id of the person acting (recorded; their duties apply)")
FMT = typer.Option("--format", help="text or json")
REASON = typer.Option("--reason", help="why (recorded)")


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


@contextmanager
def services(ctx: typer.Context, *, init: bool = False) -> Iterator[Services]:
    """Open the store for one command (``init``: create or upgrade it first), and close it
    when the command is done. What goes wrong ends the command with one line
    (`aidledger.cli.refusals`)."""
    from aidledger.wiring import init_store, open_services

    svc = init_store(ctx.obj) if init else open_services(ctx.obj)
    try:
        yield svc
    finally:
        svc.close()


def parsed(parse: Callable[[str], T], value: str) -> T:
    """A command-line value through a domain parser: its complaint is a usage error (exit 2)."""
    from ledger.errors import InvalidValue

    try:
        return parse(value)
    except InvalidValue as e:
        raise typer.BadParameter(str(e)) from None


def day_or_today(ctx: typer.Context, value: str | None) -> date:
    """A ``--as-of``-like date, or today (``AIDLEDGER_TODAY``, or the bureau's date)."""
    from ledger.period import parse_date

    return ctx.obj.current_date() if value is None else parsed(parse_date, value)


def period(value: str) -> Any:
    from ledger.period import Period

    return parsed(Period.parse, value)


def fen(value: str) -> int:
    from ledger.money import parse_fen

    return parsed(parse_fen, value)


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for long work; nothing for small inputs."""
    if total < PROGRESS_THRESHOLD:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def write_json(data: Any, *, indent: int | None = None) -> None:
    """JSON on stdout, nothing else (``--format json``)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=indent) + "\n")


def print_rows(
    rows: Sequence[dict[str, Any]],
    fmt: ReportFormat | TableFormat,
    *,
    title: str,
    fields: Sequence[str],
    right: Sequence[str] = (),
) -> None:
    """Rows as JSON, CSV or a table (the columns ``fields``, or the rows' own keys)."""
    if fmt.value == "json":
        write_json(list(rows))
        return
    fields = tuple(rows[0]) if rows else tuple(fields)
    if fmt.value == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    from rich.table import Table

    table = Table(title=title)
    for f in fields:
        table.add_column(f, justify="right" if f in right else "left")
    for r in rows:
        table.add_row(*("" if r.get(f) is None else str(r[f]) for f in fields))
    out.print(table)


def print_head(svc: Services) -> None:
    """The chain head, for anchoring outside the database (stderr when stdout is data)."""
    from ledger import chain

    top = chain.head(svc.db)
    if top is not None:
        err.print(f"chain head: {top}", markup=False)
