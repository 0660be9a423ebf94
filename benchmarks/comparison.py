"""Data comparison benchmark: a province's records across sources, imported and compared.

Generates ``--records`` comparison records across the sources (other departments' records
about the people of a generated ``--cases``-case register, a few per person; a ``--breach``
share of them over a limit, 1% unless told), imports them
through `eligibility.comparison_import` (all or nothing, a chunk of records per event, copied
into ``comparison_records``) and runs ``compare`` for one month, on PostgreSQL. Reference in
the same run and database: the same rows, already parsed, written by a raw ``COPY`` into a
plain table. Peak RSS of the process through the compare.

    .venv/bin/python benchmarks/comparison.py --records 10000000 --cases 1500000   # the lead
    .venv/bin/python benchmarks/comparison.py --records 200000 --cases 20000 --no-write
    .venv/bin/python benchmarks/comparison.py --records 10000000 --breach 1   # worst case

Results replace the "Data comparison" section of docs/PERFORMANCE.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

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

#: Sources and their share of a province's records.
MIX = (
    ("income", 0.25),
    ("social_insurance", 0.2),
    ("deposit", 0.2),
    ("household_registration", 0.17),
    ("vehicle", 0.08),
    ("real_estate", 0.07),
    ("other_benefit", 0.025),
    ("business", 0.005),
)
#: Each money source's values in yuan: (usual low, usual high, breaching low, breaching high).
#: Usual values keep a household within the programs' limits (income 1,000 a month per person,
#: deposits 60,000, vehicles 100,000, real estate 1,500,000); a ``--breach`` share of the
#: records is drawn from the breaching range instead.
VALUES = {
    "income": (20, 150, 3000, 12000),
    "social_insurance": (20, 120, 2500, 8000),
    "deposit": (100, 20000, 80000, 500000),
    "vehicle": (3000, 40000, 120000, 400000),
    "real_estate": (50000, 500000, 1600000, 5000000),
}
#: The other departments' benefits in the feed; the last duplicates 低保 (``duplicates_with``).
BENEFITS = ("employment_subsidy", "unemployment")
#: A breaching share of 1.0 is the worst case: every record over its limit, every registration
#: outside the county, every benefit a duplicate.
DEFAULT_BREACH = 0.01
RAW_TABLE = (
    "CREATE TABLE bench_raw_comparison (source TEXT, id_number TEXT, source_ref TEXT, "
    "as_of DATE, value TEXT, amount BIGINT, detail TEXT)"
)


def make_files(
    records: int, people: list[tuple[str, str]], breach: float = DEFAULT_BREACH, seed: int = 11
) -> dict[str, Path]:
    """One file per source, ``records`` rows in all, about ``people`` (id number, county).

    Like a real feed, most records are of people within their program's limits: a ``breach``
    share of the money records is over them, of the registrations outside the case's county,
    of the other departments' benefits one that duplicates 低保; business registrations are
    few (a business is forbidden to 低保 households, and each is a finding)."""
    from ledger.comparison import columns_of

    rnd = random.Random(seed)
    OUT.mkdir(parents=True, exist_ok=True)
    paths = {}
    for source, share in MIX:
        path = OUT / f"comparison_{source}_{records}_{breach:g}.csv"
        paths[source] = path
        if path.exists():
            continue
        with written_whole(path) as partial, partial.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(columns_of(source))
            for n in range(int(records * share)):
                who, county = people[rnd.randrange(len(people))]
                day = date(2026, rnd.randint(1, 11), rnd.randint(1, 28)).isoformat()
                over = rnd.random() < breach
                if source == "other_benefit":
                    benefit = BENEFITS[over]
                    w.writerow([who, "hrss", benefit, f"{rnd.randint(500, 2000)}.00", day, ""])
                elif source == "household_registration":
                    w.writerow([who, f"HR{n}", day, "320102" if over else county, ""])
                elif source == "business":
                    w.writerow([who, f"9161{n:014d}", day, "个体工商户", ""])
                else:
                    low, high, over_low, over_high = VALUES[source]
                    yuan = rnd.randint(over_low, over_high) if over else rnd.randint(low, high)
                    w.writerow([who, f"{source[:2].upper()}{n}", day, f"{yuan}.00", ""])
    return paths


def raw_chunks(paths: dict[str, Path], size: int = 500_000) -> Iterator[list[tuple[Any, ...]]]:
    """The files' rows as ``bench_raw_comparison`` rows, ``size`` at a time, parsed the
    plainest way (Python's csv reader, no checks)."""
    from ledger.comparison_terms import MONEY_SOURCES

    rows: list[tuple[Any, ...]] = []
    for source, path in paths.items():
        money = source in MONEY_SOURCES
        with path.open(encoding="utf-8", newline="") as f:
            lines = csv.reader(f)
            next(lines)
            for v in lines:
                row: tuple[Any, ...]
                if source == "other_benefit":
                    who, department, benefit, amount, start, _ = v
                    monthly = int(amount.replace(".", ""))
                    row = (source, who, f"{department}:{benefit}", start, amount, monthly, "")
                else:
                    who, ref, day, value, detail = v
                    fen = int(value.replace(".", "")) if money else None
                    row = (source, who, ref, day, value, fen, detail)
                rows.append(row)
                if len(rows) == size:
                    yield rows
                    rows = []
    if rows:
        yield rows


def run(records: int, cases: int, breach: float = DEFAULT_BREACH) -> dict[str, Any]:
    from aidledger.settings import Settings
    from aidledger.synthetic import ADMIN, CASEWORKER
    from aidledger.wiring import init_store
    from benchmarks.import_cases import make_files as case_files
    from eligibility.comparison_import import ComparisonImporter
    from eligibility.comparisons import Comparisons
    from ledger.period import Period

    staff_path, cases_path = case_files(cases)
    with cases_path.open(encoding="utf-8") as f:
        people = [(row["id_number"], row["region_code"][:6]) for row in csv.DictReader(f)]
    paths = make_files(records, people, breach)
    del people
    url = fresh_store("postgresql", "comparison")
    on = date(2026, 12, 15)
    svc = init_store(Settings(database_url=url, today=on))
    try:
        svc.importer.import_file("staff", staff_path, by=ADMIN, today=on)
        svc.importer.import_file("cases", cases_path, by=CASEWORKER, today=on)
        rss_before = peak_rss_mib()
        importer = svc.service(ComparisonImporter)
        laps: dict[str, float] = {}
        t0 = time.perf_counter()
        rows = 0
        for source, path in paths.items():
            summary = importer.import_comparison(path, source=source, by=CASEWORKER, today=on)
            rows += summary.rows
            for phase, seconds in summary.seconds.items():
                laps[phase] = laps.get(phase, 0.0) + seconds
        imported = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = svc.service(Comparisons).compare(Period.parse("2026-12"), as_of=on, by=CASEWORKER)
        compared = time.perf_counter() - t0
        rss = peak_rss_mib()
        with svc.db.transaction() as tx:
            tx.execute(RAW_TABLE)
        copy = 0.0
        columns = ("source", "id_number", "source_ref", "as_of", "value", "amount", "detail")
        for chunk in raw_chunks(paths):
            t0 = time.perf_counter()
            with svc.db.transaction() as tx:
                tx.copy_rows("bench_raw_comparison", columns, chunk)
            copy += time.perf_counter() - t0
        return {
            "records": rows,
            "cases": cases,
            "import_s": imported,
            "laps": laps,
            "compare_s": compared,
            "compared_cases": result.cases,
            "compare_laps": result.seconds,
            "raised": sum(result.raised.values()),
            "copy_s": copy,
            "rss": rss,
            "rss_before": rss_before,
        }
    finally:
        svc.close()
        drop_store(url)


def _mix_text() -> str:
    return ", ".join(f"{source} {share:.1%}" for source, share in MIX)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--cases", type=int, default=1_500_000)
    parser.add_argument(
        "--breach",
        type=float,
        default=DEFAULT_BREACH,
        help="share of the records over a limit (1.0: the worst case, every one)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, do not edit docs")
    args = parser.parse_args()
    r = run(args.records, args.cases, args.breach)
    rate = r["records"] / r["import_s"]
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["laps"].items())
    compare_phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["compare_laps"].items())
    lines = [
        f"Run {today()} at commit {git_revision()} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/comparison.py --records {args.records} "
        f"--cases {args.cases} --breach {args.breach:g}` (PostgreSQL).",
        "",
        "| records | import s | records/s | raw COPY s | import ÷ COPY | compare s | findings "
        "| import + compare s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {r['records']} | {r['import_s']:.1f} | {rate:,.0f} | {r['copy_s']:.1f} | "
        f"{r['import_s'] / r['copy_s']:.1f} | {r['compare_s']:.1f} | {r['raised']} | "
        f"{r['import_s'] + r['compare_s']:.1f} | {r['rss']:.0f} |",
        "",
        f"The import's phases summed over the files: {phases}; the compare's: "
        f"{compare_phases} (index: the records' person index built once after the large "
        f"imports). Compare read the records of {r['compared_cases']} cases. Peak RSS is "
        "the process's, through the compare (the "
        f"cases' import before them had reached {r['rss_before']:.0f} MiB); the raw COPY "
        "reference (the files' rows parsed by Python's csv reader, untimed, then COPYed "
        "500,000 rows a transaction) ran after it was taken. The records: "
        f"{_mix_text()}; {args.breach:.0%} of each source's records breach (a money value "
        "over its limit, a registration outside the case's county, a benefit that "
        "duplicates 低保), the rest within the limits.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("Data comparison", "\n".join(lines))


if __name__ == "__main__":
    main()
