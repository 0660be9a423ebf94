"""The `aidledger` command line. Exit codes: 0 done, 1 input refused, 2 usage error.

Each area's commands live in their own module (`records`, `money`, `audit`, `ops`,
`logins`); this one puts them together under one ``app`` and reads the global options.

The command modules do not use ``from __future__ import annotations``: typer reads the
annotations of every command at every start, and strings would be compiled and evaluated
each time (a tenth of the start of a command that reads).
"""

from typing import Annotated, Any

import typer

from aidledger.cli import (
    applications,
    audit,
    comparison,
    complaints,
    logins,
    money,
    ops,
    records,
    reviews,
)
from aidledger.cli.refusals import RefusingGroup

app = typer.Typer(
    cls=RefusingGroup,
    help="aidledger: event-sourced ledger and disbursement tracker for social assistance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="a server's URL: commands go through its API as the logged-in staff member "
            "(aidledger login); default: the server of your login when no --db is given",
            envvar="AIDLEDGER_SERVER",
            show_envvar=True,
        ),
    ] = None,
    token_file: Annotated[
        str | None,
        typer.Option(
            "--token-file",
            help="the personal token's file (default ~/.config/aidledger/token)",
            envvar="AIDLEDGER_TOKEN_FILE",
        ),
    ] = None,
) -> None:
    from zoneinfo import ZoneInfo

    from pydantic import ValidationError

    from aidledger.cli.common import fail
    from aidledger.settings import Settings

    overrides: dict[str, Any] = {"server": server, "token_file": token_file}
    if db is not None:
        overrides["database_url"] = db
    elif server is None:
        overrides["server"] = _server_of_login(token_file)
    try:
        ctx.obj = Settings(**overrides)
        ZoneInfo(ctx.obj.timezone)
    except ValidationError as e:
        first = e.errors()[0]
        name = "AIDLEDGER_" + "_".join(str(part) for part in first["loc"]).upper()
        fail(f"{name}: {first['msg']} (value {first.get('input')!r})", code=2)
    except (ValueError, LookupError):  # ZoneInfoNotFoundError is a KeyError
        fail(f"AIDLEDGER_TIMEZONE: no time zone {ctx.obj.timezone!r} (e.g. Asia/Shanghai)", code=2)


def _server_of_login(token_file: str | None) -> str | None:
    """The server of ``aidledger login``'s token file, if there is one."""
    from pathlib import Path

    from aidledger.client import default_token_file, load_login

    saved = load_login(Path(token_file) if token_file else default_token_file())
    return None if saved is None else saved.server


app.command()(records.init)
app.add_typer(records.import_app, name="import")
app.add_typer(records.config_app, name="config")
app.add_typer(records.cases_app, name="cases")
app.add_typer(money.payout_app, name="payout")
app.add_typer(money.bank_app, name="bank")
app.command("reconcile")(money.reconcile)
app.command("recoveries")(money.recoveries)
app.add_typer(money.recovery_app, name="recovery")
app.add_typer(audit.case_app, name="case")
app.add_typer(applications.application_app, name="application")
app.add_typer(reviews.reviews_app, name="reviews")
app.command("findings")(audit.findings)
app.add_typer(audit.finding_app, name="finding")
app.command("access-log")(audit.access_log)
app.add_typer(audit.report_app, name="report")
app.add_typer(audit.projections_app, name="projections")
app.command("verify")(audit.verify)
app.command("serve")(ops.serve)
app.add_typer(logins.staff_app, name="staff")
app.command("login")(logins.login)
app.command("logout")(logins.logout)
app.command("demo")(ops.demo)
app.add_typer(complaints.verification_app, name="verification")
app.command("verifications")(complaints.verifications)
app.add_typer(complaints.complaint_app, name="complaint")
app.command("complaints")(complaints.complaints)
app.command("compare")(comparison.compare)

__all__ = ["app"]
