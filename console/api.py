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
import os
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from console.auth import CSRF_HEADER, Caller, authenticate, clear_session_cookie, set_session_cookie
from console.backend import Borrow, Options, Workspace
from console.errors import invalid
from ledger.access import MAX_REASON
from ledger.errors import AidLedgerError, InvalidValue, NotFound
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


class PrepareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(min_length=1, max_length=16)
    program: str | None = Field(default=None, max_length=64)


class ExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["pain001", "csv"]
    encoding: Literal["utf-8", "gb18030"] = "utf-8"
    reason: str = Field(default="", max_length=MAX_REASON)


class ComplaintBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1, max_length=32)
    category: str = Field(min_length=1, max_length=32)
    summary: str = Field(min_length=1, max_length=4 * MAX_REASON)
    case: str | None = Field(default=None, max_length=64)
    payment: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=12)
    anonymous: bool = False
    complainant: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)


class ReferBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=200)
    reason: str = TEXT


class DetailBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detail: str = Field(min_length=1, max_length=4 * MAX_REASON)


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(min_length=1, max_length=32)
    detail: str = Field(min_length=1, max_length=4 * MAX_REASON)


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
        from console.api_commands import CommandRoutes

        return [
            *CommandRoutes(self).routes(),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/password", self.password, methods=["POST"]),
            Route("/runs", self.runs, methods=["GET"]),
            Route("/runs/prepare", self.prepare, methods=["POST"]),
            Route("/runs/{run_id}", self.run, methods=["GET"]),
            Route("/runs/{run_id}/export", self.export, methods=["POST"]),
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
            Route("/imports/{kind}", self.import_file, methods=["POST"]),
            Route("/config", self.config_apply, methods=["POST"]),
            Route("/complaints", self.complaints, methods=["GET"]),
            Route("/complaints", self.complaint_open, methods=["POST"]),
            Route("/complaints/{complaint_id}/history", self.complaint_history, methods=["GET"]),
            Route("/complaints/{complaint_id}/{act}", self.complaint_act, methods=["POST"]),
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
        from console.answers import approval_doc
        from ledger import chain

        run_id = request.path_params["run_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ApproveBody, data)
            a = ws.payouts.approve(run_id, by=caller.staff_id, override_reason=body.override_reason)
            head = chain.head(ws.db)
            shown = None if head is None else f"sha256:{head.hash.hex()}"
            return approval_doc(a, run_id, caller.staff_id, shown)

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

    # -- the command line through the API: prepare, export, imports, config, complaints --------

    async def prepare(self, request: Request) -> Response:
        """``payout prepare --period [--program]`` (``{period, program?}``): every field of
        what the prepare did (`console.answers.prepared_doc`)."""
        from console.answers import prepared_doc
        from ledger.period import Period

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(PrepareBody, data)
            r = ws.payouts.prepare(
                Period.parse(body.period), program=body.program, by=caller.staff_id
            )
            return prepared_doc(r)

        return await self.act(request, work)

    async def export(self, request: Request) -> Response:
        """``payout export RUN --format --encoding --reason``: the bank file itself
        (``content``, base64) with what it holds. Its writing is recorded in the access log
        (channel ``api``); the caller keeps the file."""
        import base64
        import tempfile

        from ledger.money import format_fen

        run_id = request.path_params["run_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ExportBody, data)
            suffix = "xml" if body.format == "pain001" else "csv"
            with tempfile.TemporaryDirectory(prefix="aidledger-export-") as folder:
                target = Path(folder) / f"{run_id}.{suffix}"
                x = ws.payouts.export(
                    run_id,
                    fmt=body.format,
                    out=target,
                    by=caller.staff_id,
                    encoding=body.encoding,
                    reason=body.reason,
                    channel="api",
                )
                content = target.read_bytes()
            return {
                "run_id": run_id,
                "payments": x.payments,
                "amount": format_fen(x.amount),
                "batches": list(x.batches),
                "awaiting": x.awaiting,
                "sha256": x.sha256,
                "content": base64.b64encode(content).decode("ascii"),
            }

        return await self.act(request, work)

    async def import_file(self, request: Request) -> Response:
        """``import KIND FILE``: the file is the body as it is (any content type), its name
        ``?filename=``; the summary as ``import --format json``. A refused file names the
        file, each line and why, and records nothing."""
        from console.answers import summary_doc
        from ledger.imports import KINDS, Kind

        kind = request.path_params["kind"]
        if kind not in KINDS:
            raise InvalidValue(f"unknown import kind {kind!r} (known: {', '.join(KINDS)})")

        def work(ws: Workspace, caller: Caller, path: Path) -> dict[str, Any]:
            return summary_doc(
                ws.importer.import_file(cast("Kind", kind), path, by=caller.staff_id)
            )

        return await self.upload(request, work)

    async def config_apply(self, request: Request) -> Response:
        """``config apply FILE [--from]``: the file is the body, its name ``?filename=``, the
        day ``?from=YYYY-MM-DD`` (default today)."""

        def work(ws: Workspace, caller: Caller, path: Path) -> dict[str, Any]:
            day = query_date(request, "from")
            applied = ws.configs.apply(path, effective_from=day, by=caller.staff_id)
            return {
                "sha256": applied.sha256,
                "effective_from": applied.effective_from.isoformat(),
                "recorded": applied.recorded,
            }

        return await self.upload(request, work)

    async def upload(
        self, request: Request, work: Callable[[Workspace, Caller, Path], dict[str, Any]]
    ) -> Response:
        """A POST whose body is a file: kept in a folder of its own under its own name (as
        the command line read it) while ``work`` reads it, then removed. The caller is
        authenticated (with the CSRF header for a cookie) before anything is read."""
        import shutil
        import tempfile

        name = check_upload_name(query(request, "filename"))
        check_acting_as_query(request)

        def who(ws: Workspace) -> Caller:
            caller = authenticate(
                request, ws, csrf=request.headers.get(CSRF_HEADER), check_csrf=True
            )
            check_acting_as(caller.staff_id, query(request, "by"))
            return caller

        caller = await self.in_store(who)  # before a byte of the file is read
        folder = Path(tempfile.mkdtemp(prefix="aidledger-upload-"))
        try:
            path = folder / name
            with path.open("wb") as f:
                async for chunk in request.stream():
                    f.write(chunk)

            def run(ws: Workspace) -> dict[str, Any]:
                try:
                    return work(ws, caller, path)
                except AidLedgerError as e:
                    raise without_folder(e, folder) from None

            return JSONResponse(await self.in_store(run))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def complaints(self, request: Request) -> Response:
        """``complaints --format json`` with ``status`` and ``overdue`` (never who
        complained)."""
        from eligibility.complaints import Complaints

        def work(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
            return ws.service(Complaints).list(
                status=query(request, "status") or "open",
                overdue=query(request, "overdue") in ("1", "true", "yes"),
            )

        return await self.read(request, work)

    async def complaint_history(self, request: Request) -> Response:
        """``complaint history C --format json`` with ``as_of`` and ``known_at``."""
        from eligibility.complaints import Complaints

        complaint_id = request.path_params["complaint_id"]

        def work(ws: Workspace, caller: Caller) -> dict[str, Any]:
            return ws.service(Complaints).history(
                complaint_id,
                as_of=query_date(request, "as_of") or ws.today,
                known_at=query_date(request, "known_at"),
                timezone=ws.settings.timezone,
            )

        return await self.read(request, work)

    async def complaint_open(self, request: Request) -> Response:
        """``complaint open`` (``{channel, category, summary, case?, payment?, region?,
        anonymous?, complainant?, phone?}``): the complaint, never who complained."""
        from eligibility.complaints import Complaints

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ComplaintBody, data)
            c = ws.service(Complaints).open(
                channel=body.channel,
                category=body.category,
                summary=body.summary,
                case_id=body.case,
                payment_id=body.payment,
                region=body.region,
                anonymous=body.anonymous,
                complainant=body.complainant,
                phone=body.phone,
                by=caller.staff_id,
            )
            return {
                "complaint_id": c.complaint_id,
                "category": c.category,
                "channel": c.channel,
                "about": c.case_id or c.payment_id or c.region_code or "no case",
                "received_on": str(c.received_on),
                "due": str(c.due),
                "anonymous": c.anonymous,
            }

        return await self.act(request, work)

    async def complaint_act(self, request: Request) -> Response:
        """``complaint assign|comment|refer|respond|resolve|reopen C`` with the command's
        options as the body (``{to}``, ``{text}``, ``{to, reason}``, ``{detail}``,
        ``{outcome, detail}``, ``{reason}``)."""
        from eligibility.complaints import Complaints

        cid = request.path_params["complaint_id"]
        act = request.path_params["act"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            service, by = ws.service(Complaints), caller.staff_id
            done: dict[str, Any] = {"complaint_id": cid, "by": by}
            if act == "assign":
                service.assign(cid, to=parsed(AssignBody, data).to, by=by)
            elif act == "comment":
                service.comment(cid, text=parsed(CommentBody, data).text, by=by)
            elif act == "refer":
                refer = parsed(ReferBody, data)
                service.refer(cid, to=refer.to, reason=refer.reason, by=by)
            elif act == "respond":
                service.respond(cid, reply=parsed(DetailBody, data).detail, by=by)
            elif act == "resolve":
                body = parsed(OutcomeBody, data)
                c = service.resolve(cid, outcome=body.outcome, detail=body.detail, by=by)
                done["finding_id"] = c.finding_id
            elif act == "reopen":
                c = service.reopen(cid, reason=parsed(ReasonBody, data).reason, by=by)
                done["due"] = str(c.due)
            else:
                raise NotFound(f"no complaint action {act!r}")
            return done

        return await self.act(request, work)


#: An uploaded file's name: what the command line read, as it names it in its refusals.
_UPLOAD_NAME = re.compile(r"[^/\\\x00-\x1f]{1,200}")


def check_upload_name(name: str | None) -> str:
    """A file name (no folder) for an upload: refused if missing or not a plain name."""
    if name is None:
        raise InvalidValue("give the file's name: ?filename=NAME")
    if not _UPLOAD_NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidValue("?filename= must be a file's name, without a folder")
    return name


def check_acting_as_query(request: Request) -> None:
    """An upload's ``?by=`` is checked with the caller once known (`check_acting_as`); here
    only that it is one value."""
    if len(request.query_params.getlist("by")) > 1:
        raise InvalidValue("give ?by= once")


def without_folder(error: AidLedgerError, folder: Path) -> AidLedgerError:
    """A refusal about an uploaded file, naming the file as sent (not the server's folder)."""
    error.args = tuple(
        str(a).replace(f"{folder}{os.sep}", "") if isinstance(a, str) else a for a in error.args
    )
    return error
