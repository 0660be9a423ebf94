"""`aidledger serve`: Prometheus metrics, a health check, the console and JSON API, and the
scheduled jobs.

Every process serves ``/metrics``, ``/healthz``, the console (``/``) and the API
(``/api/v1/``) on one port, through uvicorn (the ASGI application is `aidledger.web`'s). The
jobs (projection catch-up, the daily reconciliation of open periods and of overdue
verification requests, the run-approval reminder) run on one process only: the one holding
the scheduler lock — a PostgreSQL session advisory lock (or, on SQLite, an exclusive
``flock`` beside the database file). The lock goes with the process or its connection, so
when the leader dies another ``serve`` takes over at its next leadership check.

Metrics are read from the read models by a background refresh (every process, every
``metrics_refresh_seconds``), so a scrape never waits on a group-by over a province's payments.
No label carries personal data (see ``aidledger.metrics_contract``).

The store may be unreachable (a database restarting, a network cut) or not there yet (before
``aidledger init``: serve never creates a store). Serve keeps running meanwhile: ``/healthz``
answers 503 with the reason, ``/metrics`` the last values read with ``aidledger_store_up 0``,
no process leads, and each of them looks again at its next turn, so all is back once the store is.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import socket
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import psycopg
import uvicorn
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aidledger.metrics_contract import JOBS, METRICS
from aidledger.settings import Settings
from aidledger.wiring import Services, open_services
from ledger.duties import SCHEDULER
from ledger.errors import StoreError
from ledger.period import Clock, utc_now
from ledger.store import (
    JOB_STATUS_TABLE,
    Database,
    StoreURL,
    current_revision,
    log_head,
    record_job,
)
from projections.bank import RESULTS_JOIN, STATUS
from projections.complaints import complaint_counts
from projections.registers import all_models
from projections.runner import positions

if TYPE_CHECKING:
    from aidledger.web import ServicePool

log = logging.getLogger("aidledger.serve")

#: The jobs `serve` schedules (the others in metrics_contract.JOBS are people's work).
SCHEDULED = ("projection_catch_up", "reconciliation", "run_reminder")

#: The advisory lock key of the scheduler: any fixed 64-bit number unique to aidledger.
SCHEDULER_LOCK_KEY = 0x6169646C65646772  # "aidledgr"


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (0: a free port), whose connections send each
    answer at once. asyncio turns Nagle's algorithm off only on sockets that say they are TCP
    (``proto``), and ``socket.create_server``'s say 0: on a kept-alive connection the body
    of each answer then waited for the client's delayed acknowledgement of its headers, 40 ms
    on Linux."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if family == socket.AF_INET6:  # an IPv6 address only, as socket.create_server makes it
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen()
    except BaseException:
        sock.close()
        raise
    return sock


#: What reading a store that is unreachable or not there raises: a connection refused or cut
#: (StoreError is the refused one), a missing file, folder, database or table.
UNAVAILABLE: tuple[type[Exception], ...] = (StoreError, psycopg.Error, sqlite3.Error, OSError)

#: /healthz's reason when there is no store: the command that makes one.
NO_STORE = "no store: run aidledger init"


class NoStore(StoreError):
    """Nothing where the settings point to a store: only ``aidledger init`` creates one."""


# -- the store, without ever creating it ------------------------------------------------------


def existing_database(store: StoreURL) -> Database:
    """The store's database; NoStore when an SQLite store's file is missing (connecting to it
    would create an empty one)."""
    if store.dialect == "sqlite" and not Path(store.path).is_file():
        raise NoStore(f"no store at {store.describe()}: run aidledger init")
    return Database(store)


def check_store(db: Database) -> None:
    """Raise NoStore unless ``db`` holds a store (migrated by ``aidledger init``)."""
    if current_revision(db) is None:
        raise NoStore(f"no store at {db.store.describe()}: run aidledger init")


def unavailable_because(e: Exception) -> str:
    """What an UNAVAILABLE error says about the store, for /healthz and the log: never the
    driver's message (it can quote data) nor the URL (it can carry a password)."""
    if isinstance(e, NoStore):
        return NO_STORE
    if isinstance(e, StoreError):
        return "cannot connect to the store"
    return f"cannot read the store ({type(e).__name__})"


