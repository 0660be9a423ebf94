"""Commands that run aidledger itself: the server and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aidledger.cli.common import err, fail, out


def serve(
    ctx: typer.Context,
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, help="HTTP port of /metrics, /healthz, the console and API"
        ),
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
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
    except (AidLedgerError, ValueError) as e:
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

    if keep is not None:
        # The demo makes its store afresh: never in place of a file that is there (a store).
        if keep.is_dir():
            fail(f"{keep} is a folder: name a new file for the demo's store (--keep)")
        if keep.exists() or keep.is_symlink():
            fail(f"{keep} exists: the demo keeps its store in a new file only (--keep)")
        if not keep.parent.is_dir():
            fail(f"folder {keep.parent} does not exist: create it first, or check --keep")
    run_demo(out, keep=keep)
