"""The command line through the API: a command acts as the logged-in staff member on a server.

With ``--server URL`` (or ``AIDLEDGER_SERVER``), or after ``aidledger login`` with no store
named (no ``--db``), a command that has a route in the API sends its options there with the
personal token of ``aidledger login`` and prints what the server answered as it would have
printed its own result: the server runs the same services, as the staff member the token
belongs to. ``--by`` naming anyone else is refused before anything is sent (and again by the
server). A command acting as a staff member that the API has no route for is refused rather
than run on a local store (`check_direct`).

The store may require this: ``[security] actors = "authenticated"`` in the programs config
refuses commands acting as a staff member on the store itself (`check_direct`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import typer

from aidledger.cli.common import fail

if TYPE_CHECKING:
    from aidledger.client import SavedLogin
    from aidledger.wiring import Services

#: Commands that act as a staff member on the store itself whatever the store says (with
#: ``init``, which has no staff member): what a store needs before anyone can log in, or to
#: be set right when no one can — the staff registry, the programs config that says
#: ``actors = "authenticated"`` (or no longer does), and an admin's setting of logins.
#: Each also goes through a server when one is named, except the logins' (`DIRECT_ONLY`).
ALWAYS_DIRECT = frozenset(
    {("import", "staff"), ("config", "apply"), ("staff", "password"), ("staff", "totp")}
)
#: Commands that never go through a server: setting a login's password or TOTP secret is the
#: admin's work on the store itself (there is no login before the first one is set).
DIRECT_ONLY = frozenset({("init",), ("staff", "password"), ("staff", "totp")})


def token_path(ctx: typer.Context) -> Path:
    from aidledger.client import default_token_file

    named = ctx.obj.token_file
    return Path(named) if named else default_token_file()


@dataclass(frozen=True)
class Remote:
    """A server, and the login its calls are made with."""

    server: str
    login: SavedLogin

    @property
    def staff_id(self) -> str:
        return self.login.staff_id

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """A POST of ``body`` (as JSON) to ``/api/v1{path}``: the answer, or the command
        ends with the server's refusal (exit 1)."""
        from aidledger.client import call

        return self._answer(lambda: call(self.server, path, body, token=self.login.token))

    def get(self, path: str, **params: Any) -> Any:
        """A GET of ``/api/v1{path}`` with the query ``params`` (those not None)."""
        from aidledger.client import call

        given = {k: v for k, v in params.items() if v is not None}
        full = f"{path}?{urlencode(given)}" if given else path
        return self._answer(lambda: call(self.server, full, token=self.login.token, method="GET"))

    def upload(self, path: str, file: Path, **params: Any) -> Any:
        """A POST of a file's bytes, its name in ``?filename=``."""
        from aidledger.client import send_file

        query = urlencode({"filename": file.name, "by": self.staff_id, **params})
        return self._answer(
            lambda: send_file(self.server, f"{path}?{query}", file, token=self.login.token)
        )

    def _answer(self, calling: Any) -> Any:
        from aidledger.client import ApiRefused

        try:
            return calling()
        except ApiRefused as e:
            if e.status == 401:
                fail(
                    f"{e} (server {self.server}): your login has ended or was never valid: "
                    f"aidledger login --server {self.server}, then run the command again"
                )
            fail(str(e))


def segment(value: str) -> str:
    """An id as one segment of an API path."""
    return quote(value, safe="")


def remote(ctx: typer.Context, by: str | None = None) -> Remote | None:
    """The server this command goes to, or None to act on the store. Refused (exit 1)
    without a login for that server, and for ``--by`` naming anyone but the logged-in
    staff member."""
    from aidledger.client import load_login

    server = ctx.obj.server
    if not server:
        return None
    server = server.rstrip("/")
    path = token_path(ctx)
    saved = load_login(path)
    if saved is None:
        fail(
            f"not logged in to {server}: aidledger login --server {server}, then run the "
            f"command again (no token at {path})"
        )
    if saved.server.rstrip("/") != server:
        fail(
            f"your login ({path}) is for {saved.server}, not {server}: aidledger login "
            f"--server {server}"
        )
    if by is not None and by != saved.staff_id:
        fail(
            f"--by {by}: you are logged in to {server} as {saved.staff_id}, and a command "
            f"through the server acts as the logged-in staff member only (give --by "
            f"{saved.staff_id}, or log in as {by})"
        )
    return Remote(server, saved)


def _command(ctx: typer.Context) -> tuple[str, ...]:
    """The command's words, e.g. ``("payout", "approve")``."""
    return tuple(ctx.command_path.split()[1:])


def acts_as_staff(ctx: typer.Context) -> bool:
    """Whether the command acts or looks as a staff member (it has a ``--by``)."""
    return "by" in ctx.params and _command(ctx) not in ALWAYS_DIRECT


def check_direct(ctx: typer.Context, svc: Services | None) -> None:
    """Refuse (exit 1, nothing done) a command acting as a staff member on the store itself
    when a server is named (the API has no route for it), or when the store's programs
    config says ``[security] actors = "authenticated"``."""
    if not acts_as_staff(ctx):
        return
    words = " ".join(_command(ctx))
    if ctx.obj.server:
        fail(
            f"aidledger {words} does not go through the server yet: run it on the store "
            "(with --db, without --server or AIDLEDGER_SERVER) where the store allows it"
        )
    if svc is not None and svc.config.security.actors == "authenticated":
        fail(
            f"this store takes aidledger {words} only from a logged-in staff member "
            '([security] actors = "authenticated" in its programs config): aidledger login '
            "--server URL, then run the command again (it then goes through the server, as "
            "you); nothing was done"
        )
