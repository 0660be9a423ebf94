"""Commands of the monthly payout: runs, releases, export, bank files, reconcile, recoveries."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from aidledger.cli.common import (
    BY,
    FMT,
    FORCE,
    OUT,
    REASON,
    VIEWER,
    Format,
    ReportFormat,
    TableFormat,
    check_input_file,
    check_out,
    day_or_today,
    err,
    fen,
    out,
    parsed,
    period,
    print_rows,
    progress_bar,
    services,
    write_json,
)

payout_app = typer.Typer(help="The monthly payout: prepare, review, approve, release, export.")
bank_app = typer.Typer(help="Bank return files: pain.002, camt.054, CSV 回盘 by profile.")
recovery_app = typer.Typer(help="Work a recovery (追回): collect, waive.")


class ExportFormat(StrEnum):
    pain001 = "pain001"
    csv = "csv"


@payout_app.command("prepare")
def payout_prepare(
    ctx: typer.Context,
    period_: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    by: Annotated[str, BY],
    program: Annotated[str | None, typer.Option("--program")] = None,
    fmt: Annotated[Format, FMT] = Format.text,
) -> None:
    """Compute the month's payments and recoveries into a run (finance); prepare again to
    complete an interrupted run or bring a stale one up to date."""
    from aidledger.cli.remote import remote
    from console.answers import prepared_from, prepared_json
    from ledger.money import format_fen

    month = period(period_)
    if (api := remote(ctx, by)) is not None:
        body = {"period": str(month), "program": program, "by": by}
        r = prepared_from(api.post("/runs/prepare", body))
    else:
        with services(ctx) as svc:
            total = svc.db.query("SELECT COUNT(*) FROM cases")[0][0]
            with progress_bar(f"preparing {month}", int(total)) as advance:
                r = svc.payouts.prepare(month, program=program, by=by, progress=advance)
    if fmt is Format.json:
        write_json(prepared_json(r))
        return
    if r.run_id is None:
        out.print(f"nothing to pay for {month} ({r.scope}): no payments due")
        return
    out.print(r.run_id)
    if r.new_run:
        kinds = ", ".join(f"{k} {format_fen(v)}" for k, v in sorted(r.by_kind.items()))
        err.print(
            f"{r.run_id}: {r.added} payments, {format_fen(r.added_amount)}"
            + (f" ({kinds})" if kinds else "")
            + f"; {r.held} held; {r.recoveries} recoveries "
            f"({format_fen(r.recovery_amount)} to recover)"
        )
    elif r.changed:
        err.print(
            f"{r.run_id} brought up to date: {r.added} payments added, {r.amended} changed, "
            f"{r.cancelled} removed; recoveries {r.recoveries} raised or changed, "
            f"{r.recoveries_withdrawn} withdrawn; now {r.payments} payments, "
            f"{format_fen(r.amount)}"
        )
    else:
        err.print(
            f"{r.run_id} is up to date: nothing changed ({r.payments} payments, "
            f"{format_fen(r.amount)})"
        )


class Per(StrEnum):
    person = "person"
    case = "case"


@payout_app.command("supplement")
def payout_supplement(
    ctx: typer.Context,
    period_: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    programs: Annotated[str, typer.Option("--programs", help="e.g. dibao,tekun")],
    amount: Annotated[str, typer.Option("--amount", help="yuan, e.g. 300.00")],
    per: Annotated[Per, typer.Option("--per", help="person (x household size) or case")],
    in_effect_on: Annotated[
        str, typer.Option("--in-effect-on", help="the cases in effect on YYYY-MM-DD")
    ],
    reason: Annotated[str, typer.Option("--reason", help="the notice that grants it")],
    by: Annotated[str, BY],
    fmt: Annotated[Format, FMT] = Format.text,
) -> None:
    """Prepare a supplement run (一次性生活补贴, finance): AMOUNT once to each case of the
    programs in effect on a day; approved, exported and reconciled like any run. The same
    supplement again brings it up to date; another reason is another run."""
    from aidledger.cli.remote import remote
    from console.answers import prepared_from
    from ledger.money import format_fen
    from ledger.payment import SupplementTerms
    from ledger.period import parse_date

    month = period(period_)
    terms = SupplementTerms(
        programs=tuple(p.strip() for p in programs.split(",") if p.strip()),
        amount=fen(amount),
        per=per.value,
        in_effect_on=parsed(parse_date, in_effect_on),
        reason=reason.strip(),
    )
    if (api := remote(ctx, by)) is not None:
        body = {
            "period": str(month),
            "programs": list(terms.programs),
            "amount": format_fen(terms.amount),
            "per": terms.per,
            "in_effect_on": terms.in_effect_on.isoformat(),
            "reason": terms.reason,
            "by": by,
        }
        r = prepared_from(api.post("/runs/supplement", body))
    else:
        with services(ctx) as svc:
            total = svc.db.query("SELECT COUNT(*) FROM cases")[0][0]
            with progress_bar(f"preparing the supplement {month}", int(total)) as advance:
                r = svc.payouts.prepare_supplement(month, terms, by=by, progress=advance)
    if fmt is Format.json:
        write_json(
            {
                "run_id": r.run_id,
                "payments": r.payments,
                "amount": format_fen(r.amount),
                "added": r.added,
                "amended": r.amended,
                "cancelled": r.cancelled,
                "held": r.held,
            }
        )
        return
    if r.run_id is None:
        out.print(
            f"nothing to pay for {month}: every case of {', '.join(terms.programs)} in effect on "
            f"{terms.in_effect_on.isoformat()} has this supplement already, or none is in effect"
        )
        return
    out.print(r.run_id)
    if r.new_run:
        err.print(
            f"{r.run_id}: supplement of {terms.describe()}: {r.added} payments, "
            f"{format_fen(r.added_amount)}; {r.held} held. A finance approver approves it "
            f"(aidledger payout approve {r.run_id})"
        )
    elif r.changed:
        err.print(
            f"{r.run_id} brought up to date: {r.added} payments added, {r.amended} changed, "
            f"{r.cancelled} removed; now {r.payments} payments, {format_fen(r.amount)}"
        )
    else:
        err.print(
            f"{r.run_id} is up to date: nothing changed ({r.payments} payments, "
            f"{format_fen(r.amount)})"
        )


@payout_app.command("approve")
def payout_approve(
    ctx: typer.Context,
    run_id: str,
    by: Annotated[str, BY],
    override_reason: Annotated[
        str | None, typer.Option("--override-reason", help="approve above budget, recorded")
    ] = None,
) -> None:
    """Second-person approval (finance_approver; never the preparer); once approved, approves
    the payments released since."""
    from aidledger.cli.remote import remote, segment
    from console.answers import approval_doc
    from ledger import chain

    if (api := remote(ctx, by)) is not None:
        body = {"override_reason": override_reason, "by": by}
        doc = api.post(f"/runs/{segment(run_id)}/approve", body)
    else:
        with services(ctx) as svc:
            a = svc.payouts.approve(run_id, by=by, override_reason=override_reason)
            head = chain.head(svc.db)
            doc = approval_doc(a, run_id, by, None if head is None else str(head))
    payable, held = doc["payable"], doc["held"]
    if doc["releases"]:
        out.print(
            f"{run_id}: {payable['payments']} released payments approved by {by}, "
            f"{payable['amount']}: the next export writes them"
        )
    else:
        total = payable["payments"] + held["payments"]
        out.print(
            f"{run_id} approved by {by}: {total} payments: {payable['payments']} payable, "
            f"{payable['amount']}; {held['payments']} held"
            + (f" ({held['amount']})" if held["payments"] else "")
        )
    if doc["chain_head"]:
        err.print(f"chain head: {doc['chain_head']}", markup=False)


@payout_app.command("release")
def payout_release(
    ctx: typer.Context,
    payment_id: str,
    by: Annotated[str, BY],
    reason: Annotated[str, typer.Option("--reason", help="why the hold no longer applies")],
) -> None:
    """Release a held payment (finance_approver or supervisor, not the preparer, no interest;
    a critical hold needs a second release by a supervisor)."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        body = {"reason": reason, "by": by}
        held = api.post(f"/payments/{segment(payment_id)}/release", body)["held"]
    else:
        with services(ctx) as svc:
            held = list(svc.payouts.release(payment_id, by=by, reason=reason).held)
    if held:
        out.print(
            f"{payment_id}: first release by {by} recorded; its hold "
            f"({', '.join(held)}) is critical: a supervisor must release it a second time"
        )
    else:
        out.print(f"{payment_id} released by {by}")


