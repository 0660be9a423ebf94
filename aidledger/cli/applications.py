"""Commands of the decision chain: ``import steps`` and ``application history``."""

from pathlib import Path
from typing import Annotated, Any

import typer

from aidledger.cli.common import (
    BY,
    FMT,
    VIEW_REASON,
    VIEWER,
    Format,
    TableFormat,
    check_input_file,
    day_or_today,
    fail,
    out,
    parsed,
    services,
    write_json,
)
from aidledger.cli.records import (
    DRY_RUN,
    import_app,
    import_through_server,
    import_with_dry_run,
)

application_app = typer.Typer(help="One application for assistance: its steps and its state.")


@import_app.command("steps")
def import_steps(
    ctx: typer.Context,
    file: Path,
    by: Annotated[str, BY],
    fmt: Annotated[Format, FMT] = Format.text,
    dry_run: Annotated[bool, DRY_RUN] = False,
) -> None:
    """Import the steps of applications (apply … approve); caseworker, or the approver for
    their own approvals. All or nothing."""
    from eligibility.applications import Steps

    check_input_file(file)
    if import_through_server(ctx, "/imports/steps", file, by, fmt, dry_run=dry_run):
        return
    with services(ctx) as svc:
        steps = svc.service(Steps)
        steps.max_input_bytes = svc.settings.max_input_bytes
        import_with_dry_run(steps, file, by, fmt, dry_run=dry_run, noun="steps", mask=True)


@application_app.command("history")
def application_history(
    ctx: typer.Context,
    application_id: str,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="state on YYYY-MM-DD (default today)")
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", help="as the ledger knew it at the end of YYYY-MM-DD"),
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
    by: Annotated[str | None, VIEWER] = None,
    reason: Annotated[str, VIEW_REASON] = "",
) -> None:
    """Every step of an application (who took it, who recorded it, when, from which line)
    and where it stood on a date (as known at a date). With --by: the applicant masked as
    that staff member sees them, and the view recorded in the access log."""
    from aidledger.cli.remote import remote, segment
    from ledger.errors import NotFound
    from ledger.period import parse_date

    day = day_or_today(ctx, as_of)
    known = parsed(parse_date, known_at) if known_at is not None else None
    if (api := remote(ctx, by)) is not None:
        doc = api.get(
            f"/applications/{segment(application_id)}/history",
            as_of=day.isoformat(),
            known_at=None if known is None else known.isoformat(),
            reason=reason or None,
        )
    else:
        from eligibility.applications import ApplicationHistory

        with services(ctx) as svc:
            service = svc.service(ApplicationHistory)
            service.timezone = svc.settings.timezone
            viewer = service.viewer(by, reason=reason, channel="cli")
            try:
                doc = service.history(application_id, as_of=day, known_at=known, viewer=viewer)
            except NotFound:
                fail(f"no application {application_id!r} in {svc.store.describe()}")
    if fmt is TableFormat.json:
        write_json(doc, indent=2)
        return
    _print_history(doc)


def _print_history(doc: dict[str, Any]) -> None:
    from rich.table import Table

    known = f", as known at the end of {doc['known_at']}" if doc["known_at"] else ""
    table = Table(
        title=f"application {doc['application_id']} (case {doc['case_id']}, {doc['program']}): "
        f"steps{known}"
    )
    for col in ("date", "step", "taken by", "outcome", "recorded (UTC)", "recorded by", "detail"):
        table.add_column(col, overflow="fold")
    for e in doc["events"]:
        taken = e["staff_id"] + (f" {e['staff_name']}" if e.get("staff_name") else "")
        table.add_row(
            e["date"],
            e["step"],
            taken,
            e["outcome"] or "",
            e["recorded_at"][:16].replace("T", " "),
            e["by"],
            (e["detail"] or "") + (f" [{e['source']}]" if e.get("source") else ""),
        )
    out.print(table)
    state = doc["state"]
    if state is None:
        out.print(f"as of {doc['as_of']}: not applied yet")
        return
    out.print(f"as of {doc['as_of']}: {state['status']}")
    for k, v in state.items():
        if k != "status" and v is not None:
            out.print(f"  {k}: {v}", markup=False)
