"""Who is calling: a session cookie or a bearer token, the CSRF token bound to a session,
and the cookies' flags.

- A login opens one session; its token is answered once (``{token, expires_at}``) and set as
  the ``aidledger_session`` cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over TLS).
  The store keeps only its SHA-256 (`ledger.sessions`).
- ``Authorization: Bearer TOKEN`` (the API, ``aidledger login``'s personal token) needs no
  CSRF token: a browser never adds that header by itself.
- A POST authenticated by the cookie needs the session's CSRF token, in the ``X-CSRF-Token``
  header (API) or the ``csrf_token`` form field (console). The token is an HMAC of the session
  token: bound to that session, kept nowhere, and useless to anyone who cannot read the
  HttpOnly cookie it is derived from.
- The login form, before any session, carries a token equal to a cookie of its own
  (``aidledger_login_csrf``): a page of another site can set neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from console.backend import Options, Workspace
from console.errors import CsrfRefused
from ledger.logins import NotLoggedIn
from ledger.sessions import SessionRow

SESSION_COOKIE = "aidledger_session"
LOGIN_CSRF_COOKIE = "aidledger_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def over_tls(request: Request, options: Options) -> bool:
    """Whether the request came over TLS: to this server, or to a proxy in front whose
    ``X-Forwarded-Proto`` the settings say to believe."""
    if request.url.scheme == "https":
        return True
    if not options.trust_forwarded_proto:
        return False
    first = request.headers.get("x-forwarded-proto", "").split(",")[0]
    return first.strip().lower() == "https"


def csrf_for(session_token: str) -> str:
    """The CSRF token of a session (see the module's docstring)."""
    mac = hmac.new(session_token.encode(), b"aidledger csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def same_token(presented: str | None, expected: str) -> bool:
    return bool(presented) and hmac.compare_digest(str(presented).encode(), expected.encode())


@dataclass(frozen=True)
class Credentials:
    """A token as presented, and whether it came in the cookie (then POSTs need CSRF)."""

    token: str
    by_cookie: bool


def credentials(request: Request) -> Credentials | None:
    """The bearer token if there is one (it wins over a cookie), else the session cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        return Credentials(value.strip(), by_cookie=False)
    cookie = request.cookies.get(SESSION_COOKIE)
    return Credentials(cookie, by_cookie=True) if cookie else None


@dataclass(frozen=True)
class Caller:
    """The logged-in staff member of a request."""

    credentials: Credentials
    session: SessionRow

    @property
    def staff_id(self) -> str:
        return self.session.staff_id

    @property
    def csrf_token(self) -> str:
        return csrf_for(self.credentials.token)


def authenticate(
    request: Request,
    ws: Workspace,
    *,
    csrf: str | None = None,
    check_csrf: bool = False,
    full: bool = True,
) -> Caller:
    """The caller of ``request``: `NotLoggedIn` (401) without a valid login; with
    ``check_csrf`` (a POST), `CsrfRefused` (403) for a cookie without its session's CSRF
    token ``csrf``; with ``full``, refused (403) while a temporary password is unchanged."""
    creds = credentials(request)
    if creds is None:
        raise NotLoggedIn("not logged in: POST /api/v1/login, or the console's login page")
    session = ws.logins.authenticate(creds.token)
    if check_csrf and creds.by_cookie and not same_token(csrf, csrf_for(creds.token)):
        raise CsrfRefused(
            "missing or wrong CSRF token: a POST with the session cookie needs the "
            "X-CSRF-Token header (or the form's csrf_token field) of that session"
        )
    if full:
        ws.logins.require_full_session(session)
    return Caller(creds, session)


def set_session_cookie(response: Response, token: str, request: Request, options: Options) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=options.session_seconds,
        path="/",
        httponly=True,
        samesite="strict",
        secure=over_tls(request, options),
    )


def clear_session_cookie(response: Response, request: Request, options: Options) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=over_tls(request, options),
    )


def login_csrf(request: Request) -> str:
    """The login form's CSRF token: the one in its cookie, or a new one (set by the page)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf_cookie(
    response: Response, value: str, request: Request, options: Options
) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=over_tls(request, options),
    )