@payout_app.command("cancel")
def payout_cancel(
    ctx: typer.Context,
    run_id: str,
    by: Annotated[str, BY],
    reason: Annotated[str, REASON],
) -> None:
    """Cancel an unapproved run (finance): its payments are cancelled; the next prepare makes
    a new run."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        api.post(f"/runs/{segment(run_id)}/cancel", {"reason": reason, "by": by})
    else:
        with services(ctx) as svc:
            svc.payouts.cancel(run_id, by=by, reason=reason)
    out.print(f"{run_id} cancelled by {by}")


@payout_app.command("export")
def payout_export(
    ctx: typer.Context,
    run_id: str,
    fmt: Annotated[ExportFormat, typer.Option("--format")],
    out_file: Annotated[Path, typer.Option("--out", help="file to write")],
    by: Annotated[str, BY],
    encoding: Annotated[str, typer.Option("--encoding", help="csv: utf-8 or gb18030")] = "utf-8",
    force: Annotated[
        bool, typer.Option("--force", help="replace FILE if it exists (never the store)")
    ] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="why (recorded in the access log with the file)")
    ] = "",
) -> None:
    """Write the bank file of an approved run (finance): what was approved, checked against
    its events; held payments are left out. Refuses an existing FILE unless --force. The
    file holds names and accounts: its writing is recorded in the access log."""
    from aidledger.cli.remote import remote, segment
    from ledger.money import format_fen

    if encoding not in ("utf-8", "gb18030"):
        raise typer.BadParameter("--encoding must be utf-8 or gb18030")
    if (api := remote(ctx, by)) is not None:
        import base64

        from ledger.outputs import check_target, written_beside

        check_target(out_file, replace=force)  # before the server records the export
        body = {"format": fmt.value, "encoding": encoding, "reason": reason, "by": by}
        doc = api.post(f"/runs/{segment(run_id)}/export", body)
        with written_beside(out_file, replace=force) as target:
            target.write(base64.b64decode(doc["content"]))
        payments, amount, awaiting = doc["payments"], doc["amount"], doc["awaiting"]
        batches = tuple(doc["batches"])
    else:
        with services(ctx) as svc:
            x = svc.payouts.export(
                run_id,
                fmt=fmt.value,
                out=out_file,
                by=by,
                encoding=encoding,
                replace=force,
                reason=reason,
            )
        payments, amount, awaiting, batches = (
            x.payments,
            format_fen(x.amount),
            x.awaiting,
            x.batches,
        )
    note = "" if batches == (1, 1) else f" (approvals {batches[0]} to {batches[1]})"
    out.print(f"{out_file}: {payments} payments, {amount} ({fmt.value}){note}")
    if awaiting:
        err.print(
            f"{awaiting} payments released since the approval wait for a further approval "
            f"(aidledger payout approve {run_id}) and are not in this file"
        )


@payout_app.command("refund")
def payout_refund(
    ctx: typer.Context,
    payment_id: str,
    by: Annotated[str, BY],
    reason: Annotated[str, REASON],
) -> None:
    """Mark a returned or rejected payment as refunded to the fund (finance)."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        api.post(f"/payments/{segment(payment_id)}/refund", {"reason": reason, "by": by})
    else:
        with services(ctx) as svc:
            svc.payouts.refund(payment_id, by=by, reason=reason)
    out.print(f"{payment_id} marked refunded by {by}")


