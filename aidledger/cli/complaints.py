"""Commands of verification requests to other departments (核查) and complaints (举报投诉).

Who complained is asked for when a complaint is recorded and never printed by any command.
"""

from enum import StrEnum
from typing import Annotated, Any

import typer

from aidledger.cli.common import (
    BY,
    TableFormat,
    day_or_today,
    err,
    out,
    parsed,
    print_rows,
    services,
    write_json,
)

verification_app = typer.Typer(
    help="Verification requests to other departments (核查): request, answer."
)
complaint_app = typer.Typer(
    help="Complaints (举报投诉): open, assign, comment, refer, respond, resolve, reopen, history."
)


# The choices of `ledger.complaint` (CHANNELS, CATEGORIES, OUTCOMES, STATUSES), spelled out so
# that the command line starts without the domain; a test holds them equal.
class Channel(StrEnum):
    hotline = "hotline"
    letter = "letter"
    visit = "visit"
    web = "web"
    email = "email"


class Category(StrEnum):
    wrongly_covered = "wrongly_covered"
    missed = "missed"
    fraud = "fraud"
    favouritism = "favouritism"
    funds = "funds"
    service = "service"


class Outcome(StrEnum):
    substantiated = "substantiated"
    partly_substantiated = "partly_substantiated"
    unsubstantiated = "unsubstantiated"


class ComplaintStatus(StrEnum):
    open = "open"  # every status but resolved
    received = "received"
    assigned = "assigned"
    referred = "referred"
    responded = "responded"
    resolved = "resolved"
    reopened = "reopened"
    all = "all"


# -- verification requests ------------------------------------------------------------------------


@verification_app.command("request")
def verification_request(
    ctx: typer.Context,
    case: Annotated[str, typer.Option("--case", help="the case to verify")],
    department: Annotated[
        str, typer.Option("--department", help="the department asked, e.g. public_security")
    ],
    due: Annotated[str, typer.Option("--due", help="answer due by YYYY-MM-DD")],
    by: Annotated[str, BY],
) -> None:
    """Ask another department to verify something about a case (caseworker, in region, no
    interest); unanswered after its due day, it raises a verification_overdue finding."""
    from aidledger.cli.remote import remote
    from eligibility.verifications import Verifications
    from ledger.period import parse_date

    due_day = parsed(parse_date, due)
    if (api := remote(ctx, by)) is not None:
        body = {"case": case, "department": department, "due": due_day.isoformat(), "by": by}
        doc = api.post("/verifications", body)
        request_id, new = doc["request_id"], doc["new"]
    else:
        with services(ctx) as svc:
            r = svc.service(Verifications).request(
                case_id=case, department=department, due=due_day, by=by
            )
        request_id, new = r.request_id, r.new
    out.print(request_id)
    if new:
        err.print(f"{request_id}: {department} asked about case {case}, due {due_day}")
    else:
        err.print(f"{request_id}: already requested today (due {due_day}); nothing recorded")


