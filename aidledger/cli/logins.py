"""Logins: an admin's ``staff password`` and ``staff totp``; anyone's ``login`` and ``logout``.

``staff password`` and ``staff totp`` act on the store (like ``import staff``); ``login`` and
``logout`` talk to a server (``aidledger serve``) and keep a personal token for later calls.
No password is ever taken from a command-line argument: it would be in the shell's history
and in every process listing.
"""

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import click
import typer

from aidledger.cli.common import BY, err, fail, out, services

staff_app = typer.Typer(help="Staff logins: passwords and TOTP (admin).")

PASSWORD_STDIN = typer.Option(
    "--password-stdin", help="read the password from standard input (for scripts)"
)
TOKEN_FILE = typer.Option(
    "--token-file",
    help="where the personal token is kept (default ~/.config/aidledger/token)",
    envvar="AIDLEDGER_TOKEN_FILE",
)


def _stdin_password() -> str:
    """The password on standard input, without the newline that ends it."""
    text = sys.stdin.read()
    return text.removesuffix("\n").removesuffix("\r")


def _asked(ask: Callable[[], str]) -> str:
    """What a prompt got; no input at all (a script, a closed terminal) is a clear refusal."""
    try:
        return ask()
    except (EOFError, KeyboardInterrupt, click.exceptions.Abort):
        fail("nothing was typed (no terminal?): give --password-stdin and the other options")


def _new_password(prompt: str) -> str:
    """A new password typed twice (never echoed)."""
    first = _asked(lambda: getpass.getpass(prompt))
    if _asked(lambda: getpass.getpass("again: ")) != first:
        fail("the two passwords differ: nothing was changed")
    return first


def _server_url(value: str) -> str:
    """An http(s) URL of a server, checked before anything is asked or sent."""
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(
            f"--server must be the server's http:// or https:// URL, not {value!r}"
        )
    return value.strip().rstrip("/")


@staff_app.command("password")
def staff_password(
    ctx: typer.Context,
    staff_id: str,
    by: Annotated[str, BY],
    password_stdin: Annotated[bool, PASSWORD_STDIN] = False,
    temporary: Annotated[
        bool, typer.Option("--temporary", help="to be changed at the first login")
    ] = False,
) -> None:
    """Set a staff member's password (admin, for someone else); their sessions end. Without
    --password-stdin, asks for it twice."""
    with services(ctx) as svc:  # the store and the admin first: refused before any prompt
        svc.logins.actor(by).require("admin", to="set a staff member's password")
        password = (
            _stdin_password() if password_stdin else _new_password(f"new password for {staff_id}: ")
        )
        if not password:
            fail("no password given: nothing was changed")
        svc.logins.set_password(staff_id, password, temporary=temporary, by=by)
    note = ": to be changed at the first login" if temporary else ""
    out.print(f"{staff_id}'s password set by {by}{note}; their sessions ended", markup=False)


@staff_app.command("totp")
def staff_totp(ctx: typer.Context, staff_id: str, by: Annotated[str, BY]) -> None:
    """Enrol a new TOTP secret for a staff member (admin, for someone else) and print its
    otpauth:// URI, for their authenticator app; any earlier one stops working."""
    with services(ctx) as svc:
        uri = svc.logins.enrol_totp(staff_id, by=by)
    sys.stdout.write(uri + "\n")
    err.print(
        f"TOTP enrolled for {staff_id} by {by}: give them this URI (or its QR code) in person; "
        "it is the secret",
        markup=False,
    )


def login(
    server: Annotated[
        str,
        typer.Option("--server", help="the aidledger server's URL", envvar="AIDLEDGER_SERVER"),
    ],
    staff_id: Annotated[
        str | None, typer.Option("--staff-id", help="your staff id (asked if not given)")
    ] = None,
    password_stdin: Annotated[bool, PASSWORD_STDIN] = False,
    totp: Annotated[
        str | None, typer.Option("--totp", help="your TOTP code (asked if not given)")
    ] = None,
    token_file: Annotated[Path | None, TOKEN_FILE] = None,
) -> None:
    """Log in to a server and keep a personal token for later commands (mode 0600)."""
    from aidledger.client import ApiRefused, SavedLogin, call, default_token_file, save_login

    server = _server_url(server)
    if staff_id is not None and not staff_id.strip():
        raise typer.BadParameter("--staff-id is empty")
    who = staff_id or _asked(lambda: str(typer.prompt("staff id")))
    password = (
        _stdin_password() if password_stdin else _asked(lambda: getpass.getpass("password: "))
    )
    if totp is None and not password_stdin:
        totp = _asked(
            lambda: str(
                typer.prompt("TOTP code (empty if you have none)", default="", show_default=False)
            )
        )
    body = {"staff_id": who, "password": password, **({"totp": totp} if totp else {})}
    try:
        answer = call(server, "/login", body)
        if answer.get("must_change_password"):
            if password_stdin:
                fail(
                    "you logged in with a temporary password: change it first (aidledger login "
                    "without --password-stdin asks for a new one, or the console)"
                )
            err.print("your password is temporary: choose a new one", markup=False)
            new = _new_password("new password: ")
            call(
                server,
                "/password",
                {"old_password": password, "new_password": new},
                token=answer["token"],
            )
    except ApiRefused as e:
        fail(str(e))
    path = token_file or default_token_file()
    save_login(path, SavedLogin(server, who, answer["token"], answer["expires_at"]))
    out.print(
        f"logged in to {server} as {who} until {answer['expires_at']}; token kept in {path}",
        markup=False,
    )


def logout(token_file: Annotated[Path | None, TOKEN_FILE] = None) -> None:
    """End the session of the personal token and delete it."""
    from aidledger.client import ApiRefused, call, default_token_file, load_login

    path = token_file or default_token_file()
    saved = load_login(path)
    if saved is None:
        fail(f"not logged in: no token kept at {path} (nothing to log out)")
    try:
        call(saved.server, "/logout", token=saved.token)
    except ApiRefused as e:
        if e.status != 401:  # 401: it had ended already; else it stays valid until it expires
            err.print(
                f"warning: {e}: the session stays valid until {saved.expires_at}", markup=False
            )
    path.unlink(missing_ok=True)
    out.print(f"logged out of {saved.server} ({saved.staff_id}); token deleted", markup=False)
