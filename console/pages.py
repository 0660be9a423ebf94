"""The console's pages (简体中文, rendered on the server by Jinja2, no script).

Here: the login page, the password change a temporary password leads to, the landing page,
health, and what every page shares — the layout (who is logged in, a navigation bar of the
sections their roles use), `Pages.show` (a page from the services, a refusal shown on it
with its status) and `Pages.act` (a form's POST: the session's CSRF token, the caller as
the actor, then a redirect with what was done, or the page again with the refusal). The
sections are in `console.sections`. Every form that posts carries the session's CSRF token
(the login form its own, see `console.auth`); the filter forms are GETs and carry none (it
would end up in addresses and the browser's history).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from console.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    Caller,
    authenticate,
    clear_session_cookie,
    login_csrf,
    same_token,
    set_login_csrf_cookie,
    set_session_cookie,
)
from console.backend import Borrow, Health, Options, Workspace
from console.errors import CsrfRefused, message_for, status_for
from console.flash import Flash, clear_flash, set_flash, take_flash
from eligibility.movements import MOVEMENT_READERS
from eligibility.reviews import REVIEW_LIST_READERS
from ledger.access import Viewer
from ledger.duties import ROLES, Actor
from ledger.errors import AidLedgerError, InvalidValue, StoreError
from ledger.logins import NotLoggedIn, PasswordChangeRequired, check_acting_as
from ledger.payment import COMMENTERS

T = TypeVar("T")


@dataclass(frozen=True)
class Section:
    """A section of the console: its path, its name, what it holds, and the roles whose
    navigation bar shows it (a convenience: the services decide what anyone may do)."""

    path: str
    title: str
    about: str
    roles: frozenset[str]


def _roles(*names: str) -> frozenset[str]:
    return frozenset(names)


_READERS = _roles("finance", "finance_approver", "supervisor", "auditor")
_CASE_WORK = _roles("caseworker", "approver", *_READERS)

#: The console's sections, in the navigation bar's order.
SECTIONS: tuple[Section, ...] = (
    Section("/runs", "发放批次", "查看、审核、批准发放批次，放行暂停的支付", _READERS),
    Section(
        "/findings", "核查发现", "按类型、严重程度、地区、状态筛选，分派、评论、处理", _CASE_WORK
    ),
    Section("/cases", "个案时间线", "个案的决定与资金往来，可按日期回看", _CASE_WORK),
    Section("/applications", "申请", "救助申请及其审核步骤，可按日期回看", _CASE_WORK),
    Section("/reviews", "定期核查", "到期及逾期待核查的个案", _roles(*REVIEW_LIST_READERS)),
    Section("/complaints", "投诉举报", "投诉举报的登记与待办（按答复期限）", _CASE_WORK),
    Section("/recoveries", "追回", "应追回的资金及其收回、核销", _READERS),
    Section("/reports", "报表", "发放报表，下载 CSV / XLSX", _roles("approver", *_READERS)),
    Section(
        "/movements", "增减变动", "按月的在保增减变动，下载 CSV / XLSX", _roles(*MOVEMENT_READERS)
    ),
    Section("/notice", "公示", "公示名单的打印版", _CASE_WORK),
    Section("/staff", "人员与登录", "工作人员、角色与登录（系统管理）", _roles("admin")),
    Section(
        "/access-log",
        "访问日志",
        "个人信息的查看记录（审计）",
        _roles("auditor", "supervisor", "admin"),
    ),
    Section("/health", "系统状态", "数据库与定时任务是否正常", frozenset(ROLES)),
)

#: The forms a page offers to each role (the aggregates decide: an offered form may still be
#: refused, with the rule's message; a form not offered is refused all the same if posted).
FORMS: dict[str, frozenset[str]] = {
    "approve": _roles("finance_approver"),
    "cancel": _roles("finance"),
    "release": _roles("finance_approver", "supervisor"),
    "assign": _roles("supervisor"),
    "comment": frozenset(COMMENTERS),
    "resolve": _roles("supervisor", "finance_approver"),
    "complaint": _roles("caseworker"),
}


#: Fields every record of a case history has: the timeline shows them in columns of their own.
_RECORD_COLUMNS = frozenset(
    {"type", "by", "by_name", "recorded_at", "effective_from", "period", "source", "version"}
)


def details(record: dict[str, Any], *hide: str) -> list[str]:
    """A history record's own fields as ``name=value`` lines (a change as before→after),
    but those in ``hide``."""
    out = []
    for key, value in record.items():
        if key in _RECORD_COLUMNS or key in hide or value in (None, "", [], {}, ()):
            continue
        if key == "changes" and isinstance(value, dict):
            value = "; ".join(
                f"{f} {pair[0]}→{pair[1]}"
                if isinstance(pair, list | tuple) and len(pair) == 2
                else f"{f} {pair}"
                for f, pair in value.items()
            )
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        out.append(f"{key}={value}")
    return out


def environment() -> Environment:
    """The templates, with autoescape on for every one of them."""
    env = Environment(loader=PackageLoader("console", "templates"), autoescape=True)
    env.globals["ROLES"] = ROLES
    env.filters["details"] = details
    return env


@dataclass(frozen=True)
class Visit:
    """A page's request, once its caller is known: the services, the caller, and the staff
    member as they stand today (roles, region)."""

    request: Request
    ws: Workspace
    caller: Caller
    me: Actor

    @property
    def staff_id(self) -> str:
        return self.caller.staff_id

    def viewer(self, reason: str) -> Viewer:
        """The caller looking at personal data through the console (`ledger.access`)."""
        return self.ws.history.viewer(self.me, reason=reason, channel="console")

    def param(self, name: str) -> str:
        """A query parameter, stripped ('' when absent)."""
        return self.request.query_params.get(name, "").strip()


#: What a page shows: its template's context, from the services.
PageWork = Callable[[Visit], dict[str, Any]]
#: What a form does: where to go next, and what to say there.
FormWork = Callable[[Visit, FormData], tuple[str, Flash]]
#: A page shown again with a form's refusal.
Again = Callable[[Request, str, int], Awaitable[Response]]


class Pages:
    """The console's routes over the services ``borrow`` lends: the login, the password, the
    landing page and health here; the sections in `console.sections`."""

    def __init__(self, borrow: Borrow, options: Options, health: Health | None = None) -> None:
        from console.sections import sections

        self.borrow = borrow
        self.options = options
        self.health_of = health
        self.env = environment()
        self.sections = sections(self)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/password", self.password_page, methods=["GET"]),
            Route("/password", self.change_password, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
            *(r for section in self.sections for r in section.routes()),
        ]

    async def refusal(self, request: Request, exc: Exception) -> Response:
        """A refusal no page handled itself (the store away, say): an error page with its
        status."""
        if not isinstance(exc, AidLedgerError):  # registered for AidLedgerError only
            raise exc
        return self.render("error.html", status_for(exc), error=message_for(exc))

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status)

    async def in_store(self, work: Callable[[Workspace], T]) -> T:
        def run() -> T:
            with self.borrow() as ws:
                return work(ws)

        return await run_in_threadpool(run)

    async def caller(self, request: Request, *, full: bool = True) -> Caller | Response:
        """The logged-in caller, or where to send them (the login or password page)."""
        try:
            return await self.in_store(lambda ws: authenticate(request, ws, full=full))
        except (NotLoggedIn, PasswordChangeRequired) as e:
            return _to_login(e)

    async def as_caller(
        self, request: Request, work: Callable[[Workspace, Caller, Actor], T]
    ) -> T | Response:
        """``work`` as the logged-in caller, who is found in the same borrowing of the
        services (one catch-up with the log, not two); or where to send them."""

        def run(ws: Workspace) -> T:
            caller = authenticate(request, ws, full=True)
            return work(ws, caller, ws.logins.actor(caller.staff_id))

        try:
            return await self.in_store(run)
        except (NotLoggedIn, PasswordChangeRequired) as e:
            return _to_login(e)

    # -- pages and forms -------------------------------------------------------------------

    async def show(
        self,
        request: Request,
        template: str,
        work: PageWork,
        *,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        """A page: the caller (or the login page), ``work``'s context from the services,
        rendered in the layout. A refusal of ``work`` (a missing reason, a duty, something
        not found) is shown on the page with its status; ``error`` is a form's refusal."""

        def run(
            ws: Workspace, caller: Caller, me: Actor
        ) -> tuple[Caller, Actor, dict[str, Any], AidLedgerError | None]:
            try:
                return caller, me, work(Visit(request, ws, caller, me)), None
            except StoreError:
                raise
            except AidLedgerError as e:
                return caller, me, {}, e

        shown = await self.as_caller(request, run)
        if isinstance(shown, Response):
            return shown
        caller, me, context, problem = shown
        flash = take_flash(request, caller)
        if problem is not None and error is None:
            error, status = message_for(problem), status_for(problem)
        response = self.render(
            template,
            status,
            **self.layout(caller, me),
            **context,
            q=request.query_params,
            error=error,
            flash=flash,
        )
        if flash is not None:
            clear_flash(response, request, self.options)
        return response

    def layout(self, caller: Caller, me: Actor) -> dict[str, Any]:
        """What the layout shows: who, the sections their roles use, the forms offered."""
        return {
            "user": caller.staff_id,
            "csrf_token": caller.csrf_token,
            "nav": [s for s in SECTIONS if s.roles & me.roles],
            "offers": {name for name, roles in FORMS.items() if roles & me.roles},
            "region": me.region,
        }

    async def act(self, request: Request, work: FormWork, *, again: Again) -> Response:
        """A form's POST: the caller with the session's CSRF token (the form's
        ``csrf_token``), a ``by`` field refused unless the caller's, then ``work`` as the
        caller; a redirect (303) with what it did, or the page again with the refusal."""
        form = await request.form()

        def run(ws: Workspace) -> tuple[Caller, tuple[str, Flash]]:
            caller = authenticate(
                request, ws, csrf=str(form.get(CSRF_FIELD) or ""), check_csrf=True
            )
            check_acting_as(caller.staff_id, form.get("by"))
            me = ws.logins.actor(caller.staff_id)
            return caller, work(Visit(request, ws, caller, me), form)

        try:
            caller, (target, flash) = await self.in_store(run)
        except (NotLoggedIn, CsrfRefused, PasswordChangeRequired) as e:
            return self.render("error.html", status_for(e), error=message_for(e))
        except StoreError:
            raise
        except AidLedgerError as e:
            return await again(request, message_for(e), status_for(e))
        response = RedirectResponse(target, status_code=303)
        set_flash(response, request, self.options, caller, flash)
        return response

    async def download(
        self, request: Request, work: Callable[[Visit], tuple[str, str, bytes]]
    ) -> Response:
        """A file to download (``work``: its name, media type and content)."""
        got = await self.as_caller(
            request, lambda ws, caller, me: work(Visit(request, ws, caller, me))
        )
        if isinstance(got, Response):
            return got
        name, media, content = got
        return Response(
            content,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # -- login and logout ------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        caller = await self.caller(request)
        if isinstance(caller, Caller):
            return RedirectResponse("/", status_code=303)
        return self._login_form(request)

    def _login_form(
        self, request: Request, *, error: str | None = None, status: int = 200, staff_id: str = ""
    ) -> Response:
        token = login_csrf(request)
        response = self.render(
            "login.html", status, csrf_token=token, error=error, staff_id=staff_id
        )
        set_login_csrf_cookie(response, token, request, self.options)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        staff_id = str(form.get("staff_id") or "").strip()
        password = str(form.get("password") or "")
        totp = str(form.get("totp") or "").strip() or None
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not same_token(str(form.get(CSRF_FIELD) or ""), expected):
            error = CsrfRefused("登录页已过期，请重新登录（missing or wrong CSRF token）")
            return self._login_form(request, error=str(error), status=403, staff_id=staff_id)
        try:
            opened = await self.in_store(lambda ws: ws.logins.log_in(staff_id, password, totp))
        except AidLedgerError as e:
            return self._login_form(
                request, error=message_for(e), status=status_for(e), staff_id=staff_id
            )
        target = "/password" if opened.must_change_password else "/"
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(response, opened.token, request, self.options)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()

        def work(ws: Workspace) -> None:
            caller = authenticate(
                request, ws, csrf=str(form.get(CSRF_FIELD) or ""), check_csrf=True, full=False
            )
            ws.logins.log_out(caller.credentials.token)

        try:
            await self.in_store(work)
        except NotLoggedIn:
            pass  # already out: the cookie goes all the same
        except AidLedgerError as e:
            return self.render("error.html", status_for(e), error=message_for(e))
        response = RedirectResponse("/login", status_code=303)
        clear_session_cookie(response, request, self.options)
        return response

    # -- the password ----------------------------------------------------------------------

    async def password_page(self, request: Request) -> Response:
        caller = await self.caller(request, full=False)
        if not isinstance(caller, Caller):
            return caller
        return self._password_form(caller)

    def _password_form(
        self, caller: Caller, *, error: str | None = None, status: int = 200
    ) -> Response:
        return self.render(
            "password.html",
            status,
            user=caller.staff_id,
            must_change=caller.session.must_change_password,
            csrf_token=caller.csrf_token,
            error=error,
        )

    async def change_password(self, request: Request) -> Response:
        form = await request.form()
        old = str(form.get("old_password") or "")
        new = str(form.get("new_password") or "")
        again = str(form.get("new_password_again") or "")
        caller = await self.caller(request, full=False)
        if not isinstance(caller, Caller):
            return caller

        def work(ws: Workspace) -> None:
            authenticate(
                request, ws, csrf=str(form.get(CSRF_FIELD) or ""), check_csrf=True, full=False
            )
            if new != again:
                raise InvalidValue("两次输入的新密码不一致 (the two new passwords differ)")
            ws.logins.change_password(caller.credentials.token, old, new)

        try:
            await self.in_store(work)
        except NotLoggedIn:
            return RedirectResponse("/login", status_code=303)
        except AidLedgerError as e:
            return self._password_form(caller, error=message_for(e), status=status_for(e))
        return RedirectResponse("/", status_code=303)

    # -- the landing page and health -------------------------------------------------------

    async def home(self, request: Request) -> Response:
        def work(visit: Visit) -> dict[str, Any]:
            directory = visit.ws.logins.directory()
            roles = [f"{ROLES[r]}（{r}）" for r in ROLES if r in visit.me.roles]
            return {
                "name": directory.name_of(visit.staff_id) or "",
                "roles": roles,
                "expires_at": visit.caller.session.expires_at,
            }

        return await self.show(request, "home.html", work)

    async def health(self, request: Request) -> Response:
        """``/healthz`` for people: the store, the projections, the jobs."""
        health_of = self.health_of

        def work(visit: Visit) -> dict[str, Any]:
            if health_of is None:
                return {"healthy": None, "checks": {}}
            code, body = health_of()
            return {"healthy": code == 200, "checks": body}

        return await self.show(request, "health.html", work)


def _to_login(refused: NotLoggedIn | PasswordChangeRequired) -> Response:
    """Where a caller who may not go on is sent: the login, or the password page."""
    target = "/password" if isinstance(refused, PasswordChangeRequired) else "/login"
    return RedirectResponse(target, status_code=303)
