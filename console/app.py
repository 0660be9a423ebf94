"""The console (``/``) and the JSON API (``/api/v1/``) as one ASGI application.

`aidledger.serve` mounts it beside ``/metrics`` and ``/healthz`` and lends it the store's
services (``borrow``). The API answers refusals as JSON (``{"error": ...}``); the pages render
theirs.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from console.api import Api
from console.backend import Borrow, Health, Options
from console.errors import json_refusal
from console.pages import Pages
from console.security import BodyLimits, SecurityHeaders
from ledger.errors import AidLedgerError

STATIC = Path(__file__).parent / "static"
#: Where files are sent to be imported or applied: bodies up to `Options.max_upload_bytes`.
UPLOADS = ("/api/v1/imports/", "/api/v1/config")


def console_app(
    borrow: Borrow, options: Options | None = None, health: Health | None = None
) -> Starlette:
    """The console and the API over the services ``borrow`` lends (``health``: the server's,
    for the console's health page)."""
    options = options or Options()
    api = Starlette(
        routes=Api(borrow, options).routes(),
        exception_handlers={AidLedgerError: json_refusal},
    )
    pages = Pages(borrow, options, health)
    return Starlette(
        routes=[
            Mount("/api/v1", app=api),
            Mount("/static", app=StaticFiles(directory=STATIC)),
            *pages.routes(),
        ],
        exception_handlers={AidLedgerError: pages.refusal},
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                BodyLimits,
                small=options.max_body_bytes,
                large=options.max_upload_bytes,
                large_prefixes=UPLOADS,
            ),
        ],
    )
