"""Import benchmark: a generated N-case file through `aidledger import cases`, on each store.

Reference in the same run and database: the same rows (already parsed) written raw into a
plain table with `executemany` in the same batch size, and with `COPY` (PostgreSQL only).

    .venv/bin/python benchmarks/import_cases.py --cases 100000

Each store runs in its own child process so that its peak RSS is its own. Results replace
the "Import of cases" section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    OUT,
    drop_store,
    fresh_store,
    git_revision,
    machine,
    peak_rss_mib,
    today,
    write_section,
    written_whole,
)

RAW_TABLE = (
    "CREATE TABLE bench_raw_cases (case_id TEXT PRIMARY KEY, program TEXT, region_code TEXT, "
    "name TEXT, id_number TEXT, household_size INTEGER, monthly_amount BIGINT, "
    "effective_from TEXT, effective_to TEXT, bank_account TEXT, account_name TEXT, "
    "decided_by TEXT, approved_by TEXT)"
)


def make_files(cases: int) -> tuple[Path, Path]:
    from aidledger.synthetic import (
        CASE_COLUMNS,
        STAFF_COLUMNS,
        iter_case_rows,
        staff_rows_for,
        write_csv,
    )

    OUT.mkdir(parents=True, exist_ok=True)
    cases_path = OUT / f"cases_{cases}.csv"
    staff_path = OUT / f"staff_{cases}.csv"
    if not (cases_path.exists() and staff_path.exists()):
        with written_whole(staff_path) as partial:
            write_csv(partial, staff_rows_for(cases), STAFF_COLUMNS)
        with written_whole(cases_path) as partial:
            write_csv(partial, iter_case_rows(cases=cases), CASE_COLUMNS)
    return staff_path, cases_path


def raw_rows(path: Path) -> list[tuple[object, ...]]:
    from aidledger.synthetic import CASE_COLUMNS
    from ledger.csvfile import read_rows
    from ledger.programs import load_programs
    from ledger.validation import validate_cases

    rows, _ = read_rows(path.read_bytes(), CASE_COLUMNS)
    good, _ = validate_cases(rows, load_programs())
    return [
        tuple(str(v) if isinstance(v, date) else v for v in (getattr(r, c) for c in CASE_COLUMNS))
        for _, r in good
    ]


def one_store(dialect: str, cases: int, batch: int) -> dict[str, object]:
    from aidledger.settings import Settings
    from aidledger.synthetic import ADMIN, CASEWORKER
    from aidledger.wiring import init_store
    from ledger.case import CASE_COLUMNS

    staff_path, cases_path = make_files(cases)
    url = fresh_store(dialect, f"import_{dialect}")
    svc = init_store(Settings(database_url=url, batch_events=batch))
    try:
        svc.importer.import_file("staff", staff_path, by=ADMIN, today=date.today())
        t0 = time.perf_counter()
        summary = svc.importer.import_file("cases", cases_path, by=CASEWORKER, today=date.today())
        seconds = time.perf_counter() - t0
        assert summary.new == cases, summary
        rss = peak_rss_mib()

        rows = raw_rows(cases_path)
        with svc.db.transaction() as tx:
            tx.execute(RAW_TABLE)
        marks = ", ".join("?" * 13)
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            with svc.db.transaction() as tx:
                tx.executemany(f"INSERT INTO bench_raw_cases VALUES ({marks})", rows[i : i + batch])
        executemany = time.perf_counter() - t0
        copy = None
        if dialect == "postgresql":
            with svc.db.transaction() as tx:
                tx.execute("TRUNCATE bench_raw_cases")
            t0 = time.perf_counter()
            with svc.db.transaction() as tx:
                tx.copy_rows("bench_raw_cases", CASE_COLUMNS, rows)
            copy = time.perf_counter() - t0
        return {
            "dialect": dialect,
            "cases": cases,
            "seconds": seconds,
            "phases": summary.seconds,
            "events": summary.events,
            "executemany": executemany,
            "copy": copy,
            "rss": rss,
        }
    finally:
        svc.close()
        drop_store(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000, help="events per transaction")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only, do not edit docs")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_store(args.one, args.cases, args.batch)))
        return
    make_files(args.cases)
    results = []
    for dialect in args.stores.split(","):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                dialect,
                "--cases",
                str(args.cases),
                "--batch",
                str(args.batch),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    lines = [
        f"Run {today()} at commit {git_revision()} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/import_cases.py --cases {args.cases}` "
        f"({args.batch} events per transaction).",
        "",
        "| store | cases | seconds | cases/s | raw executemany rows/s | import ÷ executemany "
        "| raw COPY rows/s | import ÷ COPY | peak RSS MiB | phases (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        n = int(r["cases"])
        rate = n / float(r["seconds"])
        em = n / float(r["executemany"])
        cp = n / float(r["copy"]) if r["copy"] else None
        phases = ", ".join(f"{k} {v}" for k, v in r["phases"].items())
        lines.append(
            f"| {r['dialect']} | {n:,} | {float(r['seconds']):.1f} | {rate:,.0f} | {em:,.0f} | "
            f"{rate / em:.2f} | {f'{cp:,.0f}' if cp else 'n/a'} | "
            f"{f'{rate / cp:.2f}' if cp else 'n/a'} | {float(r['rss']):.0f} | {phases} |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("Import of cases", table)


if __name__ == "__main__":
    main()
