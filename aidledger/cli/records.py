"""Commands that record the registers: init, imports, the programs config, deceased cases."""

import json
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
    from collections.abc import Callable

    from ledger.imports import ImportSummary, Kind, RowReport

import_app = typer.Typer(help="Record an input file's rows as events (all or nothing).")
config_app = typer.Typer(help="The programs config in the store: apply a file, show it.")
cases_app = typer.Typer(help="Acts on many cases at once: end the cases of the deceased.")


def init(ctx: typer.Context) -> None:
    """Create or upgrade the store; apply the shipped programs config if it has none."""
    with services(ctx, init=True) as svc:
        out.print(f"store ready: {svc.store.describe()}")


def _import(ctx: typer.Context, kind: "Kind", file: Path, by: str, fmt: Format, dry: bool) -> None:
    check_input_file(file)
    if import_through_server(ctx, f"/imports/{kind}", file, by, fmt, dry_run=dry):
        return
    with services(ctx) as svc:
        if dry:
            _dry_run(svc, kind, file, by, fmt)
            return
        rows = svc.importer.count_lines(file)
        with progress_bar(f"importing {file.name}", rows) as advance:
            summary = svc.importer.import_file(kind, file, by=by, progress=advance)
        _print_summary(summary, fmt)


def import_through_server(
    ctx: typer.Context, path: str, file: Path, by: str, fmt: Format, *, dry_run: bool, **params: Any
) -> bool:
    """An import sent to the server (``path`` under ``/api/v1``, with the query ``params``)
    and summed up as on the store: True, or False when the command acts on the store."""
    from aidledger.cli.remote import remote

    if (api := remote(ctx, by)) is None:
        return False
    from console.answers import summary_from

    if dry_run:
        fail("--dry-run does not go through the server: run it on the store (--db)")
    _print_summary(summary_from(api.upload(path, file, **params)), fmt)
    return True


def import_with_dry_run(
    service: Any, file: Path, by: str, fmt: Format, *, dry_run: bool, noun: str, mask: bool
) -> None:
    """A steps or reviews file through ``service.import_file``: recorded and summed up, or
    with ``dry_run`` every line's outcome streamed (each change's new value, masked with
    ``mask``) and nothing recorded."""
    import sys

    from ledger.history import masked_changes

    if not dry_run:
        _print_summary(service.import_file(file, by=by), fmt)
        return
    first = True

    def changes(row: dict[str, Any]) -> dict[str, Any]:
        return masked_changes(row["changes"]) if mask else row["changes"]

    def as_json(row: dict[str, Any]) -> None:
        nonlocal first
        row = {**row, "changes": changes(row)}
        sys.stdout.write(("[\n" if first else ",\n") + json.dumps(row, ensure_ascii=False))
        first = False

    def as_text(row: dict[str, Any]) -> None:
        if row["outcome"] == "unchanged":
            return
        shown = "; ".join(f"{k} {_shown(b)}" for k, (_, b) in changes(row).items())
        out.print(f"line {row['line']}  {row['key']}  {row['outcome']}  {shown}", markup=False)

    summary = service.import_file(file, by=by, report=as_json if fmt is Format.json else as_text)
    if summary.already_imported:
        _print_summary(summary, fmt)
        return
    if fmt is Format.json:
        sys.stdout.write("[]\n" if first else "\n]\n")
        return
    out.print(
        f"dry run: {summary.filename}: {summary.rows} rows: {summary.new} new {noun}, "
        f"{summary.unchanged} already recorded; {summary.events} events would be recorded; "
        "nothing recorded",
        markup=False,
    )


def _dry_run(svc: Any, kind: "Kind", file: Path, by: str, fmt: Format) -> None:
    print_dry_run(lambda report: svc.importer.import_file(kind, file, by=by, report=report), fmt)


def print_dry_run(run: "Callable[[RowReport], ImportSummary]", fmt: Format) -> None:
    """Every row's outcome as the import (``run`` with its report hook) decides it, streamed;
    nothing recorded. Personal data (names, id numbers, accounts, other departments'
    references, in the key too) is shown masked (the file itself holds it)."""
    import sys

    from ledger.history import masked_changes, masked_key

    first = True

    def as_json(row: dict[str, Any]) -> None:
        nonlocal first
        row = {**row, "key": masked_key(row["key"]), "changes": masked_changes(row["changes"])}
        sys.stdout.write(("[\n" if first else ",\n") + json.dumps(row, ensure_ascii=False))
        first = False

    def as_text(row: dict[str, Any]) -> None:
        if row["outcome"] == "unchanged":
            return
        changes = "; ".join(
            f"{k} {_shown(a)} → {_shown(b)}" if a is not None else f"{k} {_shown(b)}"
            for k, (a, b) in masked_changes(row["changes"]).items()
        )
        out.print(
            f"line {row['line']}  {masked_key(row['key'])}  {row['outcome']}  {changes}",
            markup=False,
        )

    summary = run(as_json if fmt is Format.json else as_text)
    if fmt is Format.json:
        if summary.already_imported:
            write_json({"dry_run": True, **summary.__dict__})
            return
        sys.stdout.write("[]\n" if first else "\n]\n")
        return
    if summary.already_imported:
        _print_summary(summary, fmt)
        return
    out.print(
        f"dry run: {summary.filename}: {summary.rows} rows: {summary.new} new, "
        f"{summary.changed} changed, {summary.unchanged} unchanged (not listed; --format json "
        f"lists every row); {summary.events} events would be recorded; nothing recorded",
        markup=False,
    )


