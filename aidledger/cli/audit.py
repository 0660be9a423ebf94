"""Commands that read and work what was recorded: case history, findings, reports, the chain."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from aidledger.cli.common import (
    BY,
    FORCE,
    OUT,
    VIEW_REASON,
    VIEWER,
    ReportFormat,
    TableFormat,
    check_out,
    day_or_today,
    fail,
    out,
    parsed,
    period,
    print_head,
    print_rows,
    progress_bar,
    services,
    write_json,
)

case_app = typer.Typer(help="One case: its full history and its state as of a date.")
finding_app = typer.Typer(help="Work a finding: assign, comment, resolve.")
report_app = typer.Typer(help="Reports from the read models.")
projections_app = typer.Typer(help="Read models built from the event log.")


@case_app.command("history")
def history(
    ctx: typer.Context,
    case_id: str,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="state in force on YYYY-MM-DD (default today)")
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", help="as the ledger knew it at the end of YYYY-MM-DD"),
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
    by: Annotated[str | None, VIEWER] = None,
    reason: Annotated[str, VIEW_REASON] = "",
) -> None:
    """Every decision of a case and every event of its money, who did it and when, its state
    as of a date (as known at a date), and what it was due, sent and owed month by month.
    With --by: masked as that staff member sees it, and recorded in the access log."""
    from aidledger.cli.remote import remote, segment
    from ledger.errors import NotFound
    from ledger.period import parse_date

    day = day_or_today(ctx, as_of)
    known = parsed(parse_date, known_at) if known_at is not None else None
    if (api := remote(ctx, by)) is not None:
        doc = api.get(
            f"/cases/{segment(case_id)}/history",
            as_of=day.isoformat(),
            known_at=None if known is None else known.isoformat(),
            reason=reason or None,
        )
    else:
        with services(ctx) as svc:
            viewer = svc.history.viewer(by, reason=reason, channel="cli")
            try:
                doc = svc.history.history(case_id, as_of=day, known_at=known, viewer=viewer)
            except NotFound:
                fail(f"no case or grant {case_id!r} in {svc.store.describe()}")
    if fmt is TableFormat.json:
        write_json(doc, indent=2)
        return
    _print_history_table(doc)


#: The fields of an event shown in the table's details (JSON has them all).
_DETAILS = (
    "application_id",
    "step",
    "staff_id",
    "outcome",
    "monthly_amount",
    "household_size",
    "kind",
    "amount",
    "status",
    "reason",
    "reason_code",
    "booked_on",
    "resolution",
    "comment",
    "finding_type",
    "finding_id",
    "changes",
    "effective_to",
    "bank_account",
    "file_name",
    "payment_id",
    "run_id",
    "recovery_id",
    "decided_by",
    "approved_by",
    "date_of_death",
)


def _print_history_table(doc: dict[str, Any]) -> None:
    from rich.table import Table

    known = f", as known at the end of {doc['known_at']}" if doc["known_at"] else ""
    table = Table(title=f"case {doc['case_id']}: history{known}", show_lines=False)
    for col in ("recorded (UTC)", "event", "by", "from / period", "details"):
        table.add_column(col, overflow="fold")
    for e in doc["events"]:
        details = ", ".join(
            f"{k}={_shown(e[k])}" for k in _DETAILS if e.get(k) not in ("", None, {}, [], ())
        )
        who = e["by"] + (f" {e['by_name']}" if e.get("by_name") else "")
        table.add_row(
            e["recorded_at"][:16].replace("T", " "),
            e["type"],
            who,
            e["effective_from"] or e["period"] or "",
            details + (f" [{e['source']}]" if e.get("source") else ""),
        )
    out.print(table)
    steps = [e for e in doc["events"] if e["type"].startswith("Application")]
    if steps:
        app_id, last = steps[0]["application_id"], steps[-1]
        out.print(
            f"application {app_id}: {len(steps)} steps, the last {last['step']} on "
            f"{last['effective_from']} by {last['staff_id']} (aidledger application history "
            f"{app_id})",
            markup=False,
        )
    state = doc["state"]
    grant = any(e["type"] == "GrantApproved" for e in doc["events"])
    if state is None:
        out.print(f"as of {doc['as_of']}: {'not yet decided' if grant else 'not in effect'}")
    else:
        out.print(f"as of {doc['as_of']}: {'decided' if grant else 'in effect'}")
        for k, v in state.items():
            out.print(f"  {k}: {'' if v is None else v}")
    if doc["money"]:
        from projections.trail import MONEY_FIELDS

        money = Table(title="money by month (yuan)")
        for col in MONEY_FIELDS:
            money.add_column(
                col.replace("_", " "),
                justify="left" if col in ("period", "program", "kind") else "right",
                overflow="fold",
            )
        for row in doc["money"]:
            money.add_row(*(str(row[c]) for c in MONEY_FIELDS))
        out.print(money)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k} {a}→{b}" for k, (a, b) in value.items())
    return str(value)


def findings(
    ctx: typer.Context,
    period_: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    type_: Annotated[str | None, typer.Option("--type")] = None,
    status: Annotated[str, typer.Option("--status", help="open, resolved or all")] = "open",
    severity: Annotated[str | None, typer.Option("--severity", help="e.g. critical")] = None,
    region_prefix: Annotated[
        str | None, typer.Option("--region", help="a region code or its first digits")
    ] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
    out_file: Annotated[Path | None, OUT] = None,
    force: Annotated[bool, FORCE] = False,
    by: Annotated[str | None, VIEWER] = None,
    reason: Annotated[str, VIEW_REASON] = "",
) -> None:
    """List the findings of a period. With --by: masked as that staff member sees them, and
    the listing recorded in the access log."""
    check_out(fmt, out_file)
    from ledger.store import store_files
    from reconciliation.service import FINDING_FIELDS, FINDING_STATUSES

    if status not in FINDING_STATUSES:
        raise typer.BadParameter(f"--status must be one of {', '.join(FINDING_STATUSES)}")
    if region_prefix is not None and not (region_prefix.isascii() and region_prefix.isdigit()):
        raise typer.BadParameter("--region must be digits: a region code or its first digits")
    from aidledger.cli.remote import remote

    month = period(period_)
    if (api := remote(ctx, by)) is not None:
        rows = api.get(
            "/findings",
            period=str(month),
            type=type_,
            status=status,
            region=region_prefix,
            severity=severity,
            reason=reason or None,
        )
        protected: tuple[Path, ...] = ()
    else:
        with services(ctx) as svc:
            viewer = svc.reconciliation.viewer(by, reason=reason, channel="cli")
            rows = svc.reconciliation.findings(
                period=str(month),
                viewer=viewer,
                type_=type_,
                status=status,
                region=region_prefix,
                severity=severity,
            )
            protected = store_files(svc.store)
    if fmt is ReportFormat.table:
        _findings_table(rows, f"findings {month} ({status})")
        return
    print_rows(
        rows,
        fmt,
        title=f"findings {month} ({status})",
        fields=(*FINDING_FIELDS, "file_name"),
        out_file=out_file,
        force=force,
        protected=protected,
    )


def _findings_table(rows: list[dict[str, Any]], title: str) -> None:
    out.print(findings_table(rows, title))


def findings_table(rows: list[dict[str, Any]], title: str) -> Any:
    """Findings as a table that stays readable in 100 columns: the ids and amounts whole, the
    detail folded beneath its width."""
    from rich.table import Table

    table = Table(title=title, expand=False)
    table.add_column("finding", no_wrap=True, min_width=18)
    table.add_column("type / severity", overflow="fold", max_width=22)
    table.add_column("case", no_wrap=True)
    table.add_column("amount", justify="right", no_wrap=True)
    table.add_column("status", overflow="fold", max_width=10)
    table.add_column("detail", overflow="fold", ratio=1)
    for r in rows:
        status = r["status"] + (f" → {r['assigned_to']}" if r.get("assigned_to") else "")
        table.add_row(
            r["finding_id"],
            f"{r['type']}\n{r['severity']}",
            r["case_id"] or "",
            r["amount"] or "",
            status,
            r["detail"] + (f" [{r['file_name']}]" if r.get("file_name") else ""),
        )
    return table


def access_log(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case", help="views of one case")] = None,
    staff: Annotated[str | None, typer.Option("--staff", help="views by one staff member")] = None,
    since: Annotated[str | None, typer.Option("--since", help="from YYYY-MM-DD on")] = None,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
    by: Annotated[
        str | None, typer.Option("--by", help="staff id of the reader (auditor, supervisor, admin)")
    ] = None,
) -> None:
    """Who looked at whose personal data, when and why: case histories, findings listings,
    bank files (readers: auditors, supervisors, admins)."""
    from aidledger.cli.remote import remote
    from ledger.period import parse_date
    from projections.access import ACCESS_FIELDS

    day = parsed(parse_date, since) if since is not None else None
    if (api := remote(ctx, by)) is not None:
        since_day = None if day is None else day.isoformat()
        rows = api.get("/access-log", case=case, staff=staff, since=since_day)
    else:
        with services(ctx) as svc:
            reader = None if by is None else svc.access.actor(by)
            rows = svc.access.entries(reader, case_id=case, staff_id=staff, since=day)
    if fmt is TableFormat.json:
        write_json(rows)
        return
    print_rows(
        [{k: r[k] for k in ACCESS_FIELDS if k != "access_id"} for r in rows],
        fmt,
        title="access log",
        fields=[f for f in ACCESS_FIELDS if f != "access_id"],
        right=("cases",),
    )


@finding_app.command("assign")
def finding_assign(
    ctx: typer.Context,
    finding_id: str,
    to: Annotated[str, typer.Option("--to", help="staff id")],
    by: Annotated[str, BY],
) -> None:
    """Assign a finding to a staff member (supervisor)."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        api.post(f"/findings/{segment(finding_id)}/assign", {"to": to, "by": by})
    else:
        with services(ctx) as svc:
            svc.reconciliation.assign(finding_id, to=to, by=by)
    out.print(f"{finding_id} assigned to {to}")


