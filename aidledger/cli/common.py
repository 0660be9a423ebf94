"""What every command shares: the consoles, formats, opening the store, refusals, progress.

Commands import the domain where they use it: a command that only reads starts without
loading the writers, the XML schemas or the scheduler.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from aidledger.wiring import Services
    from ledger.spreadsheet import Sheet

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
    xlsx = "xlsx"


OUT = typer.Option("--out", help="write to this file (needed for xlsx; csv: instead of stdout)")
FORCE = typer.Option("--force", help="replace --out if it exists")


BY = typer.Option("--by", help="Staff id of the person acting (recorded; their duties apply)")
FMT = typer.Option("--format", help="text or json")
REASON = typer.Option("--reason", help="why (recorded)")
#: A read command's viewer: with it, personal data is masked as that staff member sees it and
#: the view is recorded in the access log; without it, the store's operator sees it all.
VIEWER = typer.Option(
    "--by", help="staff id of the person looking (masked by their role; the view is logged)"
)
VIEW_REASON = typer.Option(
    "--reason", help="why you look (recorded; auditors and supervisors must give one)"
)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


@contextmanager
def services(ctx: typer.Context, *, init: bool = False) -> Iterator[Services]:
    """Open the store for one command (``init``: create or upgrade it first), and close it
    when the command is done. What goes wrong ends the command with one line
    (`aidledger.cli.refusals`)."""
    from aidledger.cli.remote import check_direct
    from aidledger.wiring import init_store, open_services

    check_direct(ctx, None)
    svc = init_store(ctx.obj) if init else open_services(ctx.obj)
    try:
        if not init:
            check_direct(ctx, svc)
        yield svc
    finally:
        svc.close()


def check_input_file(path: Path) -> None:
    """Refuse (exit 1) an input path that is missing, a folder, or not a regular file."""
    if path.is_dir():
        fail(f"{path} is a folder: name the file to read")
    if not path.exists():
        fail(f"{path}: no such file")
    if not path.is_file():
        fail(f"{path} is not a regular file: name the file to read")


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


def check_out(fmt: StrEnum, out_file: Path | None) -> None:
    """``--out`` goes with a format that writes a file (csv, json, xlsx), and xlsx needs it:
    refused as a usage error before anything is read."""
    if out_file is not None and fmt.value == "table":
        raise typer.BadParameter("--out writes a file: give --format csv, json or xlsx")
    if out_file is None and fmt.value == "xlsx":
        raise typer.BadParameter("--format xlsx writes a file: give it with --out FILE")


def write_json(
    data: Any,
    *,
    indent: int | None = None,
    out_file: Path | None = None,
    force: bool = False,
    protected: Sequence[Path] = (),
) -> None:
    """JSON on stdout, nothing else (``--format json``); or into ``out_file``."""
    if out_file is not None:
        from ledger.outputs import written_beside

        with written_beside(out_file, replace=force, protected=protected) as target:
            target.write((json.dumps(data, ensure_ascii=False, indent=indent) + "\n").encode())
        return
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=indent) + "\n")


def print_rows(
    rows: Sequence[dict[str, Any]],
    fmt: ReportFormat | TableFormat,
    *,
    title: str,
    fields: Sequence[str],
    right: Sequence[str] = (),
    out_file: Path | None = None,
    force: bool = False,
    sheet: Sheet | None = None,
    protected: Sequence[Path] = (),
) -> None:
    """Rows as JSON, CSV, XLSX or a table (the columns ``fields``, or the rows' own keys).

    CSV and XLSX go to ``out_file`` when given (XLSX needs it), written beside it and put in
    its place once whole; ``sheet`` is the spreadsheet's own layout (title lines, headings,
    totals), else the rows under ``title``."""
    if fmt.value == "json":
        write_json(list(rows), out_file=out_file, force=force, protected=protected)
        return
    fields = tuple(rows[0]) if rows else tuple(fields)
    if fmt.value == "xlsx":
        from ledger.spreadsheet import Sheet as SheetOf
        from ledger.spreadsheet import write_xlsx

        if out_file is None:
            raise typer.BadParameter("--format xlsx writes a file: give it with --out FILE")
        write_xlsx(
            out_file,
            [sheet or SheetOf(title, fields, rows, heading=(title,))],
            replace=force,
            protected=protected,
        )
        out.print(f"{out_file}: {len(rows)} rows (xlsx)")
        return
    if fmt.value == "csv":
        from ledger.outputs import write_csv

        if out_file is None:
            write_csv(sys.stdout, fields, ([r.get(f) for f in fields] for r in rows))
            return
        import io

        from ledger.outputs import written_beside

        text = io.StringIO()
        write_csv(text, fields, ([r.get(f) for f in fields] for r in rows))
        with written_beside(out_file, replace=force, protected=protected) as target:
            target.write(text.getvalue().encode("utf-8-sig"))  # BOM: spreadsheets read UTF-8
        out.print(f"{out_file}: {len(rows)} rows (csv)")
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