def store_problem(store: StoreURL) -> str | None:
    """Why serve cannot use the store now, or None."""
    try:
        db = existing_database(store)
        try:
            check_store(db)
            db.query(f"SELECT COUNT(*) FROM {JOB_STATUS_TABLE}")  # the table serve writes
        finally:
            db.close()
    except UNAVAILABLE as e:
        return unavailable_because(e)
    return None


# -- schedules ----------------------------------------------------------------------------------


def parse_schedule(text: str, timezone: str = "Asia/Shanghai") -> BaseTrigger:
    """``every 30s`` / ``every 5m`` / ``every 1h``, or a five-field crontab (``30 2 * * *``)."""
    m = re.fullmatch(r"\s*every\s+(\d+)\s*([smh])\s*", text)
    if m:
        seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        if seconds <= 0:
            raise ValueError(f"schedule {text!r}: the interval must be positive")
        return IntervalTrigger(seconds=seconds, timezone=timezone)
    try:
        return CronTrigger.from_crontab(text, timezone=timezone)
    except ValueError as e:
        raise ValueError(f"schedule {text!r}: not 'every N[s|m|h]' nor a crontab ({e})") from None


# -- one leader among the serve processes ----------------------------------------------------


class Leadership:
    """Whether this process runs the jobs. ``check()`` takes the lock when it is free and
    confirms it is still held (the lock lives as long as its connection or file).

    ``term`` counts the times this process took the lock: connections opened in an earlier
    term may have died with the store since (a restarted database cut them)."""

    def __init__(self, store: StoreURL) -> None:
        self.store = store
        self.leader = False
        self.term = 0
        self._conn: psycopg.Connection[Any] | None = None
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._failing = False

    def check(self) -> bool:
        with self._lock:
            try:
                self.leader = self._check()
                self._failing = False
            except (psycopg.Error, OSError) as e:
                if not self._failing:  # once per outage, not at every check
                    log.warning("scheduler lock check failed: %s", type(e).__name__)
                    self._failing = True
                self._drop()
            return self.leader

    def _check(self) -> bool:
        if self.store.dialect == "sqlite":
            if not Path(self.store.path).is_file():
                # No store, no jobs to lead (and no lock file left beside a store not made).
                self._release_file()
                return False
            if self._file is None:
                path = Path(f"{self.store.path}.scheduler.lock")
                f = path.open("ab")
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    f.close()
                    return False
                self._file = f
                self.term += 1
            return True
        held = self.leader
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.store.conninfo, autocommit=True, connect_timeout=5)
            held = False  # the lock went with the session before
        if held:
            self._conn.execute("SELECT 1")  # the session (and so the lock) is still there
            return True
        row = self._conn.execute(
            "SELECT pg_try_advisory_lock(%s)", (SCHEDULER_LOCK_KEY,)
        ).fetchone()
        if row and row[0]:
            self.term += 1
            return True
        return False

    def _drop(self) -> None:
        self.leader = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _release_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def release(self) -> None:
        with self._lock:
            self._drop()
            self._release_file()


# -- metrics ---------------------------------------------------------------------------------


@dataclass
class JobStats:
    """What this process's jobs did (the counters of ``aidledger_job_runs_total``)."""

    # Every task and outcome from 0, so rate() and increase() see a process's first error.
    runs: dict[tuple[str, str], int] = field(
        default_factory=lambda: defaultdict(
            int, {(task, outcome): 0 for task in SCHEDULED for outcome in ("ok", "error")}
        )
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, job: str, outcome: str) -> None:
        with self.lock:
            self.runs[(job, outcome)] += 1


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def payment_state_rows(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[str, str, str], list[int]]:
    """(period, program, status, held, count, amount) rows -> counts and amounts per state of
    ``metrics_contract.PAYMENT_STATES`` (pure)."""
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    state_of = {
        "executed": "executed",
        "returned": "returned",
        "reissued": "returned",
        "refunded": "returned",
        "rejected": "rejected",
        "instructed": "pending",
    }
    for period, program, status, held, n, amount in rows:
        n, amount = int(n), int(amount or 0)
        states = ["held"] if held else ["scheduled", state_of.get(str(status), "pending")]
        for state in states:
            acc = out[(str(period), str(program), state)]
            acc[0] += n
            acc[1] += amount
    return out


