"""Commands that run aidledger itself: the server and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aidledger.cli.common import err, fail, out


def serve(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", help="HTTP port of /metrics, /healthz, the console and API")
    ] = 9108,
    host: Annotated[
        str, typer.Option("--host", help="address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
) -> None:
    """Serve Prometheus metrics, /healthz, the console (/) and the JSON API (/api/v1/), and
    run the scheduled jobs (one server leads)."""
    import logging
    import signal
    import threading

    from aidledger.serve import Server
    from ledger.errors import AidLedgerError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = Server(ctx.obj, host=host, port=port).start()
    except (AidLedgerError, OSError, ValueError) as e:
        fail(str(e))
    leadership = server.leadership
    leading = leadership is not None and leadership.leader
    role = "leader: running the jobs" if leading else "standby: another serve leads"
    scheme = "https" if ctx.obj.tls_certfile else "http"
    base = f"{scheme}://{host}:{server.port}"
    err.print(f"serving {base}/ (console), /api/v1/, /metrics and /healthz ({role})", markup=False)
    try:
        while not stop.wait(1):
            pass
    finally:
        server.stop()


def demo(
    keep: Annotated[
        Path | None, typer.Option("--keep", help="keep the demo store in this SQLite file")
    ] = None,
) -> None:
    """Build a small realistic county in a fresh store, run it end to end, print what it found."""
    from aidledger.demo import run_demo
    from ledger.errors import AidLedgerError

    try:
        run_demo(out, keep=keep)
    except AidLedgerError as e:
        fail(str(e))
