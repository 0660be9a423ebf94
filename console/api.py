"""The JSON API (``/api/v1/``): bodies and answers as the command line's ``--format json``.

Every route acts as the logged-in staff member through the same service call as the command
line, with ``by`` the caller's staff id; no route checks a duty (the aggregates do, and
`console.errors` turns their refusal into 403 with the same message). A body's ``by``, if
sent, must be the caller (`acting`). Reads of personal data are masked by the caller's role
and recorded in the access log by the services (`ledger.masking`, `ledger.access`).

The store is worked on the server's thread pool (`run_in_threadpool`): the event loop keeps
answering other requests while one waits on the store or hashes a password.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from console.auth import CSRF_HEADER, Caller, authenticate, clear_session_cookie, set_session_cookie
from console.backend import Borrow, Options, Workspace
from console.errors import invalid
from ledger.access import MAX_REASON
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


#: A reason or comment as long as the API takes it (the services refuse what they refuse).
TEXT = Field(min_length=1, max_length=MAX_REASON)


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    override_reason: str | None = Field(default=None, max_length=MAX_REASON)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = TEXT


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=64)


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=4 * MAX_REASON)


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=64)
    comment: str = Field(default="", max_length=4 * MAX_REASON)


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object (see `parse_json`)."""
    return parse_json(request, await request.body())