@payout_app.command("list")
def payout_list(
    ctx: typer.Context,
    period_: Annotated[str | None, typer.Option("--period", help="YYYY-MM")] = None,
    fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table,
) -> None:
    """One row per run: status, who prepared and approved, payable and held, stale."""
    from aidledger.cli.remote import remote
    from disbursement.review import RUN_FIELDS

    month = str(period(period_)) if period_ is not None else None
    if (api := remote(ctx)) is not None:
        rows = api.get("/runs", period=month)
    else:
        with services(ctx) as svc:
            rows = svc.payouts.review.list_runs(month)
    print_rows(
        rows,
        fmt,
        title="payout runs",
        fields=RUN_FIELDS,
        right=("payments", "amount", "held", "held_amount", "payable", "payable_amount"),
    )


@payout_app.command("show")
def payout_show(
    ctx: typer.Context,
    run_id: str,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
    out_file: Annotated[Path | None, OUT] = None,
    force: Annotated[bool, FORCE] = False,
    by: Annotated[str | None, VIEWER] = None,
) -> None:
    """A run before approval: totals, by program and kind, held payments and why, and the
    changes against last month's approved run (csv: one row per figure; xlsx: a sheet each).
    With --by: masked as that staff member sees it."""
    check_out(fmt, out_file)
    from aidledger.cli.remote import remote, segment
    from ledger.store import store_files

    if (api := remote(ctx, by)) is not None:
        doc = api.get(f"/runs/{segment(run_id)}")
        protected: tuple[Path, ...] = ()
    else:
        with services(ctx) as svc:
            viewer = None if by is None else svc.payouts.actor(by)
            doc = svc.payouts.review.show(run_id, viewer=viewer)
            protected = store_files(svc.store)
    if fmt is ReportFormat.json:
        write_json(doc, indent=2, out_file=out_file, force=force, protected=protected)
        return
    if fmt is ReportFormat.table:
        _print_show(doc)
        return
    from ledger.spreadsheet import Sheet, write_xlsx

    summary = [{"section": "totals", "item": k, "value": v} for k, v in doc["totals"].items()] + [
        {"section": "previous", "item": k, "value": v} for k, v in (doc["previous"] or {}).items()
    ]
    if fmt is ReportFormat.csv:
        rows = [
            *(
                {"section": "run", "item": k, "value": doc[k]}
                for k in ("run_id", "period", "status", "prepared_by", "approved_by", "stale")
            ),
            *summary,
            *(
                {
                    "section": "by_program",
                    "item": f"{r['program']} payments",
                    "value": r["payments"],
                }
                for r in doc["by_program"]
            ),
            *(
                {"section": "by_program", "item": f"{r['program']} amount", "value": r["amount"]}
                for r in doc["by_program"]
            ),
            *(
                {
                    "section": "held",
                    "item": r["payment_id"],
                    "value": f"{r['amount']} {r['reason']}",
                }
                for r in doc["held"]
            ),
        ]
        print_rows(
            rows,
            fmt,
            title=run_id,
            fields=("section", "item", "value"),
            out_file=out_file,
            force=force,
            protected=protected,
        )
        return
    if out_file is None:
        raise typer.BadParameter("--format xlsx writes a file: give it with --out FILE")
    title = f"{doc['run_id']} {doc['period']} {doc['status']}"
    write_xlsx(
        out_file,
        [
            Sheet(
                "run",
                ("section", "item", "value"),
                summary,
                heading=(title,),
                kinds={"value": "text"},
            ),
            Sheet("by program", ("program", "department", "payments", "amount"), doc["by_program"]),
            Sheet("by kind", ("kind", "payments", "amount"), doc["by_kind"]),
            Sheet(
                "held",
                ("payment_id", "case_id", "kind", "amount", "reason", "finding_id"),
                doc["held"],
            ),
        ],
        replace=force,
        protected=protected,
    )
    out.print(f"{out_file}: run {run_id} (xlsx)")


