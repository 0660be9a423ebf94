"""Commands that run aidledger itself: the server and the demo."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aidledger.cli.common import err, fail, out

if TYPE_CHECKING:
    from aidledger.settings import Settings


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
    _serve(ctx.obj, host=host, port=port)


def _serve(settings: "Settings", *, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM."""
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
        server = Server(settings, host=host, port=port).start()
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
    except (AidLedgerError, ValueError) as e:
        fail(str(e))
    leadership = server.leadership
    leading = leadership is not None and leadership.leader
    role = "leader: running the jobs" if leading else "standby: another serve leads"
    scheme = "https" if settings.tls_certfile else "http"
    base = f"{scheme}://{host}:{server.port}"
    err.print(f"serving {base}/ (console), /api/v1/, /metrics and /healthz ({role})", markup=False)
    try:
        while not stop.wait(1):
            pass
    finally:
        server.stop()


def demo(
    ctx: typer.Context,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="keep the demo store in this SQLite file")
    ] = None,
    serve_it: Annotated[
        bool,
        typer.Option(
            "--serve", help="then serve the console on the demo's store (its logins printed)"
        ),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="with --serve: the port")
    ] = 9108,
) -> None:
    """Build a small realistic county in a fresh store, run it end to end, print what it found;
    with --serve, open the console on it (the store kept in --keep, or for as long as it
    serves)."""
    import tempfile

    from aidledger.demo import run_demo

    if keep is not None:
        # The demo makes its store afresh: never in place of a file that is there (a store).
        if keep.is_dir():
            fail(f"{keep} is a folder: name a new file for the demo's store (--keep)")
        if keep.exists() or keep.is_symlink():
            fail(f"{keep} exists: the demo keeps its store in a new file only (--keep)")
        if not keep.parent.is_dir():
            fail(f"folder {keep.parent} does not exist: create it first, or check --keep")
    if not serve_it:
        run_demo(out, keep=keep)
        return
    with tempfile.TemporaryDirectory(prefix="aidledger-demo-serve-") as folder:
        store = keep or Path(folder) / "demo.db"
        run_demo(out, keep=store)
        settings = ctx.obj.model_copy(update={"database_url": str(store), "server": None})
        _serve(settings, host="127.0.0.1", port=port)
