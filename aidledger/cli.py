"""The `aidledger` command line. Exit codes: 0 done, 1 input refused, 2 usage error."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aidledger.settings import Settings
from aidledger.wiring import Services, open_services
from ledger import chain
from ledger.case import case_aggregate_id
from ledger.errors import AidLedgerError, InvalidValue
from ledger.history import case_history
from ledger.ids import parse_region_code
from ledger.imports import ImportSummary, Kind
from ledger.money import format_fen
from ledger.period import Period, parse_date
from projections.reports import (
    NOTICE_FIELDS,
    REPORT_FIELDS,
    notice_report,
    parse_dimensions,
    payouts_report,
)
from projections.runner import reset
from reconciliation.service import list_findings

app = typer.Typer(
    help="aidledger: event-sourced ledger and disbursement tracker for social assistance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(help="Record an input file's rows as events (all or nothing).")
case_app = typer.Typer(help="One case: its full history and its state as of a date.")
projections_app = typer.Typer(help="Read models built from the event log.")
payout_app = typer.Typer(help="The monthly payout: prepare, approve, release, export.")
report_app = typer.Typer(help="Reports from the read models.")
bank_app = typer.Typer(help="Bank return files: pain.002, camt.054, CSV 回盘 by profile.")
finding_app = typer.Typer(help="Work a finding: assign, comment, resolve.")
app.add_typer(bank_app, name="bank")
app.add_typer(finding_app, name="finding")
app.add_typer(import_app, name="import")
app.add_typer(payout_app, name="payout")
app.add_typer(report_app, name="report")
app.add_typer(case_app, name="case")
app.add_typer(projections_app, name="projections")

err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
T = TypeVar("T")

#: Rows above which a progress bar is shown.
PROGRESS_THRESHOLD = 5000


class Format(StrEnum):
    text = "text"
    json = "json"


class HistoryFormat(StrEnum):
    json = "json"
    table = "table"


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Store: SQLite file (default ./aidledger.db) or postgresql://…",
            envvar="AIDLEDGER_DATABASE_URL",
            show_envvar=True,
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Programs config TOML (default: shipped)")
    ] = None,
) -> None:
    overrides: dict[str, Any] = {}
    if db:
        overrides["database_url"] = db
    if config:
        overrides["config"] = config
    ctx.obj = Settings(**overrides)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


@contextmanager
def services(ctx: typer.Context) -> Iterator[Services]:
    """Open the store for one command; domain errors become exit code 1 with a message."""
    svc: Services | None = None
    try:
        svc = open_services(ctx.obj)
        yield svc
    except AidLedgerError as e:
        _fail(str(e))
    finally:
        if svc is not None:
            svc.close()


def _parsed(parse: Callable[[str], T], value: str) -> T:
    """A command-line value through a domain parser: its complaint is a usage error (exit 2)."""
    try:
        return parse(value)
    except InvalidValue as e:
        raise typer.BadParameter(str(e)) from None


def _as_of(value: str | None) -> date:
    return date.today() if value is None else _parsed(parse_date, value)


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for long work; nothing for small inputs."""
    if total < PROGRESS_THRESHOLD:
        yield None
        return
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


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or upgrade the store (Alembic migrations)."""
    with services(ctx) as svc:
        out.print(f"store ready: {svc.store.describe()}")


def _import(ctx: typer.Context, kind: Kind, file: Path, by: str, fmt: Format) -> None:
    if not file.is_file():
        _fail(f"{file}: no such file")
    with services(ctx) as svc:
        rows = sum(1 for _ in file.open("rb"))
        with progress_bar(f"importing {file.name}", rows) as advance:
            summary = svc.importer.import_file(
                kind,
                file,
                by=by,
                today=date.today(),
                progress=advance,
            )
        _print_summary(summary, fmt)


def _print_summary(s: ImportSummary, fmt: Format) -> None:
    if fmt is Format.json:
        out.print_json(data=s.__dict__)
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


_BY = typer.Option("--by", help="Staff id of the person importing")
_FMT = typer.Option("--format", help="text or json")


def _import_command(kind: Kind, help_text: str) -> None:
    def command(
        ctx: typer.Context,
        file: Path,
        by: Annotated[str, _BY],
        fmt: Annotated[Format, _FMT] = Format.text,
    ) -> None:
        _import(ctx, kind, file, by, fmt)

    command.__doc__ = help_text
    import_app.command(kind)(command)


_import_command("cases", "Import a cases file (new cases, amount/account changes, terminations).")
_import_command("deaths", "Import a deaths file from the data-comparison feed.")
_import_command("staff", "Import a staff registry file.")


@case_app.command("history")
def history(
    ctx: typer.Context,
    case_id: str,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default today)")] = None,
    fmt: Annotated[HistoryFormat, typer.Option("--format")] = HistoryFormat.table,
) -> None:
    """Every event of a case in order, and its state as in force on a date."""
    day = _as_of(as_of)
    with services(ctx) as svc:
        events = list(svc.app.events.get(case_aggregate_id(case_id)))
        if not events:
            _fail(f"no case {case_id!r} in {svc.store.describe()}")
        doc = case_history(case_id, events, day)  # type: ignore[arg-type]
    if fmt is HistoryFormat.json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    _print_history_table(doc)


def _print_history_table(doc: dict[str, Any]) -> None:
    table = Table(title=f"case {doc['case_id']}: history")
    for col in ("#", "type", "by", "recorded at (UTC)", "effective from", "details"):
        table.add_column(col)
    skip = {"type", "version", "by", "recorded_at", "effective_from"}
    for e in doc["events"]:
        details = ", ".join(
            f"{k}={v}" for k, v in e.items() if k not in skip and v not in ("", None)
        )
        table.add_row(
            str(e["version"]),
            e["type"],
            e["by"],
            e["recorded_at"][:19],
            e["effective_from"] or "",
            details,
        )
    out.print(table)
    state = doc["state"]
    if state is None:
        out.print(f"as of {doc['as_of']}: not in effect")
        return
    out.print(f"as of {doc['as_of']}: in effect")
    for k, v in state.items():
        out.print(f"  {k}: {'' if v is None else v}")


class ExportFormat(StrEnum):
    pain001 = "pain001"
    csv = "csv"


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"
    table = "table"


def _period(value: str) -> Period:
    return _parsed(Period.parse, value)


@payout_app.command("prepare")
def payout_prepare(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    by: Annotated[str, _BY],
    program: Annotated[str | None, typer.Option("--program")] = None,
    fmt: Annotated[Format, _FMT] = Format.text,
) -> None:
    """Compute the month's payments (regular, arrears) and recoveries into a payout run."""
    month = _period(period)
    with services(ctx) as svc:
        total = svc.db.query("SELECT COUNT(*) FROM cases")[0][0]
        with progress_bar(f"preparing {month}", int(total)) as advance:
            r = svc.payouts.prepare(month, program=program, by=by, progress=advance)
    if fmt is Format.json:
        sys.stdout.write(
            json.dumps(
                {
                    "run_id": r.run_id,
                    "payments": r.payments,
                    "amount": format_fen(r.amount),
                    "held": r.held,
                    "recoveries": r.recoveries,
                    "recovery_amount": format_fen(r.recovery_amount),
                    "findings": r.findings,
                }
            )
            + "\n"
        )
        return
    if r.run_id is None:
        out.print(f"nothing to pay for {month} ({r.scope}): no payments due")
        return
    out.print(r.run_id)
    kinds = ", ".join(f"{k} {format_fen(v)}" for k, v in sorted(r.by_kind.items()))
    err.print(
        f"{r.run_id}: {r.payments} payments added, {format_fen(r.amount)}"
        + (f" ({kinds})" if kinds else "")
        + f"; {r.held} held, {r.findings} findings; {r.recoveries} recoveries "
        f"({format_fen(r.recovery_amount)} to recover)"
    )


