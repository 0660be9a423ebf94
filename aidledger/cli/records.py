"""Commands that record the registers: init, imports, the programs config, deceased cases."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidledger.cli.common import (
    BY,
    FMT,
    Format,
    TableFormat,
    check_input_file,
    day_or_today,
    fail,
    out,
    progress_bar,
    services,
    write_json,
)

if TYPE_CHECKING:
    from ledger.imports import ImportSummary, Kind

import_app = typer.Typer(help="Record an input file's rows as events (all or nothing).")
config_app = typer.Typer(help="The programs config in the store: apply a file, show it.")
cases_app = typer.Typer(help="Acts on many cases at once: end the cases of the deceased.")


def init(ctx: typer.Context) -> None:
    """Create or upgrade the store; apply the shipped programs config if it has none."""
    with services(ctx, init=True) as svc:
        out.print(f"store ready: {svc.store.describe()}")


def _import(ctx: typer.Context, kind: Kind, file: Path, by: str, fmt: Format) -> None:
    check_input_file(file)
    with services(ctx) as svc:
        rows = svc.importer.count_lines(file)
        with progress_bar(f"importing {file.name}", rows) as advance:
            summary = svc.importer.import_file(kind, file, by=by, progress=advance)
        _print_summary(summary, fmt)


def _print_summary(s: ImportSummary, fmt: Format) -> None:
    if fmt is Format.json:
        write_json(s.__dict__)
        return
    if s.already_imported:
        p = s.previously
        out.print(
            f"{s.filename}: already imported (as {p['filename']} by {p['by']} at "
            f"{p['recorded_at']}); nothing recorded"
        )
        return
    out.print(
        f"{s.filename}: {s.rows} rows: {s.new} new, {s.changed} changed, "
        f"{s.unchanged} unchanged, 0 refused; {s.events} events recorded"
    )


def _import_command(kind: Kind, help_text: str) -> None:
    def command(
        ctx: typer.Context,
        file: Path,
        by: Annotated[str, BY],
        fmt: Annotated[Format, FMT] = Format.text,
    ) -> None:
        _import(ctx, kind, file, by, fmt)

    command.__doc__ = help_text
    import_app.command(kind)(command)


_import_command(
    "cases",
    "Import a cases file (new cases, amount/account changes, terminations); caseworker.",
)
_import_command("deaths", "Import a deaths file from the data-comparison feed; caseworker.")
_import_command(
    "staff", "Import a staff registry file; admin (the first one: an admin named in it)."
)
_import_command(
    "relatives", "Import staff members' relatives (staff_id, id_number, relation); caseworker."
)


@config_app.command("apply")
def config_apply(
    ctx: typer.Context,
    file: Path,
    by: Annotated[str, BY],
    effective_from: Annotated[
        str | None, typer.Option("--from", help="in force from YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Record a programs config file in the store, in force from a date (admin)."""
    check_input_file(file)
    day = day_or_today(ctx, effective_from)
    with services(ctx) as svc:
        applied = svc.configs.apply(file, effective_from=day, by=by)
    if applied.recorded:
        out.print(
            f"{file.name}: programs config sha256:{applied.sha256[:12]} in force from "
            f"{applied.effective_from.isoformat()}"
        )
    else:
        out.print(
            f"{file.name}: already in force from {applied.effective_from.isoformat()}; "
            "nothing recorded"
        )


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default today)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="toml or json")] = "toml",
) -> None:
    """The programs config in force on a date, as applied (TOML) or as read (JSON)."""
    import sys

    from ledger.config_store import version_in_force

    if fmt not in ("toml", "json"):
        raise typer.BadParameter("--format must be toml or json")
    day = day_or_today(ctx, as_of)
    with services(ctx) as svc:
        version = version_in_force(svc.app, svc.db, day)
        if version is None:
            fail(f"no programs config in force on {day.isoformat()}: run aidledger init")
        if fmt == "toml":
            text = version.content
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            return
        write_json(
            {
                "effective_from": version.effective_from.isoformat(),
                "config": version.config.model_dump(mode="json", by_alias=True),
            },
            indent=2,
        )


@cases_app.command("end-deceased")
def end_deceased(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="deaths on or before YYYY-MM-DD")],
    by: Annotated[str, BY],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be ended; record nothing")
    ] = False,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
) -> None:
    """应退尽退: end every case in effect whose holder died on or before a date (caseworker)."""
    from eligibility.deceased import Deceased

    day = day_or_today(ctx, as_of)
    with services(ctx) as svc:
        result = svc.service(Deceased).end_deceased(as_of=day, by=by, dry_run=dry_run)
    rows: list[dict[str, Any]] = [
        {
            "case_id": e.case_id,
            "program": e.program,
            "region_code": e.region_code,
            "date_of_death": e.date_of_death.isoformat(),
            "reported_by": e.reported_by,
            "effective_to": e.date_of_death.isoformat(),
            "household_to_reassess": e.household_to_reassess,
        }
        for e in result.ended
    ]
    if fmt is TableFormat.json:
        write_json(
            {
                "as_of": day.isoformat(),
                "dry_run": dry_run,
                "ended": rows,
                "left": [{"case_id": c, "why": why} for c, why in result.left],
            }
        )
        return
    from rich.table import Table

    verb = "would end" if dry_run else "ended"
    table = Table(title=f"cases of the deceased, deaths on or before {day}: {verb} {len(rows)}")
    for col in ("case_id", "program", "region_code", "date_of_death", "reported_by", "note"):
        table.add_column(col)
    for r in rows:
        note = "household to re-assess" if r["household_to_reassess"] else ""
        table.add_row(
            r["case_id"], r["program"], r["region_code"], r["date_of_death"], r["reported_by"], note
        )
    out.print(table)
    for case_id, why in result.left:
        out.print(f"  left for another caseworker: {case_id} ({why})")
