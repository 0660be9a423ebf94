"""`aidledger serve`: the metrics it exposes, the health check, the jobs and their single leader."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from aidledger.metrics_contract import METRICS, PAYMENT_STATES
from aidledger.serve import (
    Exporter,
    Jobs,
    JobStats,
    Leadership,
    Server,
    health,
    listening_socket,
    parse_schedule,
    payment_state_rows,
)
from aidledger.settings import Settings
from aidledger.wiring import Services, init_store
from ledger.period import Period
from ledger.store import StoreURL
from reconciliation.banksim import Anomalies
from reconciliation.checks import RunDue, check_run_approval
from reconciliation.service import list_findings
from tests.conftest import _pg_url, drop_pg_database, new_pg_database
from tests.pgcluster import Cluster
from tests.test_reconcile import AS_OF, PERIOD, bank_answers, exported_month, imported_county

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def samples(text: str) -> dict[str, list[tuple[str, float]]]:
    """Exposition text -> {metric name: [(labels, value)]} (comments skipped)."""
    out: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            out.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return out


def exposition(svc: Services, leadership: Leadership | None = None) -> str:
    stats = JobStats()
    stats.count("reconciliation", "ok")
    registry = CollectorRegistry()
    registry.register(Exporter(svc.store, stats, leadership or Leadership(svc.store), periods=3))
    return generate_latest(registry).decode()


@pytest.fixture
def reconciled(svc: Services, tmp_path: Path) -> Services:
    """A county with frauds, June paid, the bank's answers with anomalies, reconciled, and the
    reminder and catch-up jobs run once."""
    payments = exported_month(svc, tmp_path, cases=80, seed=21, frauds=True, held=True)
    e = [p.end_to_end_id for p in payments]
    bank_answers(svc, tmp_path, payments, Anomalies(returned={e[0]: "AC04"}, missing={e[1]}))
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    jobs = Jobs(svc.settings, Leadership(svc.store), JobStats(), lambda: AS_OF)
    jobs.catch_up(svc)
    jobs.remind(svc)
    return svc


def test_the_exporter_serves_exactly_the_contracted_metrics(reconciled: Services) -> None:
    text = exposition(reconciled)
    exposed = {n for n in samples(text) if n.startswith("aidledger_")}
    assert exposed == set(METRICS)
    for name, spec in METRICS.items():
        declared = {f"# TYPE {n} {spec.kind}" for n in (name, name.removesuffix("_total"))}
        assert any(d in text for d in declared), name


def test_metrics_carry_no_personal_data(reconciled: Services) -> None:
    text = exposition(reconciled)
    personal = reconciled.db.query(
        "SELECT name, id_number, bank_account, account_name FROM cases "
        "UNION ALL SELECT name, id_number, bank_account, name FROM staff"
    )
    assert personal
    for row in personal:
        for value in row:
            assert str(value) not in text
    labels = {
        k for n, ss in samples(text).items() for lab, _ in ss for k in re.findall(r'(\w+)="', lab)
    }
    assert labels <= {
        "type",
        "severity",
        "program",
        "department",
        "period",
        "state",
        "projection",
        "task",
        "outcome",
        "category",
    }


def test_open_findings_and_payment_states_match_the_store(reconciled: Services) -> None:
    s = samples(exposition(reconciled))
    open_findings = reconciled.db.query("SELECT COUNT(*) FROM findings WHERE status = 'open'")
    assert sum(v for _, v in s["aidledger_findings_open"]) == open_findings[0][0] > 0
    by_state: dict[str, float] = {}
    for labels, v in s["aidledger_payments"]:
        state = re.search(r'state="(\w+)"', labels)
        assert state and state.group(1) in PAYMENT_STATES
        by_state[state.group(1)] = by_state.get(state.group(1), 0) + v
    scheduled = reconciled.db.query(
        "SELECT COUNT(*), SUM(amount) FROM payments WHERE period = ? AND held = ''", (PERIOD,)
    )[0]
    assert by_state["scheduled"] == scheduled[0]
    assert by_state["returned"] == 1
    assert by_state["pending"] == 1
    assert by_state["executed"] == scheduled[0] - 2
    scheduled_amount = sum(
        v
        for lab, v in s["aidledger_payments_amount_fen"]
        if 'state="scheduled"' in lab and f'period="{PERIOD}"' in lab
    )
    assert scheduled_amount == int(scheduled[1]) > 0
    assert s["aidledger_projection_lag_events"] and all(
        v == 0 for _, v in s["aidledger_projection_lag_events"]
    )


def test_payment_states_from_rows() -> None:
    rows = [
        ("2026-06", "dibao", "executed", False, 3, 3000),
        ("2026-06", "dibao", "instructed", False, 1, 1000),
        ("2026-06", "dibao", "reissued", False, 1, 500),
        ("2026-06", "dibao", "rejected", False, 2, 800),
        ("2026-06", "dibao", "instructed", True, 4, 4000),
    ]
    states = payment_state_rows(rows)
    assert states[("2026-06", "dibao", "scheduled")] == [7, 5300]
    assert states[("2026-06", "dibao", "executed")] == [3, 3000]
    assert states[("2026-06", "dibao", "pending")] == [1, 1000]
    assert states[("2026-06", "dibao", "returned")] == [1, 500]
    assert states[("2026-06", "dibao", "rejected")] == [2, 800]
    assert states[("2026-06", "dibao", "held")] == [4, 4000]


def test_the_served_connections_send_each_answer_at_once() -> None:
    # asyncio turns Nagle's algorithm off only on a socket that says it is TCP: without it,
    # the body of each answer on a kept-alive connection waited 40 ms for the client's ACK.
    import asyncio

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listener = listening_socket("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            try:
                return await asyncio.wait_for(seen, 10)
            finally:
                writer.close()

    assert asyncio.run(accepted_nodelay()) != 0


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
def test_a_listener_on_an_ipv6_address_takes_no_ipv4_connection() -> None:
    try:
        listener = listening_socket("::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with listener:
        assert listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1


def test_schedules_parse() -> None:
    assert parse_schedule("every 30s").interval.total_seconds() == 30
    assert parse_schedule("every 2m").interval.total_seconds() == 120
    assert "hour='2'" in str(parse_schedule("30 2 * * *"))
    with pytest.raises(ValueError, match="crontab"):
        parse_schedule("sometimes")


# -- the approval reminder ----------------------------------------------------------------------

DUE = RunDue("dibao", "civil_affairs", "2026-12", date(2026, 12, 10), False, 120)


@pytest.mark.parametrize(
    ("as_of", "raised"),
    [
        (date(2026, 12, 7), True),  # three days before the payment day
        (date(2026, 12, 12), True),  # after it, still not approved
        (date(2026, 12, 6), False),  # too early to remind
    ],
)
def test_run_approval_reminder(as_of: date, raised: bool) -> None:
    drafts = check_run_approval([DUE], as_of, 3)
    assert bool(drafts) is raised
    if drafts:
        assert drafts[0].type == "payout_run_late" and drafts[0].severity == "high"
        assert (drafts[0].program, drafts[0].department) == ("dibao", "civil_affairs")


def test_no_reminder_when_approved_or_without_cases() -> None:
    assert check_run_approval([replace(DUE, approved=True)], date(2026, 12, 8), 3) == []
    assert check_run_approval([replace(DUE, active_cases=0)], date(2026, 12, 8), 3) == []


def test_the_reminder_raises_then_closes_on_approval(svc: Services, tmp_path: Path) -> None:
    imported_county(svc, tmp_path, cases=40, seed=3, frauds=False)
    as_of = date(2026, 6, 8)  # dibao pays on the 10th, reminder 3 days ahead
    first = svc.reconciliation.remind_unapproved(as_of)
    late = list_findings(svc.db, period="2026-06", type_="payout_run_late")
    assert first.raised["payout_run_late"] == len(late) > 0
    assert {f["program"] for f in late} >= {"dibao"}
    assert all(f["department"] for f in late)
    assert svc.reconciliation.remind_unapproved(as_of).raised == {}  # raised once
    run = svc.payouts.prepare(Period.parse("2026-06"), program=None, by="S0004")
    assert run.run_id
    svc.payouts.approve(run.run_id, by="S0005")
    svc.reconciliation.remind_unapproved(as_of)
    assert list_findings(svc.db, period="2026-06", type_="payout_run_late") == []
    closed = list_findings(svc.db, period="2026-06", type_="payout_run_late", status="all")
    assert {f["resolution"] for f in closed} == {"corrected"}


# -- the HTTP server and the single leader ------------------------------------------------------


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_server_serves_metrics_and_health_and_runs_the_jobs(reconciled: Services) -> None:
    settings = reconciled.settings.model_copy(
        update={"catch_up_schedule": "every 1s", "reconcile_schedule": "every 1s"}
    )
    server = Server(settings, port=0, today=lambda: AS_OF).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        code, body = get(f"{base}/healthz")
        assert code == 200 and '"leader": true' in body
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            s = samples(get(f"{base}/metrics")[1])
            runs = {lab: v for lab, v in s.get("aidledger_job_runs_total", [])}
            if any(
                'task="reconciliation"' in k and 'outcome="ok"' in k and v for k, v in runs.items()
            ):
                break
            time.sleep(0.3)
        ok = {k for k, v in runs.items() if 'outcome="ok"' in k and v > 0}
        assert any('task="projection_catch_up"' in k for k in ok), runs
        assert any('task="reconciliation"' in k for k in ok), runs
        # Counters start at 0 for every task and outcome, so a first error shows in increase().
        assert runs['{outcome="error",task="run_reminder"}'] == 0, runs
        assert s["aidledger_scheduler_leader"] == [("", 1.0)]
        assert get(f"{base}/nothing")[0] == 404
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(db: str, port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`aidledger serve` in a process of its own, its jobs and checks every second (its log
    in ``log``: an unread pipe would block it once full)."""
    env = {
        **os.environ,
        "AIDLEDGER_CATCH_UP_SCHEDULE": "every 1s",
        "AIDLEDGER_LEADER_CHECK_SECONDS": "1",
        "AIDLEDGER_METRICS_REFRESH_SECONDS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "aidledger.cli", "--db", db, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb") if log else subprocess.DEVNULL,
    )