@payout_app.command("approve")
def payout_approve(
    ctx: typer.Context,
    run_id: str,
    by: Annotated[str, _BY],
    override_reason: Annotated[
        str | None, typer.Option("--override-reason", help="approve above budget, recorded")
    ] = None,
) -> None:
    """Second-person approval (refused for whoever prepared the run)."""
    with services(ctx) as svc:
        svc.payouts.approve(run_id, by=by, override_reason=override_reason)
        payments, amount = svc.db.query(
            "SELECT payments, amount FROM runs WHERE run_id = ?", (run_id,)
        )[0]
        out.print(f"{run_id} approved by {by}: {payments} payments, {format_fen(int(amount))}")
        _print_head(svc)


@payout_app.command("release")
def payout_release(
    ctx: typer.Context,
    payment_id: str,
    by: Annotated[str, _BY],
    reason: Annotated[str, typer.Option("--reason", help="why the hold no longer applies")],
) -> None:
    """Release a held payment for export (another person than the preparer, with a reason)."""
    with services(ctx) as svc:
        svc.payouts.release(payment_id, by=by, reason=reason)
    out.print(f"{payment_id} released by {by}")


@payout_app.command("export")
def payout_export(
    ctx: typer.Context,
    run_id: str,
    fmt: Annotated[ExportFormat, typer.Option("--format")],
    out_file: Annotated[Path, typer.Option("--out", help="file to write")],
    encoding: Annotated[str, typer.Option("--encoding", help="csv: utf-8 or gb18030")] = "utf-8",
    by: Annotated[str, typer.Option("--by", help="who exported (recorded)")] = "cli",
) -> None:
    """Write the bank file of an approved run (held payments are left out)."""
    if encoding not in ("utf-8", "gb18030"):
        raise typer.BadParameter("--encoding must be utf-8 or gb18030")
    with services(ctx) as svc:
        n, amount = svc.payouts.export(
            run_id, fmt=fmt.value, out=out_file, by=by, encoding=encoding
        )
    out.print(f"{out_file}: {n} payments, {format_fen(amount)} ({fmt.value})")


