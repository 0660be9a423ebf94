"""Bank import and reconcile of a camt.054 with 1.5M entries, on PostgreSQL.

    .venv/bin/python benchmarks/bank_import.py [--cases 1830000] [--runs 2]

1,830,000 synthetic cases make a month of 1.5M payments. The month up to the bank's file
(import, prepare, approve, export as pain.001, and the simulated bank's camt.054 booking every
payment, 940 MB) is built once into a kept database, ``aidl_bench_bank_base``, and reused by
later runs with the same ``--cases`` (``--new-base`` builds it again: some 10 minutes), vacuumed and
analyzed as autovacuum leaves a database in the days between a run and the bank's file. Each run
copies it, then imports the camt.054 and reconciles the month, each in its own process (so
each peak RSS is its own). Reference measured in the same run and database: a raw ``COPY`` of
the very event rows the bank import wrote into a table shaped like the event table (keys and
index included). Writes the "Bank import at province scale" section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from benchmarks.common import (
    PG_ADMIN,
    drop_store,
    git_revision,
    kept_store,
    machine,
    server_settings,
    today,
    write_section,
)
from benchmarks.payout_month import copy_store, out_dir
from benchmarks.province import head, run_stage

BASE = "bank_base"
HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_830_000)
    parser.add_argument("--runs", type=int, default=2, help="import + reconcile runs")
    parser.add_argument("--new-base", action="store_true", help="build the month again")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    if args.new_base or not _base_ready(args.cases):
        _build_base(args.cases)
    runs = []
    for n in range(1, args.runs + 1):
        url = copy_store("postgresql", BASE, "bank_run")
        try:
            before = head(url)
            run = {
                "bank_import": run_stage("bank_import", url, args.cases, label="bank_run"),
                "reconcile": run_stage("reconcile", url, args.cases, label="bank_run"),
            }
            proc = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "province.py"),
                    "--raw-events",
                    url,
                    str(before + 1),
                    str(head(url)),
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                sys.exit(f"raw events failed:\n{proc.stderr[-3000:]}")
            run["raw_events"] = json.loads(proc.stdout.strip().splitlines()[-1])
        finally:
            drop_store(url)
        print(f"run {n}", json.dumps(run), flush=True)
        runs.append(run)
    if not runs:
        return  # --runs 0: the month is built, nothing measured
    body = table(runs, args.cases)
    print(body)
    if not args.no_write:
        write_section("Bank import at province scale", body)


def _base_ready(cases: int) -> bool:
    marker = out_dir(BASE) / "base.json"
    if not marker.exists() or json.loads(marker.read_text())["cases"] != cases:
        return False
    with psycopg.connect(PG_ADMIN) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (f"aidl_bench_{BASE}",)
        ).fetchone()
    return found is not None and (out_dir(BASE) / "camt054.xml").exists()


def _build_base(cases: int) -> None:
    (out_dir(BASE) / "base.json").unlink(missing_ok=True)
    stages = "import,prepare,approve,export,camt"
    command = [sys.executable, str(HERE / "payout_month.py"), "--cases", str(cases)]
    command += ["--label", BASE, "--keep", "--no-write", "--stages", stages]
    subprocess.run(command, check=True)
    # As the month stands when the bank's file comes, days after the run: autovacuum has
    # been through the payments (statistics, visibility). Without this, a copy made at once
    # keeps the statistics of before the run, which no bureau's database would have.
    with psycopg.connect(kept_store(BASE), autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    (out_dir(BASE) / "base.json").write_text(json.dumps({"cases": cases}))


def table(runs: list[dict[str, dict[str, object]]], cases: int) -> str:
    def col(stage: str, key: str) -> list[float]:
        return [float(r[stage][key]) for r in runs]  # type: ignore[arg-type]

    entries = int(runs[0]["bank_import"]["items"])  # type: ignore[call-overload]
    imp, rec = col("bank_import", "seconds"), col("reconcile", "seconds")
    raw = col("raw_events", "seconds")
    both = [a + b for a, b in zip(imp, rec, strict=True)]
    rss = max(col("bank_import", "rss") + col("reconcile", "rss"))
    helpers = max(col("bank_import", "helper_rss"), default=0.0)

    def rates(seconds: list[float]) -> str:
        return " / ".join(f"{entries / s:,.0f}" for s in seconds)

    def secs(seconds: list[float]) -> str:
        return " / ".join(f"{s:.1f}" for s in seconds)

    best = min(range(len(runs)), key=lambda i: both[i])
    events = int(runs[best]["raw_events"]["items"])  # type: ignore[call-overload]
    lines = [
        f"Run {today()} at commit {git_revision()} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/bank_import.py --cases {cases} --runs "
        f"{len(runs)}` (PostgreSQL: {server_settings()}; each stage a separate process; "
        f"{len(runs)} runs, each from a copy of the same month, shown run by run).",
        "",
        "| stage | entries | seconds | entries/s | peak RSS MiB |",
        "|---|---|---|---|---|",
        f"| bank import | {entries:,} | {secs(imp)} | {rates(imp)} | "
        f"{max(col('bank_import', 'rss')):.0f} |",
        f"| reconcile | {entries:,} | {secs(rec)} | {rates(rec)} | "
        f"{max(col('reconcile', 'rss')):.0f} |",
        f"| **import + reconcile** | {entries:,} | {secs(both)} | {rates(both)} | {rss:.0f} |",
        "",
        f"Aim: ≥ 30,000 entries/s, RSS ≤ 2,048 MiB. Peak RSS is the importing process's; the "
        f"helper that parses half the file peaked at {helpers:.0f} MiB.",
        "Bank import phases (s), run by run: "
        + "; ".join(str(r["bank_import"].get("phases")) for r in runs)
        + ".",
        f"Reference in the same database: a raw `COPY` of the {events:,} event rows the fastest "
        f"run's import wrote, into an event-shaped table, took {raw[best]:.1f} s "
        f"({events / raw[best]:,.0f} rows/s); the whole import (parse, match, events, "
        f"projection) took {imp[best] / raw[best]:.1f} times as long.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