def scrape(port: int) -> dict[str, list[tuple[str, float]]] | None:
    try:
        return samples(get(f"http://127.0.0.1:{port}/metrics")[1])
    except OSError:
        return None


def catch_ups(s: dict[str, list[tuple[str, float]]], outcome: str = "ok") -> float:
    return sum(
        v
        for lab, v in s.get("aidledger_job_runs_total", [])
        if 'task="projection_catch_up"' in lab and f'outcome="{outcome}"' in lab
    )


def stop_serve(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    """/healthz's code and body; (0, {}) while nothing answers on the port."""
    try:
        code, body = get(f"http://127.0.0.1:{port}/healthz")
    except OSError:
        return 0, {}
    return code, json.loads(body)


def gauge(s: dict[str, list[tuple[str, float]]], name: str) -> float | None:
    values = s.get(name, [])
    return values[0][1] if values else None


def wait_for(check, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_two_serve_processes_run_each_job_on_one_only(store_url: str) -> None:
    init_store(Settings(database_url=store_url)).close()
    ports = [free_port(), free_port()]
    procs = [start_serve(store_url, p) for p in ports]
    try:

        def both_up():  # type: ignore[no-untyped-def]
            got = [scrape(p) for p in ports]
            return all(g and "aidledger_scheduler_leader" in g for g in got)

        wait_for(both_up)
        time.sleep(4)  # several catch-up intervals
        first = [s for p in ports if (s := scrape(p)) is not None]
        assert len(first) == 2
        leaders = [g["aidledger_scheduler_leader"][0][1] for g in first]
        assert sorted(leaders) == [0.0, 1.0]
        leader = leaders.index(1.0)
        follower = 1 - leader
        assert catch_ups(first[leader]) >= 2
        assert catch_ups(first[follower]) == 0
        # The leader dies without a goodbye: the other takes the lock and runs the jobs.
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(timeout=10)
        wait_for(lambda: (s := scrape(ports[follower])) and catch_ups(s) >= 2, timeout=30)
        after = scrape(ports[follower])
        assert after and after["aidledger_scheduler_leader"] == [("", 1.0)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.postgres
def test_health_reports_an_unreachable_store(pg_template: str, tmp_path: Path) -> None:
    name = new_pg_database(pg_template)
    url = _pg_url(name)
    server = Server(Settings(database_url=url), port=0).start()
    try:
        assert get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200
        drop_pg_database(name)
        code, body = get(f"http://127.0.0.1:{server.port}/healthz")
        assert code == 503 and '"status": "unavailable"' in body
    finally:
        server.stop()
        drop_pg_database(name)


def test_a_failing_job_is_counted_and_recorded_and_the_next_run_goes_on(svc: Services) -> None:
    stats = JobStats()
    jobs = Jobs(svc.settings, Leadership(svc.store), stats, lambda: AS_OF)

    def broken(_: Services) -> str:
        raise RuntimeError("the bank's server said no")

    jobs.run("reconciliation", broken)
    jobs.run("projection_catch_up", jobs.catch_up)
    assert stats.runs[("reconciliation", "error")] == 1
    assert stats.runs[("projection_catch_up", "ok")] == 1
    ((error, at),) = svc.db.query(
        "SELECT last_error, last_error_at FROM aidledger_job_status WHERE job = 'reconciliation'"
    )
    assert error == "RuntimeError" and at  # the type only: messages may quote personal data
    jobs.close()


def test_a_process_that_does_not_lead_runs_no_job(svc: Services) -> None:
    leader, other = Leadership(svc.store), Leadership(svc.store)
    try:
        assert leader.check() and not other.check()
        ran: list[str] = []
        Jobs(svc.settings, other, JobStats(), lambda: AS_OF).run(
            "reconciliation", lambda _: ran.append("x") or ""
        )
        assert ran == []
        leader.release()
        # The server frees the lock when the leader's session ends (asynchronously).
        assert wait_for(other.check, timeout=10), "the lock is free again"
    finally:
        leader.release()
        other.release()


def test_health_does_not_wait_for_a_long_write_on_sqlite(tmp_path: Path) -> None:
    import sqlite3

    from aidledger.serve import health
    from ledger.store import StoreURL

    path = str(tmp_path / "a.db")
    init_store(Settings(database_url=path)).close()
    store = StoreURL.parse(path)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a bank import's single write transaction, say
    writer.execute("INSERT INTO aidledger_job_status (job) VALUES ('x')")
    started = time.monotonic()
    try:
        assert health(store, Leadership(store))[0] == 200
        assert time.monotonic() - started < 5  # it would wait for the write lock (60 s)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# -- the store unreachable or not there: serve keeps running and recovers ----------------------


def test_without_a_store_metrics_and_health_answer_and_nothing_is_created(tmp_path: Path) -> None:
    store = StoreURL.parse(str(tmp_path / "aidledger.db"))
    leadership = Leadership(store)
    stats = JobStats()
    registry = CollectorRegistry()
    registry.register(Exporter(store, stats, leadership, periods=3))
    s = samples(generate_latest(registry).decode())
    assert gauge(s, "aidledger_store_up") == 0
    assert gauge(s, "aidledger_scheduler_leader") == 0
    assert "aidledger_job_runs_total" in s
    assert health(store, leadership) == (
        503,
        {"status": "unavailable", "store": "sqlite", "reason": "no store: run aidledger init"},
    )
    assert not leadership.check()
    ran: list[str] = []
    Jobs(Settings(database_url=store.path), leadership, stats).run(
        "projection_catch_up", lambda _: ran.append("x") or ""
    )
    assert ran == []
    assert list(tmp_path.iterdir()) == [], "only aidledger init creates a store"


def test_metrics_keep_the_last_values_read_while_the_store_is_away(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    init_store(Settings(database_url=str(tmp_path / "a" / "x.db"))).close()
    store = StoreURL.parse(str(tmp_path / "a" / "x.db"))
    registry = CollectorRegistry()
    exporter = Exporter(store, JobStats(), Leadership(store), periods=3)
    registry.register(exporter)

    def scrape_after_refresh() -> dict[str, list[tuple[str, float]]]:
        exporter.refresh()
        return samples(generate_latest(registry).decode())

    seen = scrape_after_refresh()
    assert gauge(seen, "aidledger_store_up") == 1
    head = gauge(seen, "aidledger_event_log_head")
    assert head == 1  # init recorded the shipped programs config
    (tmp_path / "a").rename(tmp_path / "b")  # the disk unmounted, say
    away = scrape_after_refresh()
    assert gauge(away, "aidledger_store_up") == 0
    assert gauge(away, "aidledger_event_log_head") == head, "the last value read"
    assert "aidledger_projection_lag_events" in away
    assert not (tmp_path / "a").exists(), "nothing created where the store was"
    (tmp_path / "b").rename(tmp_path / "a")
    assert gauge(scrape_after_refresh(), "aidledger_store_up") == 1


def test_serve_without_a_store_answers_503_creates_nothing_and_starts_once_init_ran(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    db, port = str(folder / "aidledger.db"), free_port()
    proc = start_serve(db, port, log=tmp_path / "serve.log")
    try:
        code, body = wait_for(lambda: (h := healthz(port))[0] and h)
        assert (code, body["reason"]) == (503, "no store: run aidledger init")
        s = scrape(port)
        assert s and gauge(s, "aidledger_store_up") == 0
        assert gauge(s, "aidledger_scheduler_leader") == 0
        time.sleep(1.5)  # the jobs' and the checks' turns (every second) come and go
        assert proc.poll() is None, "serve keeps running"
        assert list(folder.iterdir()) == [], "only aidledger init creates a store"

        init = subprocess.run(
            [sys.executable, "-m", "aidledger.cli", "--db", db, "init"],
            capture_output=True,
            timeout=120,
        )
        assert init.returncode == 0, init.stderr.decode()
        wait_for(lambda: healthz(port)[0] == 200)

        def leading_and_caught_up() -> bool:
            s = scrape(port)
            return bool(
                s
                and gauge(s, "aidledger_store_up") == 1
                and gauge(s, "aidledger_scheduler_leader") == 1
                and catch_ups(s) >= 1
            )

        wait_for(leading_and_caught_up)
    finally:
        stop_serve(proc)


@pytest.mark.postgres
@pytest.mark.pg_restart
def test_serve_rides_out_its_postgresql_going_down_and_recovers(
    pg_cluster: Cluster, pg_cluster_store: Callable[[], str], tmp_path: Path
) -> None:
    secret = "pw-never-shown-4711"  # trust authentication: accepted, and ignored
    db = pg_cluster_store().replace("postgres@", f"postgres:{secret}@", 1)
    init_store(Settings(database_url=db)).close()
    port, log = free_port(), tmp_path / "serve.log"
    proc = start_serve(db, port, log=log)
    seen: list[str] = []

    def state() -> tuple[int, float | None, float | None, float, float]:
        """(/healthz code, store up, leader, catch-ups ok, failed) as the process sees them."""
        code, body = healthz(port)
        s = scrape(port) or {}
        seen.extend([json.dumps(body), json.dumps(s)])
        up, leader = gauge(s, "aidledger_store_up"), gauge(s, "aidledger_scheduler_leader")
        return code, up, leader, catch_ups(s), catch_ups(s, "error")

    try:
        wait_for(lambda: (st := state())[:3] == (200, 1, 1) and st[3] >= 1)
        pg_cluster.kill()
        code, body = healthz(port)
        assert (code, body["status"]) == (503, "unavailable"), body
        assert body["reason"] == "cannot connect to the store"
        down = wait_for(lambda: (st := state())[:3] == (503, 0, 0) and st)
        assert proc.poll() is None, "serve keeps running"

        pg_cluster.start()
        back = wait_for(lambda: (st := state())[:3] == (200, 1, 1) and st[3] >= down[3] + 2 and st)
        # The lock retaken, the jobs open new connections: none fails on one the restart cut.
        assert back[4] == down[4], "no catch-up failed after the store came back"
        assert proc.poll() is None
    finally:
        stop_serve(proc)
    assert all(secret not in text for text in seen), "no password in /healthz or /metrics"
    assert secret not in log.read_text(encoding="utf-8", errors="replace"), "nor in the log"
