"""The console under load: 20 clients at once for 60 s on PostgreSQL, reading a page of
findings and case timelines, each view recorded in the access log as in production.

    .venv/bin/python benchmarks/console.py [--cases 200000] [--clients 20] [--seconds 60]

Builds a PostgreSQL store (synthetic cases and staff imported, December's run prepared: its
pre-payment holds are the findings), gives the auditor a login, and serves it with
``aidledger serve`` in a process of its own (its thread pool, ``AIDLEDGER_API_CONNECTIONS``
store connections), so that the clients' work is not the server's. Each client logs in once
(its own session cookie) and then, until the time is up, asks in turn for the findings queue
of a region chosen to list about 50 findings and for the timeline of a random case of the
run, both with a reason (an auditor must give one). Reports, per page, requests, p50, p95 and
the worst latency the clients saw, the server's own time (its ``Server-Timing`` header: from
the request's arrival to the answer's start, and the part of it waiting for a store
connection), and the errors (any answer but 200, or no answer). Writes the "Console under
load" section of docs/PERFORMANCE.md (``--no-write`` prints it only).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    OUT,
    drop_store,
    fresh_store,
    git_revision,
    kept_store,
    machine,
    server_settings,
    today,
    write_section,
)

PERIOD = "2026-12"
PASSWORD = "benchmark-console-pass"
#: The table's head (ms): latency as the clients saw it, the server's time, its parts.
HEADER = (
    "| page | requests | latency p50 | latency p95 | latency max | server p50 | server p95 | "
    "wait p50 | work p50 | work p95 | errors |\n" + "|---" * 11 + "|"
)
#: About as many findings as the queue's page is asked to show.
PAGE = 50


@dataclass
class Tally:
    """Latencies (seconds) of one page, and its errors."""

    seconds: list[float] = field(default_factory=list)
    #: The server's own time of each answer (ms): all of it, and its wait for a connection.
    server: list[float] = field(default_factory=list)
    waiting: list[float] = field(default_factory=list)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, elapsed: float, ok: bool, timing: dict[str, float] | None = None) -> None:
        with self.lock:
            self.seconds.append(elapsed)
            if timing:
                self.server.append(timing["app"])
                self.waiting.append(timing["pool"])
            if not ok:
                self.errors += 1

    def summary(self) -> dict[str, float | int | str]:
        s = sorted(self.seconds)
        if not s:
            return {"requests": 0, "errors": self.errors}
        return {
            "requests": len(s),
            "errors": self.errors,
            "p50_ms": round(statistics.median(s) * 1000, 1),
            "p95_ms": _p95([x * 1000 for x in s]),
            "max_ms": round(s[-1] * 1000, 1),
            "server_p50_ms": round(statistics.median(self.server), 1) if self.server else "-",
            "server_p95_ms": _p95(sorted(self.server)) if self.server else "-",
            "wait_p50_ms": round(statistics.median(self.waiting), 1) if self.waiting else "-",
            "work_p50_ms": round(
                statistics.median(a - w for a, w in zip(self.server, self.waiting, strict=True)), 1
            )
            if self.server
            else "-",
            "work_p95_ms": _p95(
                sorted(a - w for a, w in zip(self.server, self.waiting, strict=True))
            )
            if self.server
            else "-",
        }


def _p95(s: list[float]) -> float:
    return round(s[min(len(s) - 1, int(len(s) * 0.95))], 1)


def server_timing(header: str | None) -> dict[str, float] | None:
    """``{"pool": ms, "app": ms}`` of a ``Server-Timing`` header, None without one."""
    if not header:
        return None
    return {k: float(v) for k, v in re.findall(r"(\w+);dur=([\d.]+)", header)}


def build(url: str, cases: int) -> tuple[str, list[str], int]:
    """The store: cases imported, December prepared, the auditor's login. Returns the region
    prefix whose findings make the page, the cases of the run, and that page's findings."""
    from aidledger.settings import Settings
    from aidledger.synthetic import ADMIN, AUDITOR, CASEWORKER, FINANCE
    from aidledger.wiring import init_store
    from ledger.period import Period

    staff, case_file, deaths = county_files(cases)
    svc = init_store(Settings(database_url=url, batch_events=5000, today=date(2026, 12, 5)))
    try:
        svc.importer.import_file("staff", staff, by=ADMIN)
        svc.importer.import_file("cases", case_file, by=CASEWORKER)
        svc.importer.import_file("deaths", deaths, by=CASEWORKER)
        svc.payouts.prepare(Period.parse(PERIOD), program=None, by=FINANCE)
        svc.logins.set_password(ADMIN, PASSWORD, temporary=False, by=ADMIN)
        svc.logins.set_password(AUDITOR, PASSWORD, temporary=False, by=ADMIN)
        svc.sync()
    finally:
        svc.close()
    return pages_of(url)


def pages_of(url: str) -> tuple[str, list[str], int]:
    """The region prefix whose findings make the page, the cases of the run, and that
    page's findings, of a store `build` made."""
    from aidledger.settings import Settings
    from aidledger.wiring import open_services

    svc = open_services(Settings(database_url=url, today=date(2026, 12, 5)))
    try:
        counts = svc.db.query(
            "SELECT region_code, COUNT(*) FROM findings WHERE period = ? GROUP BY region_code",
            (PERIOD,),
        )
        region, listed = _region_for_a_page(counts)
        ids = [r[0] for r in svc.db.query("SELECT DISTINCT case_id FROM payments")]
    finally:
        svc.close()
    return region, ids, listed


