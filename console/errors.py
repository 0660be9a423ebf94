"""Refusals as HTTP statuses: the same messages as the command line, a status per kind.

401 without a valid login (or a wrong one), 403 for a duty, role or CSRF refusal, 404 for
something that does not exist, 422 for bad input, 423 while an account is locked, 503 while
the store cannot be reached.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ledger.errors import AidLedgerError, InvalidValue, NotAuthorised, NotFound, StoreError
from ledger.logins import AccountLocked, LoginFailed, NotLoggedIn


class CsrfRefused(NotAuthorised):
    """A POST authenticated by the session cookie without its session's CSRF token."""


def status_for(error: AidLedgerError) -> int:
    """The HTTP status of a refusal."""
    if isinstance(error, NotLoggedIn | LoginFailed):
        return 401
    if isinstance(error, AccountLocked):
        return 423
    if isinstance(error, NotAuthorised):
        return 403
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, StoreError):
        return 503
    return 422


def message_for(error: AidLedgerError) -> str:
    """What to tell the caller; never the store's own words for a store error (they can carry
    a URL or a quoted value)."""
    if isinstance(error, StoreError):
        return "the store is unavailable: try again shortly"
    return str(error)


def invalid(error: ValidationError) -> InvalidValue:
    """A body that does not fit its model, said field by field — never quoting the values
    sent (a password could be one)."""
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    ]
    return InvalidValue("bad request body: " + "; ".join(problems))


async def json_refusal(request: Request, exc: Exception) -> Response:
    """The API's answer to a refusal: ``{"error": message}`` with its status."""
    if not isinstance(exc, AidLedgerError):  # registered for AidLedgerError only
        raise exc
    headers = {"WWW-Authenticate": "Bearer"} if status_for(exc) == 401 else None
    return JSONResponse({"error": message_for(exc)}, status_code=status_for(exc), headers=headers)
