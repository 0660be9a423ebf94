"""`aidledger case history` on a province store: one case among 1.5M, with a year of months.

    .venv/bin/python benchmarks/case_history.py [--cases 1500000] [--from LABEL] [--keep]

Builds (or reuses, with ``--from``) a PostgreSQL store of a province: its 1.5M cases imported;
every month of the year before, a run of one program's cases (``orphan``, some 3% of them:
the cases whose history is read) prepared, approved, exported and answered by a simulated
bank; then the December run of every program, the same way. Then it measures, in one warm
process, the work inside the command for a sample of cases (reading the case's trail and
building its document: the events of its decisions, payments, their runs, findings,
recoveries and deaths, and the money table), and, as separate processes, the command line's
own start-up (``aidledger --help``) and a whole ``aidledger case history`` run. Writes the
"Case history" section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

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
from benchmarks.payout_month import files

PROGRAM = "orphan"
YEAR = [f"2026-{m:02d}" for m in range(1, 12)]  # the year's months of the one program
DECEMBER = "2026-12"
AIDLEDGER = Path(sys.executable).with_name("aidledger")
#: The project's own packages (compiled, or not, for the start-up's two numbers).
PACKAGES = (
    *("aidledger", "ledger", "projections", "disbursement"),
    *("reconciliation", "eligibility", "console"),
)
#: The machine's load when the benchmark began (other work inflates every number).
LOAD_AT_START = " / ".join(f"{x:.2f}" for x in os.getloadavg())


def services(url: str, day: date):  # type: ignore[no-untyped-def]
    from aidledger.settings import Settings
    from aidledger.wiring import init_store

    return init_store(Settings(database_url=url, batch_events=5000, page_size=20000, today=day))


def build(url: str, cases: int, out: Path) -> dict[str, float]:
    """The province store: cases, a year of one program's months, December for all."""
    from aidledger.synthetic import ADMIN, CASEWORKER, FINANCE, FINANCE_APPROVER
    from ledger.period import Period
    from reconciliation.banksim import read_pain001, write_camt054

    laps: dict[str, float] = {}
    staff, case_file = files(cases)
    t0 = time.perf_counter()
    svc = services(url, date(2026, 1, 5))
    try:
        svc.importer.import_file("staff", staff, by=ADMIN)
        svc.importer.import_file("cases", case_file, by=CASEWORKER)
    finally:
        svc.close()
    laps["import"] = time.perf_counter() - t0
    for period in [*YEAR, DECEMBER]:
        t0 = time.perf_counter()
        p = Period.parse(period)
        svc = services(url, p.day(5))
        try:
            program = None if period == DECEMBER else PROGRAM
            run = svc.payouts.prepare(p, program=program, by=FINANCE).run_id or ""
            svc.payouts.approve(run, by=FINANCE_APPROVER)
            path = out / f"{run}.xml"
            path.unlink(missing_ok=True)
            svc.payouts.export(run, fmt="pain001", out=path, by=FINANCE)
            camt = out / f"{run}.camt.xml"
            with camt.open("wb") as f:
                write_camt054(f, read_pain001(path.read_bytes()))
            svc.bank.import_file(camt, by=FINANCE, today=p.day(28))
        finally:
            svc.close()
        laps[period] = time.perf_counter() - t0
        print(period, round(laps[period], 1), flush=True)
    return laps


def measure(url: str, sample: int) -> dict[str, object]:
    """The work inside the command, per case: a warm process reading the trail and building
    the document (what the command does after opening the store)."""
    from projections.trail import history_document, load_trail

    svc = services(url, date(2026, 12, 31))
    try:
        ids = [
            r[0]
            for r in svc.db.query(
                "SELECT case_id FROM cases WHERE program = ? ORDER BY case_id", (PROGRAM,)
            )
        ]
        rng = random.Random(7)
        chosen = rng.sample(ids, min(sample, len(ids)))
        timings, events, months = [], [], []
        for case_id in chosen[:5]:  # warm the caches and the plans
            load_trail(svc.app, svc.db, case_id)
        for case_id in chosen:
            t0 = time.perf_counter()
            trail = load_trail(svc.app, svc.db, case_id)
            assert trail is not None
            doc = history_document(
                case_id,
                trail,
                as_of=date(2026, 12, 31),
                known_at=None,
                timezone=svc.settings.timezone,
                config=svc.config,
            )
            timings.append(time.perf_counter() - t0)
            events.append(len(doc["events"]))
            months.append(len(doc["money"]))
        total_cases = int(svc.db.query("SELECT COUNT(*) FROM cases")[0][0])
        log = int(svc.app.recorder.max_notification_id() or 0)
    finally:
        svc.close()
    ms = sorted(t * 1000 for t in timings)
    return {
        "cases": total_cases,
        "log": log,
        "sample": len(ms),
        "p50": statistics.median(ms),
        "p95": ms[int(len(ms) * 0.95) - 1],
        "max": ms[-1],
        "events": statistics.median(events),
        "months": statistics.median(months),
        "case": chosen[0],
    }


