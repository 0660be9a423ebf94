"""The console's pages (简体中文, rendered on the server by Jinja2, no script).

In this first step: the login page, the password change a temporary password leads to, the
landing page (who is logged in, and the sections), and a placeholder for each section to come.
Every form posts with the session's CSRF token (the login form with its own, see
`console.auth`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
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
from console.backend import Borrow, Options, Workspace
from console.errors import CsrfRefused, message_for, status_for
from ledger.duties import ROLES
from ledger.errors import AidLedgerError, InvalidValue
from ledger.logins import NotLoggedIn, PasswordChangeRequired

T = TypeVar("T")


@dataclass(frozen=True)
class Section:
    """A section of the console: its path, its name, and what it will hold."""

    path: str
    title: str
    about: str


#: The console's sections, in the landing page's order (each a placeholder for now).
SECTIONS: tuple[Section, ...] = (
    Section("/runs", "发放批次", "查看、审核、批准发放批次，放行暂停的支付"),
    Section("/findings", "核查发现", "按类型、严重程度、地区、状态筛选，分派、评论、处理"),
    Section("/cases", "个案时间线", "个案的决定与资金往来，可按日期回看"),
    Section("/recoveries", "追回", "应追回的资金及其收回、核销"),
    Section("/reports", "报表", "发放报表，下载 CSV / XLSX"),
    Section("/notice", "公示", "公示名单的打印版"),
    Section("/staff", "人员与登录", "工作人员、角色与登录（系统管理）"),
    Section("/access-log", "访问日志", "个人信息的查看记录（审计）"),
)


def environment() -> Environment:
    """The templates, with autoescape on for every one of them."""
    return Environment(loader=PackageLoader("console", "templates"), autoescape=True)


class Pages:
    """The console's routes over the services ``borrow`` lends."""

    def __init__(self, borrow: Borrow, options: Options) -> None:
        self.borrow = borrow
        self.options = options
        self.env = environment()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/password", self.password_page, methods=["GET"]),
            Route("/password", self.change_password, methods=["POST"]),
            *(Route(s.path, self._section_page(s), methods=["GET"]) for s in SECTIONS),
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
        except NotLoggedIn:
            return RedirectResponse("/login", status_code=303)
        except PasswordChangeRequired:
            return RedirectResponse("/password", status_code=303)

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

    # -- the landing page and the sections -------------------------------------------------

    async def home(self, request: Request) -> Response:
        caller = await self.caller(request)
        if not isinstance(caller, Caller):
            return caller

        def who(ws: Workspace) -> tuple[str, list[str]]:
            directory = ws.logins.directory()
            member = ws.logins.actor(caller.staff_id)
            roles = [f"{ROLES[r]}（{r}）" for r in ROLES if r in member.roles]
            return directory.name_of(caller.staff_id) or "", roles

        name, roles = await self.in_store(who)
        return self.render(
            "home.html",
            user=caller.staff_id,
            name=name,
            roles=roles,
            expires_at=caller.session.expires_at,
            sections=SECTIONS,
            csrf_token=caller.csrf_token,
        )

    def _section_page(self, section: Section) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            caller = await self.caller(request)
            if not isinstance(caller, Caller):
                return caller
            return self.render(
                "section.html",
                user=caller.staff_id,
                section=section,
                csrf_token=caller.csrf_token,
            )

        return page