def read_snapshot(db: Database, *, periods: int, today: date | None = None) -> list[Metric]:
    """Read every store-derived metric of the contract from the read models (``today``: the
    day complaints are overdue on; default the machine's)."""
    fams: dict[str, Any] = {}

    def gauge(name: str) -> GaugeMetricFamily:
        spec = METRICS[name]
        fams[name] = GaugeMetricFamily(name, spec.help, labels=list(spec.labels))
        return fams[name]  # type: ignore[no-any-return]

    open_count, open_amount = (
        gauge("aidledger_findings_open"),
        gauge("aidledger_findings_open_amount_fen"),
    )
    for type_, severity, program, department, period, n, amount in db.query(
        "SELECT type, severity, COALESCE(program, ''), COALESCE(department, ''), period, "
        "COUNT(*), COALESCE(SUM(amount), 0) FROM findings WHERE status = 'open' "
        "GROUP BY type, severity, COALESCE(program, ''), COALESCE(department, ''), period"
    ):
        labels = [type_, severity, program, department, period]
        open_count.add_metric(labels, int(n))
        open_amount.add_metric(labels, int(amount))

    recent = [
        r[0]
        for r in db.query(
            "SELECT DISTINCT period FROM runs WHERE status <> 'prepared' "
            "ORDER BY period DESC LIMIT ?",
            (periods,),
        )
    ]
    counts, amounts = gauge("aidledger_payments"), gauge("aidledger_payments_amount_fen")
    if recent:
        rows = db.query(
            f"SELECT p.period, p.program, {STATUS}, p.held <> '', COUNT(*), SUM(p.amount) "
            f"FROM payments p JOIN runs r ON r.run_id = p.run_id {RESULTS_JOIN} "
            f"WHERE r.status <> 'prepared' AND p.period IN ({', '.join('?' * len(recent))}) "
            f"GROUP BY p.period, p.program, {STATUS}, p.held <> ''",
            recent,
        )
        for (period, program, state), (n, amount) in sorted(payment_state_rows(rows).items()):
            counts.add_metric([period, program, state], n)
            amounts.add_metric([period, program, state], amount)

    complaints = complaint_counts(db, today or date.today())
    open_complaints, overdue = (
        gauge("aidledger_complaints_open"),
        gauge("aidledger_complaints_overdue"),
    )
    for category, n in complaints.open.items():
        open_complaints.add_metric([category], n)
        overdue.add_metric([category], complaints.overdue[category])

    head = log_head(db)
    gauge("aidledger_event_log_head").add_metric([], head)
    lag = gauge("aidledger_projection_lag_events")
    for name, position in positions(db, all_models()).items():
        lag.add_metric([name], max(0, head - position))

    last = gauge("aidledger_last_success_timestamp_seconds")
    stamps: dict[str, float | None] = {
        "payout_run": _timestamp(db.query("SELECT MAX(approved_at) FROM runs")[0][0]),
        "bank_import": _timestamp(db.query("SELECT MAX(recorded_at) FROM bank_files")[0][0]),
    }
    for job, at in db.query(f"SELECT job, last_success_at FROM {JOB_STATUS_TABLE}"):
        stamps.setdefault(str(job), _timestamp(at))
    for job in JOBS:
        at = stamps.get(job)
        if at is not None:
            last.add_metric([job], at)
    return list(fams.values())