def wall(args: list[str], runs: int = 7, env: dict[str, str] | None = None) -> float:
    """Median wall seconds of a command line run as its own process."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def startups(args: list[str]) -> dict[str, float]:
    """``args`` timed twice: compiling the project's modules on every start (as in a checkout
    where PYTHONDONTWRITEBYTECODE is set and nothing was compiled: this machine's default),
    then with their bytecode compiled (as after any first run where Python may write it).
    Third-party packages come compiled by pip either way."""
    root = Path(__file__).resolve().parent.parent
    packages = [root / p for p in PACKAGES]
    for cache in (c for p in packages for c in p.rglob("__pycache__")):
        shutil.rmtree(cache)
    source = wall(args, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *map(str, packages)],
        check=True,
        capture_output=True,
    )
    return {"compiled": wall(args), "source": source}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_500_000)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--label", default="history")
    parser.add_argument("--from", dest="source", help="reuse the kept store of this label")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    out = OUT / args.label
    out.mkdir(parents=True, exist_ok=True)
    if args.source:
        url = kept_store(args.source)
        laps: dict[str, float] = {}
    else:
        url = fresh_store("postgresql", args.label)
        laps = build(url, args.cases, out)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
        found = measure(url, args.sample)
        env_db = ["--db", url]
        startup = startups([str(AIDLEDGER), "--help"])
        whole = startups(
            [str(AIDLEDGER), *env_db, "case", "history", str(found["case"]), "--format", "json"]
        )
    finally:
        if not (args.keep or args.source):
            drop_store(url)
    built = ", ".join(f"{k} {v:.0f} s" for k, v in laps.items())
    body = "\n".join(
        [
            f"Run {today()} at commit {git_revision()} on {machine()}.",
            f"Command: `.venv/bin/python benchmarks/case_history.py --cases {args.cases}` "
            f"(PostgreSQL: {server_settings()}).",
            "",
            f"A province store of {found['cases']:,} cases and {found['log']:,} events: every "
            f"month of 2026 a run of the `{PROGRAM}` cases (prepared, approved, exported, a bank "
            "file back), and December's run of every program. For "
            f"{found['sample']} `{PROGRAM}` cases picked at random (a median of "
            f"{found['events']:.0f} events and {found['months']:.0f} months each), the work "
            "inside `case history` (reading the case's trail from the log and building its "
            "document, money table included), in one warm process:",
            "",
            "| | ms |",
            "|---|---|",
            f"| p50 | {found['p50']:.1f} |",
            f"| p95 | {found['p95']:.1f} |",
            f"| max | {found['max']:.1f} |",
            "",
            "The aim is ≤ 50 ms. The command line as a whole process (medians of 7 runs), "
            "with the project's bytecode compiled / compiling it at every start "
            "(PYTHONDONTWRITEBYTECODE set, nothing compiled):",
            "",
            "| | compiled, s | from source, s |",
            "|---|---|---|",
            f"| `aidledger --help` (Python and the command line's own imports) | "
            f"{startup['compiled']:.2f} | {startup['source']:.2f} |",
            f"| `aidledger case history {found['case']} --format json` (start-up, opening the "
            f"store, the work above, printing) | {whole['compiled']:.2f} | {whole['source']:.2f} |",
            "",
            f"Load average when it started: {LOAD_AT_START}.",
            *([f"Building the store: {built}."] if built else []),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Case history", body)


if __name__ == "__main__":
    main()
