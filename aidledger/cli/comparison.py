"""Commands of households and data comparison (核对): import households, import comparison,
compare."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aidledger.cli.common import (
    BY,
    FMT,
    Format,
    check_input_file,
    day_or_today,
    out,
    period,
    progress_bar,
    services,
    write_json,
)
from aidledger.cli.records import (
    DRY_RUN,
    _import_command,
    _print_summary,
    import_app,
    print_dry_run,
)
from ledger.comparison_terms import SOURCES

#: The sources a comparison file may come from (`ledger.comparison_terms.SOURCES`).
Source = StrEnum("Source", {s: s for s in SOURCES})  # type: ignore[misc]

_import_command(
    "households",
    "Import households (case_id, member_id_number, member_name, relation, from, to): who "
    "belongs to each case's household and when; caseworker.",
)


@import_app.command("comparison")
def import_comparison(
    ctx: typer.Context,
    file: Path,
    source: Annotated[Source, typer.Option("--source", help="the department's kind of record")],
    by: Annotated[str, BY],
    fmt: Annotated[Format, FMT] = Format.text,
    dry_run: Annotated[bool, DRY_RUN] = False,
) -> None:
    """Import another department's records (核对) of one source: id_number, source_ref,
    as_of, value, detail (other_benefit: id_number, department, benefit, monthly_amount,
    from, to); caseworker."""
    from aidledger.cli.records import import_through_server

    check_input_file(file)
    if import_through_server(
        ctx, "/imports/comparison", file, by, fmt, dry_run=dry_run, source=str(source)
    ):
        return
    from eligibility.comparison_import import ComparisonImporter

    with services(ctx) as svc:
        importer = svc.service(ComparisonImporter)
        importer.max_input_bytes = svc.settings.max_input_bytes
        if dry_run:
            print_dry_run(
                lambda report: importer.import_comparison(
                    file, source=str(source), by=by, report=report
                ),
                fmt,
            )
            return
        rows = importer.count_lines(file)
        with progress_bar(f"importing {file.name}", rows) as advance:
            summary = importer.import_comparison(file, source=str(source), by=by, progress=advance)
    _print_summary(summary, fmt)


def compare(
    ctx: typer.Context,
    period_: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    by: Annotated[str, BY],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="only records known on this day (YYYY-MM-DD; default today)"),
    ] = None,
    fmt: Annotated[Format, FMT] = Format.text,
) -> None:
    """Compare the month's cases' households with other departments' records; raise the
    findings that are new (caseworker or supervisor)."""
    from aidledger.cli.remote import remote

    month, day = period(period_), day_or_today(ctx, as_of)
    if (api := remote(ctx, by)) is not None:
        r = api.post("/compare", {"period": str(month), "as_of": day.isoformat(), "by": by})
    else:
        from eligibility.comparisons import Comparisons

        with services(ctx) as svc:
            r = dict(svc.service(Comparisons).compare(month, as_of=day, by=by).__dict__)
    if fmt is Format.json:
        write_json(r)
        return
    raised = ", ".join(f"{t} {n}" for t, n in sorted(r["raised"].items())) or "none"
    out.print(
        f"compared {r['period']} as of {r['as_of']}: {r['cases']} cases with records; new "
        f"findings: {raised}"
    )