class Exporter(Collector):
    """Serves the latest snapshot plus this process's own job counters, leadership, and
    whether the last refresh could read the store."""

    def __init__(
        self,
        store: StoreURL,
        stats: JobStats,
        leadership: Leadership,
        *,
        periods: int,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.store = store
        self.stats = stats
        self.leadership = leadership
        self.periods = periods
        self.today = today
        self._snapshot: list[Metric] = []
        self._refreshed = False
        self._problem: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the store's metrics again. When it cannot be read, the last values read stay
        (with ``aidledger_store_up`` 0): dropping them would resolve every open-findings alert
        during an outage, and fire them all again when it ends."""
        problem = None
        try:
            db = existing_database(self.store)
            try:
                snapshot = read_snapshot(db, periods=self.periods, today=self.today())
            finally:
                db.close()
        except UNAVAILABLE as e:
            problem = unavailable_because(e)
        with self._lock:
            before, first = self._problem, not self._refreshed
            self._refreshed, self._problem = True, problem
            if problem is None:
                self._snapshot = snapshot
        if problem is not None and (first or before is None):  # once per outage
            log.warning("metrics: %s: serving the last values read", problem)
        elif problem is None and before is not None:
            log.info("metrics: the store answers again")

    def describe(self) -> Iterable[Metric]:
        # Registration asks for descriptions: give them without touching the store.
        for name, spec in METRICS.items():
            cls = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
            yield cls(name, spec.help, labels=list(spec.labels))

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            refreshed = self._refreshed
        if not refreshed:  # scraped before the first background refresh
            self.refresh()
        with self._lock:
            snapshot, problem = self._snapshot, self._problem
        yield from snapshot
        spec = METRICS["aidledger_job_runs_total"]
        runs = CounterMetricFamily("aidledger_job_runs_total", spec.help, labels=list(spec.labels))
        with self.stats.lock:
            for (job, outcome), n in sorted(self.stats.runs.items()):
                runs.add_metric([job, outcome], n)
        yield runs
        leader = GaugeMetricFamily(
            "aidledger_scheduler_leader", METRICS["aidledger_scheduler_leader"].help
        )
        leader.add_metric([], 1 if self.leadership.leader else 0)
        yield leader
        up = GaugeMetricFamily("aidledger_store_up", METRICS["aidledger_store_up"].help)
        up.add_metric([], 0 if problem else 1)
        yield up


# -- the jobs ---------------------------------------------------------------------------------


class Jobs:
    """The scheduled jobs. They run one at a time on the scheduler's job thread, and only while
    this process leads."""

    def __init__(
        self,
        settings: Settings,
        leadership: Leadership,
        stats: JobStats,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.settings = settings
        self.leadership = leadership
        self.stats = stats
        self.today = today
        self._svc: Services | None = None
        self._term = 0  # the leadership term in which _svc was opened

    def services(self) -> Services:
        """The services, opened on first use in each leadership term; NoStore when there is
        no store (open_services would create one: only ``aidledger init`` does)."""
        if self._svc is not None and self._term != self.leadership.term:
            self._reset()  # opened before the lock was lost: perhaps to a restarted database
        if self._svc is None:
            db = existing_database(StoreURL.parse(self.settings.database_url))
            try:
                check_store(db)
            finally:
                db.close()
            self._svc = open_services(self.settings)
            self._term = self.leadership.term
        return self._svc

    def run(self, job: str, work: Callable[[Services], str]) -> None:
        if not self.leadership.check():
            return
        started = time.monotonic()
        try:
            detail = work(self.services())
        except Exception as e:  # a job failing must not stop the scheduler
            self.stats.count(job, "error")
            # The exception's type only: messages can quote input, and logs carry no personal data.
            log.error("job %s failed: %s", job, type(e).__name__)
            self._reset()
            with contextlib.suppress(Exception):  # the store may be what failed
                db = existing_database(StoreURL.parse(self.settings.database_url))
                try:
                    record_job(db, job, error=type(e).__name__)
                finally:
                    db.close()
            return
        self.stats.count(job, "ok")
        log.info("job %s ok in %.1f s: %s", job, time.monotonic() - started, detail)

    def _reset(self) -> None:
        if self._svc is not None:
            with contextlib.suppress(Exception):
                self._svc.close()
            self._svc = None

    def catch_up(self, svc: Services) -> str:
        applied = svc.sync()
        record_job(svc.db, "projection_catch_up", detail=f"{applied} events")
        return f"{applied} events applied"

    def reconcile(self, svc: Services) -> str:
        today = self.today()
        periods = svc.reconciliation.open_periods(today, self.settings.open_periods_months)
        raised = 0
        from eligibility.comparisons import Comparisons

        comparisons = svc.service(Comparisons)
        for period in periods:
            result = svc.reconciliation.reconcile(period, as_of=today, by=SCHEDULER, reviews=False)
            raised += sum(result.raised.values()) + result.reopened
            # Data comparison (核对) of the open month, from the records known today.
            raised += sum(comparisons.compare(period, as_of=today, by=SCHEDULER).raised.values())
        # Requests to other departments may be due in a month no run is open for.
        late = svc.reconciliation.raise_overdue_verifications(today, by=SCHEDULER)
        raised += sum(late.raised.values()) + late.reopened
        # Reviews fall due whatever month a run is open for.
        overdue = svc.reconciliation.raise_overdue_reviews(today, by=SCHEDULER)
        raised += sum(overdue.raised.values()) + overdue.reopened
        return f"{len(periods)} open periods, {raised} findings raised or reopened"

    def remind(self, svc: Services) -> str:
        result = svc.reconciliation.remind_unapproved(self.today())
        return f"{sum(result.raised.values())} payout_run_late findings raised"

    def close(self) -> None:
        self._reset()


def build_scheduler(settings: Settings, jobs: Jobs, exporter: Exporter) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(1), "metrics": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=settings.timezone,
    )
    scheduler.add_job(
        jobs.leadership.check,
        IntervalTrigger(seconds=settings.leader_check_seconds),
        id="leadership",
        executor="metrics",
    )
    scheduler.add_job(
        exporter.refresh,
        IntervalTrigger(seconds=settings.metrics_refresh_seconds),
        id="metrics_refresh",
        executor="metrics",
    )
    for job, schedule, work in (
        ("projection_catch_up", settings.catch_up_schedule, jobs.catch_up),
        ("reconciliation", settings.reconcile_schedule, jobs.reconcile),
        ("run_reminder", settings.reminder_schedule, jobs.remind),
    ):
        trigger = parse_schedule(schedule, settings.timezone)
        scheduler.add_job(jobs.run, trigger, args=(job, work), id=job, name=job)
    return scheduler


# -- HTTP ----------------------------------------------------------------------------------------


def health(store: StoreURL, leadership: Leadership) -> tuple[int, dict[str, Any]]:
    """200 when the store answers (and is a store), else 503 with the reason."""
    problem = store_problem(store)
    if problem is not None:
        return 503, {"status": "unavailable", "store": store.dialect, "reason": problem}
    return 200, {"status": "ok", "store": store.dialect, "leader": leadership.leader}


@dataclass
class Server:
    """A running ``serve``: uvicorn on a thread (the ASGI app of `aidledger.web`: metrics,
    health, the console and the API), the scheduler on its own threads."""

    settings: Settings
    host: str = "127.0.0.1"
    port: int = 9108
    today: Callable[[], date] | None = None  # default: the date in settings.timezone
    clock: Clock | None = None  # of logins and sessions; default: the time now
    http: uvicorn.Server | None = None
    scheduler: BackgroundScheduler | None = None
    leadership: Leadership | None = None
    jobs: Jobs | None = None
    pool: ServicePool | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Server:
        """Serve and schedule, whether or not the store answers yet (it is not touched here
        beyond a first look): a bad schedule, a port taken or a bad TLS certificate is refused
        at once."""
        store = StoreURL.parse(self.settings.database_url)
        # The socket first: a port in use is refused before the lock is taken or a job planned.
        sock = listening_socket(self.host, self.port)
        self.port = int(sock.getsockname()[1])
        try:
            return self._start(store, sock)
        except BaseException:
            sock.close()
            self.stop()
            raise

    def _start(self, store: StoreURL, sock: socket.socket) -> Server:
        from aidledger.web import ServicePool, asgi_app

        self.leadership = Leadership(store)
        stats = JobStats()
        exporter = Exporter(
            store,
            stats,
            self.leadership,
            periods=self.settings.metrics_periods,
            today=self.today or self.settings.current_date,
        )
        registry = CollectorRegistry(auto_describe=True)
        registry.register(exporter)
        self.jobs = Jobs(
            self.settings, self.leadership, stats, self.today or self.settings.current_date
        )
        self.leadership.check()
        self.scheduler = build_scheduler(self.settings, self.jobs, exporter)
        self.pool = ServicePool(
            self.settings, size=self.settings.api_connections, clock=self.clock or utc_now
        )
        app = asgi_app(self.settings, registry=registry, leadership=self.leadership, pool=self.pool)
        config = uvicorn.Config(
            app,
            lifespan="off",
            # uvicorn would believe X-Forwarded-* from 127.0.0.1 by default; the console
            # decides (settings.trust_forwarded_proto).
            proxy_headers=False,
            # Access logs carry paths and queries (case ids, reasons): none are written.
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=5,
            ssl_certfile=self.settings.tls_certfile,
            ssl_keyfile=self.settings.tls_keyfile,
        )
        config.load()  # here, so that a bad certificate is refused before anything runs
        self.http = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.http.run, kwargs={"sockets": [sock]}, name="http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.http.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the HTTP server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        self.scheduler.start()
        return self

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.http is not None:
            self.http.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self.pool is not None:
            self.pool.close()
        if self.jobs is not None:
            self.jobs.close()
        if self.leadership is not None:
            self.leadership.release()