@verification_app.command("answer")
def verification_answer(
    ctx: typer.Context,
    request_id: str,
    detail: Annotated[str, typer.Option("--detail", help="what the department answered")],
    by: Annotated[str, BY],
) -> None:
    """Record a department's answer (caseworker, in region, no interest): it closes the
    request's verification_overdue finding."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        body = {"detail": detail, "by": by}
        closed_finding = api.post(f"/verifications/{segment(request_id)}/answer", body)[
            "closed_finding"
        ]
    else:
        from eligibility.verifications import Verifications

        with services(ctx) as svc:
            closed_finding = (
                svc.service(Verifications).answer(request_id, detail=detail, by=by).closed_finding
            )
    closed = f"; finding {closed_finding} closed" if closed_finding else ""
    out.print(f"{request_id} answered, recorded by {by}{closed}")


def verifications(
    ctx: typer.Context,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="only those unanswered past their due day")
    ] = False,
    case: Annotated[str | None, typer.Option("--case", help="one case")] = None,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
) -> None:
    """Verification requests, oldest due first, with days overdue as of today."""
    from eligibility.verifications import Verifications

    with services(ctx) as svc:
        rows = svc.service(Verifications).list(overdue=overdue, case_id=case)
    if fmt is TableFormat.json:
        write_json(rows)
        return
    title = "verification requests" + (" overdue" if overdue else "")
    shown = [{f: r[f] for f in _REQUEST_TABLE} for r in rows]
    print_rows(shown, fmt, title=title, fields=_REQUEST_TABLE, right=("days_overdue",))


#: The columns of the requests table (JSON has every field).
_REQUEST_TABLE = (
    "request_id",
    "case_id",
    "department",
    "requested_on",
    "due",
    "status",
    "answered_on",
    "days_overdue",
    "finding_id",
)


# -- complaints ------------------------------------------------------------------------------


def _through_api(
    ctx: typer.Context, complaint_id: str, act: str, by: str, **body: str
) -> dict[str, Any] | None:
    """A complaint's act sent through the server (`aidledger.cli.remote`): what it answered,
    or None when the command acts on the store."""
    from aidledger.cli.remote import remote, segment

    api = remote(ctx, by)
    if api is None:
        return None
    return dict(api.post(f"/complaints/{segment(complaint_id)}/{act}", {**body, "by": by}))


@complaint_app.command("open")
def complaint_open(
    ctx: typer.Context,
    channel: Annotated[Channel, typer.Option("--channel")],
    category: Annotated[Category, typer.Option("--category")],
    summary: Annotated[str, typer.Option("--summary", help="what the complaint says")],
    by: Annotated[str, BY],
    case: Annotated[str | None, typer.Option("--case", help="about this case")] = None,
    payment: Annotated[str | None, typer.Option("--payment", help="about this payment")] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="about this region (6 or 12 digits)")
    ] = None,
    anonymous: Annotated[bool, typer.Option("--anonymous", help="no name given")] = False,
    complainant: Annotated[
        str | None,
        typer.Option("--complainant", help="who complained (kept encrypted, never shown)"),
    ] = None,
    phone: Annotated[
        str | None, typer.Option("--phone", help="their phone (kept encrypted, never shown)")
    ] = None,
) -> None:
    """Record a complaint received today (caseworker); prints its id. Its reply is due after
    the category's complaint_days (programs config)."""
    from aidledger.cli.remote import remote
    from eligibility.complaints import Complaints

    if (api := remote(ctx, by)) is not None:
        body = {
            "channel": channel.value,
            "category": category.value,
            "summary": summary,
            "case": case,
            "payment": payment,
            "region": region,
            "anonymous": anonymous,
            "complainant": complainant,
            "phone": phone,
            "by": by,
        }
        c = api.post("/complaints", body)
    else:
        with services(ctx) as svc:
            opened = svc.service(Complaints).open(
                channel=channel.value,
                category=category.value,
                summary=summary,
                case_id=case,
                payment_id=payment,
                region=region,
                anonymous=anonymous,
                complainant=complainant,
                phone=phone,
                by=by,
            )
        c = {
            "complaint_id": opened.complaint_id,
            "category": opened.category,
            "channel": opened.channel,
            "about": opened.case_id or opened.payment_id or opened.region_code or "no case",
            "received_on": str(opened.received_on),
            "due": str(opened.due),
            "anonymous": opened.anonymous,
        }
    out.print(c["complaint_id"])
    err.print(
        f"{c['complaint_id']}: {c['category']} by {c['channel']} about {c['about']}, received "
        f"{c['received_on']}, reply due {c['due']}" + (" (anonymous)" if c["anonymous"] else "")
    )


@complaint_app.command("assign")
def complaint_assign(
    ctx: typer.Context,
    complaint_id: str,
    to: Annotated[str, typer.Option("--to", help="staff id")],
    by: Annotated[str, BY],
) -> None:
    """Assign a complaint (supervisor) to a staff member in its region who has no interest in
    its case and did not decide or approve it."""
    from eligibility.complaints import Complaints

    if not _through_api(ctx, complaint_id, "assign", by, to=to):
        with services(ctx) as svc:
            svc.service(Complaints).assign(complaint_id, to=to, by=by)
    out.print(f"{complaint_id} assigned to {to}")