@report_app.command("payouts")
def report_payouts(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="payment period YYYY-MM")],
    by_dims: Annotated[str, typer.Option("--by")] = "program,department,region",
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
) -> None:
    """Monthly payouts (approved runs) per program, department and region."""
    month = _period(period)
    dims = _parsed(parse_dimensions, by_dims)
    with services(ctx) as svc:
        svc.sync()
        rows = payouts_report(svc.db, str(month), dims)
        _print_rows(rows, fmt, title=f"payouts {month}")
        _print_head(svc)


@report_app.command("notice")
def report_notice(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="payment period YYYY-MM")],
    region: Annotated[str, typer.Option("--region", help="6- or 12-digit region code")],
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
) -> None:
    """The public-notice 公示 list: names and id numbers masked, amounts and programs shown."""
    month = _period(period)
    code = _parsed(parse_region_code, region)
    with services(ctx) as svc:
        svc.sync()
        rows = notice_report(svc.db, str(month), code)
    _print_rows(rows, fmt, title=f"公示 {month} {code}", fields=NOTICE_FIELDS)


def _print_rows(
    rows: list[dict[str, Any]],
    fmt: ReportFormat,
    *,
    title: str,
    fields: tuple[str, ...] = REPORT_FIELDS,
) -> None:
    if fmt is ReportFormat.json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    fields = tuple(rows[0]) if rows else fields
    if fmt is ReportFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title=title)
    for f in fields:
        table.add_column(f, justify="right" if f in ("cases", "payments", "amount") else "left")
    for r in rows:
        table.add_row(*("" if r[f] is None else str(r[f]) for f in fields))
    out.print(table)


@payout_app.command("refund")
def payout_refund(
    ctx: typer.Context,
    payment_id: str,
    by: Annotated[str, _BY],
    reason: Annotated[str, typer.Option("--reason")],
) -> None:
    """Mark a returned or rejected payment as refunded to the fund (not to be resent)."""
    with services(ctx) as svc:
        svc.payouts.refund(payment_id, by=by, reason=reason)
    out.print(f"{payment_id} marked refunded by {by}")


@bank_app.command("import")
def bank_import(
    ctx: typer.Context,
    file: Path,
    profile: Annotated[str | None, typer.Option("--profile", help="CSV bank profile")] = None,
    by: Annotated[str, typer.Option("--by", help="who imported (recorded)")] = "bank",
    fmt: Annotated[Format, _FMT] = Format.text,
) -> None:
    """Record a pain.002, camt.054 or CSV return file (kind detected from content)."""
    if not file.is_file():
        _fail(f"{file}: no such file")
    with services(ctx) as svc:
        s = svc.bank.import_file(file, profile=profile, by=by, today=date.today())
    if fmt is Format.json:
        sys.stdout.write(json.dumps(s.__dict__) + "\n")
    elif s.already_imported:
        out.print(f"{s.filename}: already imported ({s.file_id}); nothing recorded")
    else:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.by_kind.items()))
        out.print(
            f"{s.filename}: {s.kind}{f' ({s.profile})' if s.profile else ''}, "
            f"{s.entries} entries: {s.matched} matched ({kinds}), {s.unmatched} unmatched"
        )


@app.command()
def reconcile(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="'today' for time-based checks")
    ] = None,
    fmt: Annotated[Format, _FMT] = Format.text,
) -> None:
    """Run every check for a period; raise the findings that are new."""
    month, day = _period(period), _as_of(as_of)
    with services(ctx) as svc:
        r = svc.reconciliation.reconcile(month, as_of=day)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(r.__dict__) + "\n")
        return
    raised = ", ".join(f"{t} {n}" for t, n in sorted(r.raised.items())) or "none"
    out.print(
        f"reconciled {r.period} as of {r.as_of}: {r.payments} payments checked; "
        f"new findings: {raised}; reopened {r.reopened}; open findings {r.open_total}"
    )