def _print_show(doc: dict[str, Any]) -> None:
    from rich.table import Table

    t = doc["totals"]
    stale = " [bold red]STALE: prepare again[/bold red]" if doc["stale"] else ""
    out.print(
        f"[bold]{doc['run_id']}[/bold] {doc['period']} {doc['status']}, prepared by "
        f"{doc['prepared_by']}"
        + (f", approved by {doc['approved_by']}" if doc["approved_by"] else "")
        + stale
    )
    if doc["stale"]:
        out.print(f"  {doc['changed_cases']} case(s) changed since it was prepared")
    out.print(
        f"  {t['payments']} payments, {t['amount']}: {t['payable']} payable, "
        f"{t['payable_amount']}; {t['held']} held, {t['held_amount']}"
    )
    prev = doc["previous"]
    if prev:
        out.print(
            f"  against {prev['run_id']}: {prev['added_cases']} cases added, "
            f"{prev['removed_cases']} removed, {prev['changed_cases']} paid another amount; "
            f"total {prev['amount_delta']}"
        )
    for key, cols in (
        ("by_program", ("program", "department", "payments", "amount")),
        ("by_kind", ("kind", "payments", "amount")),
        ("held", ("payment_id", "case_id", "kind", "amount", "reason", "finding_id")),
    ):
        if not doc[key]:
            continue
        table = Table(title=key.replace("_", " "))
        for c in cols:
            table.add_column(c, justify="right" if c in ("payments", "amount") else "left")
        for r in doc[key]:
            table.add_row(*(str(r[c]) for c in cols))
        out.print(table)


@bank_app.command("import")
def bank_import(
    ctx: typer.Context,
    file: Path,
    by: Annotated[str, BY],
    profile: Annotated[str | None, typer.Option("--profile", help="CSV bank profile")] = None,
    fmt: Annotated[Format, FMT] = Format.text,
) -> None:
    """Record a pain.002, camt.054 or CSV return file (kind detected from content; finance)."""
    from aidledger.cli.remote import remote
    from reconciliation.bank import BankImportSummary

    check_input_file(file)
    if (api := remote(ctx, by)) is not None:
        s = BankImportSummary(**api.upload("/imports/bank", file, profile=profile))
    else:
        with services(ctx) as svc:
            s = svc.bank.import_file(file, profile=profile, by=by)
    if fmt is Format.json:
        write_json(s.__dict__)
    elif s.already_imported:
        out.print(f"{s.filename}: already imported ({s.file_id}); nothing recorded")
    else:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.by_kind.items()))
        out.print(
            f"{s.filename}: {s.kind}{f' ({s.profile})' if s.profile else ''}, "
            f"{s.entries} entries: {s.matched} matched ({kinds}), {s.unmatched} unmatched"
        )


