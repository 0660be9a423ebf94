"""The JSON API (``/api/v1/``): bodies and answers as the command line's ``--format json``.

The store is worked on the server's thread pool (`run_in_threadpool`): the event loop keeps
answering other requests while one waits on the store or hashes a password.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from console.auth import CSRF_HEADER, Caller, authenticate, clear_session_cookie, set_session_cookie
from console.backend import Borrow, Options, Workspace
from console.errors import invalid
from ledger.errors import InvalidValue
from ledger.logins import MAX_PASSWORD, check_acting_as

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD * 4)
    totp: str | None = Field(default=None, max_length=16)


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=MAX_PASSWORD * 4)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD * 4)


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object. Only ``application/json``: a page of another site cannot
    send that without the browser asking first, and this server never says yes."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise InvalidValue("send a JSON object with Content-Type: application/json")
    try:
        data = await request.json()
    except ValueError:
        raise InvalidValue("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidValue("the request body must be a JSON object")
    return data


def parsed(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise invalid(e) from None


def acting(caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
    """The body without its ``by``, refused (403) if it names anyone but the caller."""
    check_acting_as(caller.staff_id, data.get("by"))
    return {k: v for k, v in data.items() if k != "by"}


class Api:
    """The routes of ``/api/v1/`` over the services ``borrow`` lends."""

    def __init__(self, borrow: Borrow, options: Options) -> None:
        self.borrow = borrow
        self.options = options

    async def in_store(self, work: Callable[[Workspace], T]) -> T:
        """Run ``work`` with the store's services, on the thread pool."""

        def run() -> T:
            with self.borrow() as ws:
                return work(ws)

        return await run_in_threadpool(run)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/password", self.password, methods=["POST"]),
            Route("/runs", self.runs, methods=["GET"]),
            Route("/runs/{run_id}", self.run, methods=["GET"]),
        ]

    async def login(self, request: Request) -> Response:
        """``{staff_id, password, totp?}`` -> ``{token, expires_at, must_change_password}``
        and the session cookie."""
        body = parsed(LoginBody, await json_object(request))
        opened = await self.in_store(
            lambda ws: ws.logins.log_in(body.staff_id, body.password, body.totp)
        )
        response = JSONResponse(
            {
                "token": opened.token,
                "expires_at": opened.expires_at.isoformat(),
                "must_change_password": opened.must_change_password,
            }
        )
        set_session_cookie(response, opened.token, request, self.options)
        return response

    async def logout(self, request: Request) -> Response:
        """End the caller's session or personal token (and forget the cookie)."""

        def work(ws: Workspace) -> None:
            caller = authenticate(
                request, ws, csrf=request.headers.get(CSRF_HEADER), check_csrf=True, full=False
            )
            ws.logins.log_out(caller.credentials.token)

        await self.in_store(work)
        response = JSONResponse({"logged_out": True})
        clear_session_cookie(response, request, self.options)
        return response

    async def password(self, request: Request) -> Response:
        """``{old_password, new_password}``: the caller changes their own password (the one
        thing a session opened with a temporary password may do)."""
        data = await json_object(request)

        def work(ws: Workspace) -> str:
            caller = authenticate(
                request, ws, csrf=request.headers.get(CSRF_HEADER), check_csrf=True, full=False
            )
            body = parsed(PasswordBody, acting(caller, data))
            ws.logins.change_password(
                caller.credentials.token, body.old_password, body.new_password
            )
            return caller.staff_id

        staff_id = await self.in_store(work)
        return JSONResponse({"staff_id": staff_id, "password_changed": True})

    async def runs(self, request: Request) -> Response:
        """``payout list --format json``: one row per run, ``?period=YYYY-MM`` for one month."""
        from ledger.period import Period

        period = request.query_params.get("period")

        def work(ws: Workspace) -> list[dict[str, Any]]:
            authenticate(request, ws)
            return ws.payouts.review.list_runs(str(Period.parse(period)) if period else None)

        return JSONResponse(await self.in_store(work))

    async def run(self, request: Request) -> Response:
        """``payout show RUN --format json``."""
        run_id = request.path_params["run_id"]

        def work(ws: Workspace) -> dict[str, Any]:
            authenticate(request, ws)
            return ws.payouts.review.show(run_id)

        return JSONResponse(await self.in_store(work))