class Status(StrEnum):
    open = "open"
    all = "all"


@app.command()
def findings(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    type_: Annotated[str | None, typer.Option("--type")] = None,
    status: Annotated[Status, typer.Option("--status")] = Status.open,
    fmt: Annotated[HistoryFormat, typer.Option("--format")] = HistoryFormat.table,
) -> None:
    """List the findings of a period."""
    month = _period(period)
    with services(ctx) as svc:
        svc.sync()
        rows = list_findings(svc.db, period=str(month), type_=type_, status=status.value)
    if fmt is HistoryFormat.json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"findings {month} ({status.value})")
    for col in (
        "finding_id",
        "type",
        "severity",
        "program",
        "case_id",
        "amount",
        "status",
        "assigned_to",
        "detail",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            *(
                "" if r[c] is None else str(r[c])
                for c in (
                    "finding_id",
                    "type",
                    "severity",
                    "program",
                    "case_id",
                    "amount",
                    "status",
                    "assigned_to",
                    "detail",
                )
            )
        )
    out.print(table)


@finding_app.command("assign")
def finding_assign(
    ctx: typer.Context,
    finding_id: str,
    to: Annotated[str, typer.Option("--to", help="staff id")],
    by: Annotated[str, _BY],
) -> None:
    """Assign a finding to a staff member."""
    with services(ctx) as svc:
        svc.reconciliation.assign(finding_id, to=to, by=by)
    out.print(f"{finding_id} assigned to {to}")


@finding_app.command("comment")
def finding_comment(
    ctx: typer.Context,
    finding_id: str,
    text: Annotated[str, typer.Option("--text")],
    by: Annotated[str, _BY],
) -> None:
    """Add a comment to a finding."""
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
    by: Annotated[str, _BY],
    comment: Annotated[str, typer.Option("--comment")] = "",
) -> None:
    """Resolve a finding with a reason."""
    with services(ctx) as svc:
        svc.reconciliation.resolve(finding_id, resolution=reason, comment=comment, by=by)
    out.print(f"{finding_id} resolved ({reason})")


@finding_app.command("history")
def finding_history(ctx: typer.Context, finding_id: str) -> None:
    """Every event of a finding (JSON)."""
    with services(ctx) as svc:
        events = svc.reconciliation.history(finding_id)
    if not events:
        _fail(f"no finding {finding_id!r}")
    sys.stdout.write(json.dumps(events, ensure_ascii=False, indent=2) + "\n")


@projections_app.command("rebuild")
def rebuild(ctx: typer.Context) -> None:
    """Drop and rebuild every read model from the event log."""
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


@app.command()
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
        _fail(f"chain broken: {verdict.problem} ({verdict.events} events verified before it)")
    if anchor is not None and not verdict.anchor_found:
        _fail(f"anchored head {head} is not in the chain: the log was rewritten since")
    out.print(f"chain intact: {verdict.events} events; head {verdict.head or '(empty log)'}")


def _print_head(svc: Services) -> None:
    """The chain head, for anchoring outside the database (stderr when stdout is data)."""
    top = chain.head(svc.db)
    if top is not None:
        err.print(f"chain head: {top}", markup=False)


@app.command()
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="HTTP port for /metrics and /healthz")] = 9108,
    host: Annotated[
        str, typer.Option("--host", help="address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
) -> None:
    """Serve Prometheus metrics and /healthz, and run the scheduled jobs (one server leads)."""
    import logging
    import signal
    import threading

    from aidledger.serve import Server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = Server(ctx.obj, host=host, port=port).start()
    except (AidLedgerError, OSError, ValueError) as e:
        _fail(str(e))
    assert server.leadership is not None
    role = (
        "leader: running the jobs" if server.leadership.leader else "standby: another serve leads"
    )
    err.print(f"serving http://{host}:{server.port}/metrics and /healthz ({role})", markup=False)
    try:
        while not stop.wait(1):
            pass
    finally:
        server.stop()


@app.command()
def demo(
    keep: Annotated[
        Path | None, typer.Option("--keep", help="keep the demo store in this SQLite file")
    ] = None,
) -> None:
    """Build a small realistic county in a fresh store, run it end to end, print what it found."""
    from aidledger.demo import run_demo

    try:
        run_demo(out, keep=keep)
    except AidLedgerError as e:
        _fail(str(e))


if __name__ == "__main__":  # pragma: no cover
    app()