def reconcile(
    ctx: typer.Context,
    period_: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    by: Annotated[str, BY],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="'today' for time-based checks")
    ] = None,
    fmt: Annotated[Format, FMT] = Format.text,
) -> None:
    """Run every check for a period; raise the findings that are new (finance)."""
    from aidledger.cli.remote import remote
    from reconciliation.service import ReconcileResult

    month, day = period(period_), day_or_today(ctx, as_of)
    if (api := remote(ctx, by)) is not None:
        body = {"period": str(month), "as_of": day.isoformat(), "by": by}
        r = ReconcileResult(**api.post("/reconcile", body))
    else:
        with services(ctx) as svc:
            r = svc.reconciliation.reconcile(month, as_of=day, by=by)
    if fmt is Format.json:
        write_json(r.__dict__)
        return
    raised = ", ".join(f"{t} {n}" for t, n in sorted(r.raised.items())) or "none"
    out.print(
        f"reconciled {r.period} as of {r.as_of}: {r.payments} payments checked; "
        f"new findings: {raised}; reopened {r.reopened}; open findings {r.open_total}"
    )


class RecoveryStatus(StrEnum):
    open = "open"
    collected = "collected"
    waived = "waived"
    all = "all"


def recoveries(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case", help="one case")] = None,
    status: Annotated[RecoveryStatus, typer.Option("--status")] = RecoveryStatus.open,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
    out_file: Annotated[Path | None, OUT] = None,
    force: Annotated[bool, FORCE] = False,
) -> None:
    """The recoveries register (追回): money sent that was not owed."""
    check_out(fmt, out_file)
    from aidledger.cli.remote import remote
    from disbursement.recoveries import RECOVERY_FIELDS, Recoveries
    from ledger.store import store_files

    if (api := remote(ctx)) is not None:
        rows = api.get("/recoveries", case=case, status=status.value)
        protected: tuple[Path, ...] = ()
    else:
        with services(ctx) as svc:
            rows = svc.service(Recoveries).list(case_id=case, status=status.value)
            protected = store_files(svc.store)
    print_rows(
        rows,
        fmt,
        title=f"recoveries ({status.value})",
        fields=RECOVERY_FIELDS,
        right=("amount", "collected", "outstanding"),
        out_file=out_file,
        force=force,
        protected=protected,
    )


@recovery_app.command("collect")
def recovery_collect(
    ctx: typer.Context,
    recovery_id: str,
    amount: Annotated[str, typer.Option("--amount", help="yuan collected, e.g. 120.50")],
    by: Annotated[str, BY],
    reason: Annotated[str, REASON],
) -> None:
    """Record money collected on a recovery (finance; never above what is outstanding)."""
    from aidledger.cli.remote import remote, segment
    from ledger.money import format_fen

    fen_amount = fen(amount)
    if (api := remote(ctx, by)) is not None:
        body = {"amount": format_fen(fen_amount), "reason": reason, "by": by}
        doc = api.post(f"/recoveries/{segment(recovery_id)}/collect", body)
        outstanding, status = doc["outstanding"], doc["status"]
    else:
        from disbursement.recoveries import Recoveries

        with services(ctx) as svc:
            r = svc.service(Recoveries).collect(
                recovery_id, amount=fen_amount, by=by, reason=reason
            )
        outstanding, status = format_fen(r.outstanding), r.status
    out.print(
        f"{recovery_id}: {format_fen(fen_amount)} collected; outstanding {outstanding} ({status})"
    )


@recovery_app.command("waive")
def recovery_waive(
    ctx: typer.Context,
    recovery_id: str,
    by: Annotated[str, BY],
    reason: Annotated[str, REASON],
) -> None:
    """Waive what is outstanding on a recovery (supervisor)."""
    from aidledger.cli.remote import remote, segment

    if (api := remote(ctx, by)) is not None:
        api.post(f"/recoveries/{segment(recovery_id)}/waive", {"reason": reason, "by": by})
    else:
        from disbursement.recoveries import Recoveries

        with services(ctx) as svc:
            svc.service(Recoveries).waive(recovery_id, by=by, reason=reason)
    out.print(f"{recovery_id} waived by {by}")