def parse_json(request: Request, raw: bytes, *, optional: bool = False) -> dict[str, Any]:
    """A request body's JSON object. Only ``application/json``: a page of another site cannot
    send that without the browser asking first, and this server never says yes. With
    ``optional``, no body at all is an empty object."""
    if optional and not raw.strip():
        return {}
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise InvalidValue("send a JSON object with Content-Type: application/json")
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidValue("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidValue("the request body must be a JSON object")
    return data


def query(request: Request, name: str) -> str | None:
    """A query parameter, None when absent or empty."""
    value = request.query_params.get(name)
    return value if value else None


def query_date(request: Request, name: str) -> date | None:
    from ledger.period import parse_date

    value = query(request, name)
    return None if value is None else parse_date(value)


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
            Route("/runs/{run_id}/approve", self.approve, methods=["POST"]),
            Route("/runs/{run_id}/cancel", self.cancel, methods=["POST"]),
            Route("/payments/{payment_id}/release", self.release, methods=["POST"]),
            Route("/findings", self.findings, methods=["GET"]),
            Route("/findings/{finding_id}/assign", self.assign, methods=["POST"]),
            Route("/findings/{finding_id}/comment", self.comment, methods=["POST"]),
            Route("/findings/{finding_id}/resolve", self.resolve, methods=["POST"]),
            Route("/cases/{case_id}/history", self.case_history, methods=["GET"]),
            Route("/recoveries", self.recoveries, methods=["GET"]),
            Route("/access-log", self.access_log, methods=["GET"]),
        ]

    async def read(self, request: Request, work: Callable[[Workspace, Caller], Any]) -> Response:
        """A GET: the caller authenticated, then ``work`` as them; its answer as JSON."""

        def run(ws: Workspace) -> Any:
            return work(ws, authenticate(request, ws))

        return JSONResponse(await self.in_store(run))

    async def act(
        self,
        request: Request,
        work: Callable[[Workspace, Caller, dict[str, Any]], dict[str, Any]],
        *,
        optional_body: bool = False,
    ) -> Response:
        """A POST: the caller authenticated (with the CSRF header for a cookie), the body
        read and its ``by`` refused unless the caller's, then ``work`` as the caller."""
        raw = await request.body()

        def run(ws: Workspace) -> dict[str, Any]:
            caller = authenticate(
                request, ws, csrf=request.headers.get(CSRF_HEADER), check_csrf=True
            )
            data = acting(caller, parse_json(request, raw, optional=optional_body))
            return work(ws, caller, data)

        return JSONResponse(await self.in_store(run))

    # -- logging in ------------------------------------------------------------------------

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

    # -- runs --------------------------------------------------------------------------------

    async def runs(self, request: Request) -> Response:
        """``payout list --format json``: one row per run, ``?period=YYYY-MM`` for one month."""
        from ledger.period import Period

        period = query(request, "period")

        def work(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
            return ws.payouts.review.list_runs(str(Period.parse(period)) if period else None)

        return await self.read(request, work)

    async def run(self, request: Request) -> Response:
        """``payout show RUN --format json --by CALLER``."""
        run_id = request.path_params["run_id"]

        def work(ws: Workspace, caller: Caller) -> dict[str, Any]:
            return ws.payouts.review.show(run_id, viewer=ws.payouts.actor(caller.staff_id))

        return await self.read(request, work)

    async def approve(self, request: Request) -> Response:
        """``payout approve RUN`` (``{override_reason?}``): the run, or once approved, the
        payments released since."""
        from ledger import chain
        from ledger.money import format_fen

        run_id = request.path_params["run_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ApproveBody, data)
            a = ws.payouts.approve(run_id, by=caller.staff_id, override_reason=body.override_reason)
            head = chain.head(ws.db)
            return {
                "run_id": run_id,
                "approved_by": caller.staff_id,
                "releases": a.releases,
                "payable": {"payments": a.payable.payments, "amount": format_fen(a.payable.amount)},
                "held": {"payments": a.held.payments, "amount": format_fen(a.held.amount)},
                "chain_head": None if head is None else f"sha256:{head.hash.hex()}",
            }

        return await self.act(request, work, optional_body=True)

    async def cancel(self, request: Request) -> Response:
        """``payout cancel RUN --reason`` (``{reason}``)."""
        run_id = request.path_params["run_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ReasonBody, data)
            ws.payouts.cancel(run_id, by=caller.staff_id, reason=body.reason)
            return {"run_id": run_id, "status": "cancelled", "cancelled_by": caller.staff_id}

        return await self.act(request, work)

    async def release(self, request: Request) -> Response:
        """``payout release PAYMENT --reason`` (``{reason}``): ``released`` false while a
        critical hold waits for its second release (``held``: what still holds it)."""
        payment_id = request.path_params["payment_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ReasonBody, data)
            payment = ws.payouts.release(payment_id, by=caller.staff_id, reason=body.reason)
            return {
                "payment_id": payment_id,
                "released_by": caller.staff_id,
                "released": not payment.held,
                "held": list(payment.held),
            }

        return await self.act(request, work)

    # -- findings ----------------------------------------------------------------------------

    async def findings(self, request: Request) -> Response:
        """``findings --period --format json --by CALLER`` with ``type``, ``status`` (open,
        resolved, all), ``severity``, ``region`` and ``reason``: masked, and recorded in the
        access log."""
        from ledger.period import Period

        def work(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
            period = query(request, "period")
            if period is None:
                raise InvalidValue("give the period: ?period=YYYY-MM")
            viewer = ws.reconciliation.viewer(
                caller.staff_id, reason=query(request, "reason") or "", channel="api"
            )
            return ws.reconciliation.findings(
                period=str(Period.parse(period)),
                viewer=viewer,
                type_=query(request, "type"),
                status=query(request, "status") or "open",
                region=query(request, "region"),
                severity=query(request, "severity"),
            )

        return await self.read(request, work)

    async def assign(self, request: Request) -> Response:
        """``finding assign F --to`` (``{to}``)."""
        fid = request.path_params["finding_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(AssignBody, data)
            ws.reconciliation.assign(fid, to=body.to, by=caller.staff_id)
            return {"finding_id": fid, "assigned_to": body.to, "assigned_by": caller.staff_id}

        return await self.act(request, work)

    async def comment(self, request: Request) -> Response:
        """``finding comment F --text`` (``{text}``)."""
        fid = request.path_params["finding_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(CommentBody, data)
            ws.reconciliation.comment(fid, text=body.text, by=caller.staff_id)
            return {"finding_id": fid, "commented_by": caller.staff_id}

        return await self.act(request, work)

    async def resolve(self, request: Request) -> Response:
        """``finding resolve F --reason --comment`` (``{reason, comment?}``)."""
        fid = request.path_params["finding_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ResolveBody, data)
            ws.reconciliation.resolve(
                fid, resolution=body.reason, comment=body.comment, by=caller.staff_id
            )
            return {"finding_id": fid, "resolution": body.reason, "resolved_by": caller.staff_id}

        return await self.act(request, work)

    # -- cases, recoveries, the access log -----------------------------------------------------

    async def case_history(self, request: Request) -> Response:
        """``case history C --format json --by CALLER`` with ``as_of``, ``known_at`` and
        ``reason``: masked, and recorded in the access log."""
        case_id = request.path_params["case_id"]

        def work(ws: Workspace, caller: Caller) -> dict[str, Any]:
            as_of = query_date(request, "as_of") or ws.today
            known_at = query_date(request, "known_at")
            viewer = ws.history.viewer(
                caller.staff_id, reason=query(request, "reason") or "", channel="api"
            )
            return ws.history.history(case_id, as_of=as_of, known_at=known_at, viewer=viewer)

        return await self.read(request, work)

    async def recoveries(self, request: Request) -> Response:
        """``recoveries --format json`` with ``case`` and ``status`` (open, collected,
        waived, all)."""

        def work(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
            return ws.recoveries.list(
                case_id=query(request, "case"), status=query(request, "status") or "open"
            )

        return await self.read(request, work)

    async def access_log(self, request: Request) -> Response:
        """``access-log --format json --by CALLER`` with ``case``, ``staff`` and ``since``
        (readers: auditors, supervisors, admins)."""

        def work(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
            return ws.access.entries(
                ws.access.actor(caller.staff_id),
                case_id=query(request, "case"),
                staff_id=query(request, "staff"),
                since=query_date(request, "since"),
            )

        return await self.read(request, work)
