"""Security headers on every answer of the console and the API.

No script runs in the console (a Content-Security-Policy without scripts at all), no page is
framed, and nothing is cached: pages and answers carry personal data.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What a page may load: its own stylesheet and images, forms posted to itself; no script.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
NO_STORE = (b"cache-control", b"no-store")
#: The stylesheet holds no personal data: it may be cached.
CACHEABLE_PREFIX = "/static/"
HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """ASGI middleware adding `HEADERS` (and ``Cache-Control: no-store``, and HSTS over TLS)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        extra = list(HEADERS)
        if not path.startswith(CACHEABLE_PREFIX):
            extra.append(NO_STORE)
        if scope.get("scheme") == "https":
            extra.append(HSTS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in extra if k not in names),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimits:
    """ASGI middleware: the largest request body accepted, ``small`` everywhere (the
    console's forms and JSON) but under the ``large_prefixes`` (files sent to import), which
    take up to ``large``. A body above its limit is answered 413 unread."""

    def __init__(
        self, app: ASGIApp, *, small: int, large: int, large_prefixes: tuple[str, ...]
    ) -> None:
        from starlette.middleware.body_limit import RequestBodyLimitMiddleware

        self.app = app
        self.small = RequestBodyLimitMiddleware(app, max_body_size=small)
        self.large = RequestBodyLimitMiddleware(app, max_body_size=large)
        self.large_prefixes = large_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        limited = self.large if path.startswith(self.large_prefixes) else self.small
        await limited(scope, receive, send)