@complaint_app.command("comment")
def complaint_comment(
    ctx: typer.Context,
    complaint_id: str,
    text: Annotated[str, typer.Option("--text")],
    by: Annotated[str, BY],
) -> None:
    """Add a comment (any staff member in its region, auditors included)."""
    from eligibility.complaints import Complaints

    if not _through_api(ctx, complaint_id, "comment", by, text=text):
        with services(ctx) as svc:
            svc.service(Complaints).comment(complaint_id, text=text, by=by)
    out.print(f"{complaint_id}: comment recorded")


@complaint_app.command("refer")
def complaint_refer(
    ctx: typer.Context,
    complaint_id: str,
    to: Annotated[str, typer.Option("--to", help="the body it goes to, e.g. 纪检监察")],
    reason: Annotated[str, typer.Option("--reason", help="why (recorded)")],
    by: Annotated[str, BY],
) -> None:
    """Refer a complaint to another body (caseworker or supervisor, no interest)."""
    from eligibility.complaints import Complaints

    if not _through_api(ctx, complaint_id, "refer", by, to=to, reason=reason):
        with services(ctx) as svc:
            svc.service(Complaints).refer(complaint_id, to=to, reason=reason, by=by)
    out.print(f"{complaint_id} referred")


@complaint_app.command("respond")
def complaint_respond(
    ctx: typer.Context,
    complaint_id: str,
    detail: Annotated[str, typer.Option("--detail", help="the reply given (答复)")],
    by: Annotated[str, BY],
) -> None:
    """Record the reply given to the complainant (its assignee, or a supervisor; no
    interest): the complaint is no longer overdue."""
    from eligibility.complaints import Complaints

    if not _through_api(ctx, complaint_id, "respond", by, detail=detail):
        with services(ctx) as svc:
            svc.service(Complaints).respond(complaint_id, reply=detail, by=by)
    out.print(f"{complaint_id}: reply recorded")


@complaint_app.command("resolve")
def complaint_resolve(
    ctx: typer.Context,
    complaint_id: str,
    outcome: Annotated[Outcome, typer.Option("--outcome")],
    detail: Annotated[str, typer.Option("--detail", help="what was found and done")],
    by: Annotated[str, BY],
) -> None:
    """Resolve a complaint (supervisor; not who decided or approved its case, no interest). A
    substantiated fraud or favouritism complaint raises a complaint_substantiated finding."""
    from eligibility.complaints import Complaints

    done = _through_api(ctx, complaint_id, "resolve", by, outcome=outcome.value, detail=detail)
    if done:
        finding_id = done["finding_id"]
    else:
        with services(ctx) as svc:
            c = svc.service(Complaints).resolve(
                complaint_id, outcome=outcome.value, detail=detail, by=by
            )
        finding_id = c.finding_id
    linked = f"; finding {finding_id}" if finding_id else ""
    out.print(f"{complaint_id} resolved ({outcome.value}){linked}")


@complaint_app.command("reopen")
def complaint_reopen(
    ctx: typer.Context,
    complaint_id: str,
    reason: Annotated[str, typer.Option("--reason", help="why (recorded)")],
    by: Annotated[str, BY],
) -> None:
    """Reopen a resolved complaint (supervisor): a new reply is due."""
    from eligibility.complaints import Complaints

    done = _through_api(ctx, complaint_id, "reopen", by, reason=reason)
    if done:
        due = done["due"]
    else:
        with services(ctx) as svc:
            due = str(svc.service(Complaints).reopen(complaint_id, reason=reason, by=by).due)
    out.print(f"{complaint_id} reopened; reply due {due}")


@complaint_app.command("history")
def complaint_history(
    ctx: typer.Context,
    complaint_id: str,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="state on YYYY-MM-DD (default today)")
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", help="as the ledger knew it at the end of YYYY-MM-DD"),
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
) -> None:
    """Every event of a complaint, who did it and when, and its state as of a date (as known
    at a date). Who complained is never shown."""
    from aidledger.cli.remote import remote, segment
    from eligibility.complaints import Complaints
    from ledger.period import parse_date

    day = day_or_today(ctx, as_of)
    known = parsed(parse_date, known_at) if known_at is not None else None
    if (api := remote(ctx)) is not None:
        doc = api.get(
            f"/complaints/{segment(complaint_id)}/history",
            as_of=day.isoformat(),
            known_at=None if known is None else known.isoformat(),
        )
    else:
        with services(ctx) as svc:
            doc = svc.service(Complaints).history(
                complaint_id, as_of=day, known_at=known, timezone=svc.settings.timezone
            )
    if fmt is TableFormat.json:
        write_json(doc, indent=2)
        return
    _print_history(doc)