def _shown(value: Any) -> str:
    return "(empty)" if value in (None, "") else str(value)


def _print_summary(s: "ImportSummary", fmt: Format) -> None:
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


DRY_RUN = typer.Option(
    "--dry-run", help="print what each row would record (new, changed, unchanged); record nothing"
)


def _import_command(kind: "Kind", help_text: str) -> None:
    def command(
        ctx: typer.Context,
        file: Path,
        by: Annotated[str, BY],
        fmt: Annotated[Format, FMT] = Format.text,
        dry_run: Annotated[bool, DRY_RUN] = False,
    ) -> None:
        _import(ctx, kind, file, by, fmt, dry_run)

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
_import_command(
    "grants",
    "Import one-off relief grants (临时救助), each paid once by the next payout run; caseworker.",
)


@import_app.command("list")
def import_list(
    ctx: typer.Context,
    fmt: Annotated[TableFormat, typer.Option("--format", help="table or json")] = (
        TableFormat.table
    ),
) -> None:
    """The imports, newest first: id (for import revert), file, who, when, rows, status."""
    from projections.registers import list_imports

    with services(ctx) as svc:
        svc.sync()
        imports = list_imports(svc.db)
    if fmt is TableFormat.json:
        write_json(imports)
        return
    from rich.table import Table

    table = Table(title=f"imports: {len(imports)}")
    for column in ("import_id", "file", "by", "recorded_at", "rows", "new", "changed", "status"):
        table.add_column(
            column, justify="right" if column in ("rows", "new", "changed") else "left"
        )
    for i in imports:
        status = i["status"] + (f" by {i['reverted_by']}" if i["status"] == "reverted" else "")
        table.add_row(
            i["import_id"],
            i["filename"],
            i["imported_by"] or i["started_by"] or "",
            (i["recorded_at"] or i["started_at"] or "")[:19].replace("T", " "),
            str(i["rows"] if i["rows"] is not None else ""),
            str(i["new"] if i["new"] is not None else ""),
            str(i["changed"] if i["changed"] is not None else ""),
            status,
        )
    out.print(table)


@import_app.command("revert")
def import_revert(
    ctx: typer.Context,
    import_ref: Annotated[str, typer.Argument(metavar="IMPORT_ID", help="from import list")],
    by: Annotated[str, BY],
    reason: Annotated[str, typer.Option("--reason", help="what was wrong with the file")],
    fmt: Annotated[Format, FMT] = Format.text,
) -> None:
    """Undo a mistaken cases file's decisions with compensating decisions (approver)."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        result = api.post(f"/reverts/{segment(import_ref)}", {"reason": reason, "by": by})
    else:
        from eligibility.revert import Reverter

        with services(ctx) as svc:
            result = dict(svc.service(Reverter).revert(import_ref, by=by, reason=reason).__dict__)
    if fmt is Format.json:
        write_json(result)
        return
    out.print(
        f"{result['import_id']} ({result['filename']}) reverted: {result['cases']} cases, "
        f"{result['opened']} of them opened by the file and now ended from their first day; "
        f"{result['events']} compensating events recorded. The next payout prepare pays "
        "arrears or raises recoveries for months already paid",
        markup=False,
    )
    recoveries = result["open_recoveries"]
    if recoveries:
        out.print(
            f"{len(recoveries)} recoveries raised before the revert are open on "
            f"these cases ({', '.join(recoveries[:5])}"
            f"{', …' if len(recoveries) > 5 else ''}): a month the revert gives "
            "back is paid again as arrears at the next prepare while its recovery stands (never "
            "netted): collect it as raised, and do not waive it for that reason",
            markup=False,
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
    from aidledger.cli.remote import remote

    check_input_file(file)
    day = day_or_today(ctx, effective_from)
    if (api := remote(ctx, by)) is not None:
        doc = api.upload("/config", file, **{"from": day.isoformat()})
        recorded, sha256, since = doc["recorded"], doc["sha256"], doc["effective_from"]
    else:
        with services(ctx) as svc:
            applied = svc.configs.apply(file, effective_from=day, by=by)
        recorded, sha256 = applied.recorded, applied.sha256
        since = applied.effective_from.isoformat()
    if recorded:
        out.print(f"{file.name}: programs config sha256:{sha256[:12]} in force from {since}")
    else:
        out.print(f"{file.name}: already in force from {since}; nothing recorded")


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
    from aidledger.cli.remote import remote
    from console.answers import end_deceased_doc

    day = day_or_today(ctx, as_of)
    if (api := remote(ctx, by)) is not None:
        body = {"as_of": day.isoformat(), "dry_run": dry_run, "by": by}
        doc = api.post("/cases/end-deceased", body)
    else:
        from eligibility.deceased import Deceased

        with services(ctx) as svc:
            result = svc.service(Deceased).end_deceased(as_of=day, by=by, dry_run=dry_run)
        doc = end_deceased_doc(result)
    if fmt is TableFormat.json:
        write_json(doc)
        return
    rows: list[dict[str, Any]] = doc["ended"]
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
    for left in doc["left"]:
        out.print(f"  left for another caseworker: {left['case_id']} ({left['why']})")