def county_files(cases: int) -> tuple[Path, Path, Path]:
    """A synthetic county with its planted anomalies (the run's holds, so its findings) and
    its deaths feed, as staff, cases and deaths files."""
    from aidledger.synthetic import (
        CASE_COLUMNS,
        DEATH_COLUMNS,
        STAFF_COLUMNS,
        generate_county,
        write_csv,
    )

    OUT.mkdir(parents=True, exist_ok=True)
    county = generate_county(cases=cases, seed=7)
    paths = tuple(OUT / f"console_{name}_{cases}.csv" for name in ("staff", "cases", "deaths"))
    write_csv(paths[0], county.staff, STAFF_COLUMNS)
    write_csv(paths[1], county.cases, CASE_COLUMNS)
    write_csv(paths[2], county.deaths, DEATH_COLUMNS)
    return paths[0], paths[1], paths[2]


def _region_for_a_page(counts: list[tuple[str, int]]) -> tuple[str, int]:
    """The region prefix (from the county down to the village) whose findings are nearest
    `PAGE` in number."""
    best = ("", 0)
    for digits in (6, 9, 12):
        by_prefix: dict[str, int] = {}
        for code, n in counts:
            by_prefix[code[:digits]] = by_prefix.get(code[:digits], 0) + int(n)
        for prefix, n in by_prefix.items():
            if not best[0] or abs(n - PAGE) < abs(best[1] - PAGE):
                best = (prefix, n)
    return best


def load(
    base: str, region: str, cases: list[str], clients: int, seconds: float
) -> dict[str, Tally]:
    """``clients`` threads, each its own session, alternating the two pages until time."""
    import httpx

    from aidledger.synthetic import AUDITOR

    tallies = {"findings": Tally(), "case": Tally()}
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = [0.0]

    def client(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=base, timeout=60) as c:
            answer = c.post("/api/v1/login", json={"staff_id": AUDITOR, "password": PASSWORD})
            answer.raise_for_status()
            start.wait()
            turn = n % 2
            while time.perf_counter() < stop_at[0]:
                if turn == 0:
                    page, url = "findings", f"/findings?period={PERIOD}&region={region}"
                else:
                    page, url = "case", f"/cases?case_id={rng.choice(cases)}"
                t0 = time.perf_counter()
                timing = None
                try:
                    answer = c.get(f"{url}&reason=benchmark")
                    ok = answer.status_code == 200
                    timing = server_timing(answer.headers.get("server-timing"))
                except httpx.HTTPError:
                    ok = False
                tallies[page].add(time.perf_counter() - t0, ok, timing)
                turn = 1 - turn

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds + 60  # until all are logged in
    start.wait()
    stop_at[0] = time.perf_counter() + seconds
    for t in threads:
        t.join(seconds + 120)
    return tallies


@contextmanager
def served(url: str) -> Iterator[str]:
    """``aidledger serve`` on a free port of this machine, in its own process, over ``url``;
    its base URL once ``/healthz`` answers 200."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AIDLEDGER_DATABASE_URL": url, "AIDLEDGER_TODAY": "2026-12-05"}
    command = [str(Path(sys.executable).parent / "aidledger"), "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                stderr = server.stderr.read().decode() if server.stderr else ""
                raise SystemExit(f"aidledger serve did not start: {stderr}")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    parser.add_argument(
        "--keep", action="store_true", help="keep the store (aidl_bench_console_CASES) afterwards"
    )
    parser.add_argument("--reuse", action="store_true", help="serve a store --keep kept")
    args = parser.parse_args()

    from aidledger.settings import Settings

    label = f"console_{args.cases}"
    url = kept_store(label) if args.reuse else fresh_store("postgresql", label)
    t0 = time.perf_counter()
    try:
        region, cases, listed = pages_of(url) if args.reuse else build(url, args.cases)
        built = (
            "kept by an earlier run, with the access log of its views"
            if args.reuse
            else f"built in {time.perf_counter() - t0:.0f} s"
        )
        settings = Settings(database_url=url, today=date(2026, 12, 5))
        with served(url) as base:
            tallies = load(base, region, cases, args.clients, args.seconds)
    finally:
        if not (args.keep or args.reuse):
            drop_store(url)
    results = {page: t.summary() for page, t in tallies.items()}
    rows = "\n".join(
        f"| {page} | {r['requests']} | {r.get('p50_ms', '-')} | {r.get('p95_ms', '-')} | "
        f"{r.get('max_ms', '-')} | {r.get('server_p50_ms', '-')} | {r.get('server_p95_ms', '-')} "
        f"| {r.get('wait_p50_ms', '-')} | {r.get('work_p50_ms', '-')} | "
        f"{r.get('work_p95_ms', '-')} | {r['errors']} |"
        for page, r in results.items()
    )
    total = sum(int(r["requests"]) for r in results.values())
    command = (
        f"benchmarks/console.py --cases {args.cases} --clients {args.clients} "
        f"--seconds {args.seconds:g}" + (" --reuse" if args.reuse else "")
    )
    body = f"""
`.venv/bin/python {command}`
({today()}, {git_revision()}; {machine()}; {server_settings()}).

{args.clients} clients, each with its own session, for {args.seconds:g} s against one server
(`aidledger serve`'s, {settings.api_connections} store connections) over a PostgreSQL store of
{args.cases:,} cases with December prepared ({built}): in turn, the findings
queue of region {region} ({listed} findings) and the timeline of a random case of the run, as an
auditor with a reason — every view recorded in the access log. {total / args.seconds:.1f}
pages a second in all.

Latency is what the clients saw; server is the server's `Server-Timing` (arrival to answer),
of which wait is the time the request queued for one of the store connections and work the
rest (its own queries and rendering).

{HEADER}
{rows}
"""
    print(body)
    if not args.no_write:
        write_section("Console under load", body)


if __name__ == "__main__":
    main()
