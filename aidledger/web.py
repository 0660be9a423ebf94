"""The HTTP side of `aidledger serve`: one ASGI application, served by uvicorn.

    /metrics     Prometheus exposition (the `aidledger.serve.Exporter`'s registry)
    /healthz     200 when the store answers, 503 with the reason when it does not
    /api/v1/...  the JSON API         } `console.app`, over the services a request
    /...         the console's pages  } borrows from a `ServicePool`

The scheduler and the leader lock are not part of the application: `aidledger.serve.Server`
starts them beside it, so the jobs run whether or not anyone calls. Every route that touches
the store runs on the server's thread pool, never on the event loop: a slow store or a
password being hashed does not hold up other requests, nor ``/healthz`` while the store is
away.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.persistence import PersistenceError
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from aidledger.serve import UNAVAILABLE, Leadership, check_store, existing_database, health
from aidledger.settings import Settings
from aidledger.wiring import Services, open_services
from console.app import console_app
from console.backend import Options
from ledger.errors import StoreError
from ledger.period import Clock, utc_now
from ledger.store import StoreURL

#: What, raised while a request uses its services, means the store failed under them: those
#: services are closed, not lent again (their connections may be dead), and the request 503s.
BROKEN: tuple[type[Exception], ...] = (*UNAVAILABLE, PersistenceError)


@dataclass
class _Timing:
    """How long one request waited for the services it borrowed (seconds)."""

    pool_seconds: float = 0.0


#: The timing of the request being served: set by `ServerTiming` for each request, added to by
#: `ServicePool.borrow` on the worker thread (which runs in a copy of the request's context,
#: so it holds this very object).
_TIMING: ContextVar[_Timing | None] = ContextVar("aidledger_request_timing", default=None)


class ServerTiming:
    """ASGI middleware: every HTTP answer says how long the server took to start it, in the
    standard ``Server-Timing`` header (``pool;dur=2.0, app;dur=41.3``, milliseconds): ``app``
    from the request's arrival to its answer's start, ``pool`` the part of it spent waiting
    for a store connection while others' requests held them all. Browsers' developer tools
    show it; ``benchmarks/console.py`` reads it to tell the server's work from the queue in
    front of it. Durations only: nothing of what was asked or answered."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing = _Timing()
        token = _TIMING.set(timing)
        start = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                app_ms = (time.perf_counter() - start) * 1000
                value = f"pool;dur={timing.pool_seconds * 1000:.1f}, app;dur={app_ms:.1f}"
                headers = [*message.get("headers", []), (b"server-timing", value.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            _TIMING.reset(token)


@dataclass
class _Pooled:
    """Services in the pool, with the day and the programs config version they were opened
    for (their "today" and config are those)."""

    svc: Services
    day: date
    config: str | None


class ServicePool:
    """The services that requests of the console and API borrow, one request at a time each.

    At most ``size`` are open at once (each holds the store's connections); a request waits
    for one when all are lent. They are opened when first needed — never creating a store —
    brought up to the head of the log when lent, closed when the store failed under them, and
    replaced when the day or the programs config in force changed (they act with those of
    when they were opened).
    """

    def __init__(self, settings: Settings, *, size: int, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[_Pooled] = []
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self) -> Iterator[Services]:
        """Services for a ``with`` block; `StoreError` (503) when the store cannot be used."""
        asked = time.perf_counter()
        with self._slots:
            timing = _TIMING.get()
            if timing is not None:
                timing.pool_seconds += time.perf_counter() - asked
            try:
                pooled = self._take()
            except BROKEN as e:
                raise _unavailable(e) from None
            try:
                yield pooled.svc
            except BROKEN as e:
                _close(pooled.svc)
                raise _unavailable(e) from None
            except BaseException:
                self._give_back(pooled)
                raise
            self._give_back(pooled)

    def _take(self) -> _Pooled:
        today = self.settings.current_date()
        with self._lock:
            pooled = self._idle.pop() if self._idle else None
        if pooled is not None:
            try:
                pooled.svc.sync()
                if pooled.day == today and pooled.config == _config_in_force(pooled.svc, today):
                    return pooled
            except BaseException:
                _close(pooled.svc)
                raise
            _close(pooled.svc)
        db = existing_database(StoreURL.parse(self.settings.database_url))
        try:
            check_store(db)  # open_services would create a store: only `aidledger init` does
        finally:
            db.close()
        svc = open_services(self.settings)  # caught up, with the config in force today
        svc.clock = self.clock
        return _Pooled(svc, today, _config_in_force(svc, today))

    def _give_back(self, pooled: _Pooled) -> None:
        with self._lock:
            self._idle.append(pooled)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for pooled in idle:
            _close(pooled.svc)


def _config_in_force(svc: Services, on: date) -> str | None:
    from projections.registers import config_version_in_force

    return config_version_in_force(svc.db, on)


def _close(svc: Services) -> None:
    with contextlib.suppress(Exception):  # the store may be what failed
        svc.close()


def _unavailable(e: Exception) -> StoreError:
    from aidledger.serve import unavailable_because

    return StoreError(unavailable_because(e))


def console_options(settings: Settings) -> Options:
    return Options(
        session_seconds=settings.session_minutes * 60,
        trust_forwarded_proto=settings.trust_forwarded_proto,
        max_upload_bytes=settings.max_input_bytes,
    )


def asgi_app(
    settings: Settings,
    *,
    registry: CollectorRegistry,
    leadership: Leadership,
    pool: ServicePool,
) -> Starlette:
    """``/metrics``, ``/healthz``, and the console and API over ``pool``."""
    store = StoreURL.parse(settings.database_url)

    # Plain functions: Starlette runs them on its thread pool (both may read the store).
    def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), headers={"Content-Type": content_type})

    def healthz(request: Request) -> Response:
        code, body = health(store, leadership)
        # json.dumps's own spacing, as /healthz has always answered (probes may match on it).
        return Response(json.dumps(body), status_code=code, media_type="application/json")

    return Starlette(
        routes=[
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Mount(
                "/",
                app=console_app(
                    pool.borrow, console_options(settings), lambda: health(store, leadership)
                ),
            ),
        ],
        middleware=[Middleware(ServerTiming)],
    )


def in_process_app(
    settings: Settings, *, clock: Clock = utc_now, size: int = 4
) -> tuple[Starlette, ServicePool]:
    """The application without a scheduler (for tests and tools driving it in-process)."""
    store = StoreURL.parse(settings.database_url)
    pool = ServicePool(settings, size=size, clock=clock)
    leadership = Leadership(store)
    return asgi_app(settings, registry=CollectorRegistry(), leadership=leadership, pool=pool), pool
