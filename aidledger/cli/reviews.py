"""Commands of periodic review and the caseload: ``import reviews``, ``reviews due`` and
``report movements``."""

from pathlib import Path
from typing import Annotated

import typer

from aidledger.cli.audit import report_app
from aidledger.cli.common import (
    BY,
    FMT,
    FORCE,
    OUT,
    Format,
    ReportFormat,
    TableFormat,
    check_input_file,
    check_out,
    day_or_today,
    parsed,
    period,
    print_rows,
    services,
    write_json,
)
from aidledger.cli.records import (
    DRY_RUN,
    import_app,
    import_through_server,
    import_with_dry_run,
)

reviews_app = typer.Typer(help="Periodic reviews (定期核查): which cases are due.")

#: The columns of ``reviews due``.
DUE_FIELDS = ("case_id", "program", "region_code", "last_review", "due", "days_overdue")


@import_app.command("reviews")
def import_reviews(
    ctx: typer.Context,
    file: Path,
    by: Annotated[str, BY],
    fmt: Annotated[Format, FMT] = Format.text,
    dry_run: Annotated[bool, DRY_RUN] = False,
) -> None:
    """Import periodic reviews (case_id, date, reviewer, outcome continue|adjust|terminate,
    monthly_amount, effective_from, next_review_months): caseworker, or an approver for
    reviews that adjust or terminate. All or nothing."""
    from eligibility.reviewing import Reviews

    check_input_file(file)
    if import_through_server(ctx, "/imports/reviews", file, by, fmt, dry_run=dry_run):
        return
    with services(ctx) as svc:
        reviews = svc.service(Reviews)
        reviews.max_input_bytes = svc.settings.max_input_bytes
        import_with_dry_run(reviews, file, by, fmt, dry_run=dry_run, noun="reviews", mask=False)


@reviews_app.command("due")
def reviews_due(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="due on or before YYYY-MM-DD (default today)")
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
) -> None:
    """Cases in effect and due for review by a date, most overdue first."""
    from aidledger.cli.remote import remote
    from console.answers import due_rows

    day = day_or_today(ctx, as_of)
    if (api := remote(ctx)) is not None:
        rows = api.get("/reviews/due", as_of=day.isoformat())
    else:
        from eligibility.reviewing import Reviews

        with services(ctx) as svc:
            rows = due_rows(svc.service(Reviews).due(day))
    if fmt is TableFormat.json:
        write_json(rows)
        return
    print_rows(
        rows,
        fmt,
        title=f"reviews due by {day.isoformat()}: {len(rows)}",
        fields=DUE_FIELDS,
        right=("days_overdue",),
    )


@report_app.command("movements")
def report_movements(
    ctx: typer.Context,
    period_: Annotated[str, typer.Option("--period", help="month YYYY-MM")],
    by_dims: Annotated[
        str, typer.Option("--by", help="program, department, region (county), village")
    ] = "program,region",
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
    out_file: Annotated[Path | None, OUT] = None,
    force: Annotated[bool, FORCE] = False,
    as_known_now: Annotated[
        bool,
        typer.Option(
            "--as-known-now",
            help="both days as the ledger knows them now (a drill), not as it knew them when "
            "the month began and ended",
        ),
    ] = False,
) -> None:
    """The month's caseload movements (增减变动) per group: start, opened, reinstated,
    terminated, amount_changed, end (start + opened + reinstated - terminated = end). Each
    day as the ledger knew it then: the report of a month never changes, and its end is the
    next month's start."""
    check_out(fmt, out_file)
    from aidledger.cli.remote import remote
    from eligibility.caseload import MOVEMENT_FIELDS, Caseload, parse_movement_dimensions
    from eligibility.movements import FIELDS
    from ledger.store import store_files

    month = period(period_)
    dims = parsed(parse_movement_dimensions, by_dims)
    if (api := remote(ctx)) is not None:
        known_now = "true" if as_known_now else None
        rows = api.get(
            "/reports/movements", period=str(month), by=",".join(dims), as_known_now=known_now
        )
        protected: tuple[Path, ...] = ()
    else:
        with services(ctx) as svc:
            caseload = svc.service(Caseload)
            caseload.timezone = svc.settings.timezone
            rows = caseload.movements(month, dims, as_known_now=as_known_now)
            protected = store_files(svc.store)
    print_rows(
        rows,
        fmt,
        title=f"movements {month}",
        fields=MOVEMENT_FIELDS,
        right=FIELDS,
        out_file=out_file,
        force=force,
        protected=protected,
    )