#: The fields of an event shown in the history table's details (JSON has them all).
_DETAILS = (
    "channel",
    "category",
    "case_id",
    "payment_id",
    "region_code",
    "complainant",
    "due",
    "assignee",
    "referred_to",
    "reason",
    "outcome",
    "finding_id",
    "comment",
    "reply",
    "detail",
    "summary",
)


def _print_history(doc: dict[str, Any]) -> None:
    from rich.table import Table

    known = f", as known at the end of {doc['known_at']}" if doc["known_at"] else ""
    table = Table(title=f"complaint {doc['complaint_id']}: history{known}")
    for col in ("recorded (UTC)", "event", "by", "on", "details"):
        table.add_column(col, overflow="fold")
    for e in doc["events"]:
        details = ", ".join(f"{k}={e[k]}" for k in _DETAILS if e.get(k) not in ("", None))
        who = e["by"] + (f" {e['by_name']}" if e.get("by_name") else "")
        on = e.get("on") or e.get("received_on") or ""
        table.add_row(e["recorded_at"][:16].replace("T", " "), e["type"], who, on, details)
    out.print(table)
    state = doc["state"]
    if state is None:
        out.print(f"as of {doc['as_of']}: not received yet")
        return
    late = f", {state['days_overdue']} day(s) overdue" if state["days_overdue"] else ""
    out.print(f"as of {doc['as_of']}: {state['status']}, reply due {state['due']}{late}")
    for k, v in state.items():
        if v not in (None, "") and k not in ("status", "due", "days_overdue"):
            out.print(f"  {k}: {v}")


def complaints(
    ctx: typer.Context,
    status: Annotated[
        ComplaintStatus, typer.Option("--status", help="open (not resolved), a status, or all")
    ] = ComplaintStatus.open,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="only those without a reply past their due day")
    ] = False,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
) -> None:
    """Complaints, oldest due first, with days overdue as of today (never who complained)."""
    from aidledger.cli.remote import remote
    from eligibility.complaints import Complaints
    from projections.complaints import COMPLAINT_FIELDS

    if (api := remote(ctx)) is not None:
        rows = api.get("/complaints", status=status.value, overdue="true" if overdue else None)
    else:
        with services(ctx) as svc:
            rows = svc.service(Complaints).list(status=status.value, overdue=overdue)
    title = f"complaints ({status.value}{', overdue' if overdue else ''})"
    if fmt is TableFormat.json:
        print_rows(rows, fmt, title=title, fields=COMPLAINT_FIELDS)
        return
    out.print(_complaints_table(rows, title))


def _complaints_table(rows: list[dict[str, Any]], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("complaint", no_wrap=True)
    table.add_column("received", no_wrap=True)
    table.add_column("category / channel", overflow="fold", max_width=18)
    table.add_column("about", overflow="fold", max_width=28)
    table.add_column("status", overflow="fold", max_width=14)
    table.add_column("due", no_wrap=True)
    table.add_column("overdue", justify="right", no_wrap=True)
    table.add_column("summary", overflow="fold", ratio=1)
    for r in rows:
        status = r["status"] + (f" → {r['assigned_to']}" if r.get("assigned_to") else "")
        if r.get("outcome"):
            status += f"\n{r['outcome']}"
        if r.get("finding_id"):
            status += f"\n{r['finding_id']}"
        table.add_row(
            r["complaint_id"],
            r["received_on"],
            f"{r['category']}\n{r['channel']}",
            r["case_id"] or r["payment_id"] or r["region_code"] or "",
            status,
            r["due"],
            str(r["days_overdue"] or ""),
            r["summary"],
        )
    return table