@finding_app.command("comment")
def finding_comment(
    ctx: typer.Context,
    finding_id: str,
    text: Annotated[str, typer.Option("--text")],
    by: Annotated[str, BY],
) -> None:
    """Add a comment to a finding (any staff member in its region, auditors included)."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        api.post(f"/findings/{segment(finding_id)}/comment", {"text": text, "by": by})
    else:
        with services(ctx) as svc:
            svc.reconciliation.comment(finding_id, text=text, by=by)
    out.print(f"{finding_id}: comment recorded")


@finding_app.command("resolve")
def finding_resolve(
    ctx: typer.Context,
    finding_id: str,
    reason: Annotated[
        str, typer.Option("--reason", help="recovered, false_positive, corrected or referred")
    ],
    by: Annotated[str, BY],
    comment: Annotated[str, typer.Option("--comment")] = "",
) -> None:
    """Resolve a finding with a reason (supervisor or finance_approver, no interest; a
    critical finding's false_positive needs a supervisor)."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        body = {"reason": reason, "comment": comment, "by": by}
        api.post(f"/findings/{segment(finding_id)}/resolve", body)
    else:
        with services(ctx) as svc:
            svc.reconciliation.resolve(finding_id, resolution=reason, comment=comment, by=by)
    out.print(f"{finding_id} resolved ({reason})")


@finding_app.command("history")
def finding_history(ctx: typer.Context, finding_id: str) -> None:
    """Every event of a finding (JSON)."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx)) is not None:
        events = api.get(f"/findings/{segment(finding_id)}/history")
    else:
        with services(ctx) as svc:
            events = svc.reconciliation.history(finding_id)
    if not events:
        fail(f"no finding {finding_id!r}")
    write_json(events, indent=2)


@report_app.command("payouts")
def report_payouts(
    ctx: typer.Context,
    period_: Annotated[str, typer.Option("--period", help="payment period YYYY-MM")],
    by_dims: Annotated[str, typer.Option("--by")] = "program,department,region",
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
    out_file: Annotated[Path | None, OUT] = None,
    force: Annotated[bool, FORCE] = False,
) -> None:
    """Monthly payouts (approved runs) per program, department and region."""
    check_out(fmt, out_file)
    from ledger.store import store_files
    from projections.reports import REPORT_FIELDS, parse_dimensions, payouts_report

    month = period(period_)
    dims = parsed(parse_dimensions, by_dims)
    with services(ctx) as svc:
        rows = payouts_report(svc.db, str(month), dims)
        print_rows(
            rows,
            fmt,
            title=f"payouts {month}",
            fields=REPORT_FIELDS,
            right=("cases", "payments", "amount"),
            out_file=out_file,
            force=force,
            protected=store_files(svc.store),
        )
        print_head(svc)


class NoticeStage(StrEnum):
    """Which public notice: before approval, of those paid (the default), of exits."""

    pre_approval = "pre-approval"
    payees = "payees"
    exits = "exits"


@report_app.command("notice")
def report_notice(
    ctx: typer.Context,
    region: Annotated[str, typer.Option("--region", help="6- or 12-digit region code")],
    stage: Annotated[NoticeStage, typer.Option("--stage")] = NoticeStage.payees,
    period_: Annotated[
        str | None,
        typer.Option("--period", help="payees, exits: the month YYYY-MM (default this month)"),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="pre-approval: the notices running on YYYY-MM-DD (today)"),
    ] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
    out_file: Annotated[Path | None, OUT] = None,
    force: Annotated[bool, FORCE] = False,
) -> None:
    """The public-notice 公示 list, print-ready: title, issuing department, date, Chinese
    program and place names, totals; names and id numbers masked. --stage payees (who is
    paid for a month), pre-approval (applications in their notice before approval), exits
    (cases ended in a month)."""
    check_out(fmt, out_file)
    from ledger.ids import parse_region_code
    from ledger.period import Period
    from ledger.spreadsheet import Sheet
    from ledger.store import store_files
    from projections.reports import notice_document

    if stage is NoticeStage.pre_approval and period_ is not None:
        raise typer.BadParameter("--period is for --stage payees or exits: give --as-of")
    if stage is not NoticeStage.pre_approval and as_of is not None:
        raise typer.BadParameter("--as-of is for --stage pre-approval: give --period")
    today = ctx.obj.current_date()
    month = period(period_) if period_ is not None else Period.of(today)
    day = day_or_today(ctx, as_of)
    code = parsed(parse_region_code, region)
    with services(ctx) as svc:
        if stage is NoticeStage.pre_approval:
            from eligibility.notices import pre_approval_notice

            notice = pre_approval_notice(svc.db, svc.config, code, day)
        elif stage is NoticeStage.exits:
            from eligibility.notices import exits_notice

            notice = exits_notice(svc.db, svc.config, code, month, today)
        else:
            notice = notice_document(svc.db, svc.config, str(month), code, today)
        protected = store_files(svc.store)
    if fmt is ReportFormat.json:
        write_json(notice.rows, out_file=out_file, force=force, protected=protected)
        return
    if fmt is ReportFormat.table:
        _print_notice(notice)
        return
    rows = [*notice.rows, *notice.totals]
    fields, labels = notice.fields, notice.labels
    sheet = Sheet("公示", fields, rows, heading=notice.heading, labels=labels)
    labelled = [{labels[f]: r.get(f) for f in fields} for r in rows]
    print_rows(
        labelled,
        fmt,
        title=notice.title,
        fields=[labels[f] for f in fields],
        out_file=out_file,
        force=force,
        sheet=sheet,
        protected=protected,
    )


def _print_notice(notice: Any) -> None:
    from rich.table import Table

    table = Table(title=notice.title, caption="\n".join(notice.heading[1:]))
    for f in notice.fields:
        table.add_column(notice.labels[f], justify="right" if f == "amount" else "left")
    for r in [*notice.rows, *notice.totals]:
        table.add_row(*("" if r.get(f) is None else str(r[f]) for f in notice.fields))
    out.print(table)


@projections_app.command("rebuild")
def rebuild(ctx: typer.Context) -> None:
    """Drop and rebuild every read model from the event log."""
    from projections.runner import reset

    with services(ctx) as svc:
        reset(svc.db, svc.models)
        head = svc.app.recorder.max_notification_id() or 0
        with progress_bar("rebuilding read models", head) as advance:
            last = [0]

            def on_page(position: int, _head: int) -> None:
                if advance:
                    advance(position - last[0])
                last[0] = position

            applied = svc.sync(on_page)
        out.print(f"read models rebuilt: {applied} events applied, log head {head}")


def verify(
    ctx: typer.Context,
    head: Annotated[
        str | None,
        typer.Option(
            "--head", help="a head hash anchored earlier (hex): must still be in the chain"
        ),
    ] = None,
) -> None:
    """Re-check the tamper-evident chain over the stored events; exit 1 naming the first broken."""
    from ledger import chain

    anchor = None
    if head is not None:
        try:
            anchor = bytes.fromhex(head.removeprefix("sha256:"))
        except ValueError:
            raise typer.BadParameter("--head must be a hex SHA-256 hash") from None
    with services(ctx) as svc:
        total = svc.app.recorder.max_notification_id() or 0
        with progress_bar("verifying the chain", total) as advance:
            verdict = chain.verify(svc.db, anchor, advance)
    if not verdict.ok:
        fail(f"chain broken: {verdict.problem} ({verdict.events} events verified before it)")
    if anchor is not None and not verdict.anchor_found:
        fail(f"anchored head {head} is not in the chain: the log was rewritten since")
    out.print(f"chain intact: {verdict.events} events; head {verdict.head or '(empty log)'}")
