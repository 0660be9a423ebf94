"""A large bad input file: the cases file of a province and more (1 GiB by default), good rows
and one bad row at its very end, imported into a fresh SQLite store with the fixture staff.

    .venv/bin/python benchmarks/large_input.py [--mib 1024]

What is measured: the import's time to its refusal and the importing process's peak RSS,
against reading the same file in the same run without aidledger (Python's ``csv`` reader over
its lines: the least any check of every row must do). Writes the "Large bad input" section of
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import OUT, ROOT, git_revision, machine, today, write_section

#: Run in a process of its own (its peak RSS is the import's): the refusal and the memory.
_IMPORT = """
import json, resource, sys, time
from pathlib import Path
from aidledger.settings import Settings
from aidledger.wiring import init_store
from ledger.errors import InputRefused
store, staff, cases = sys.argv[1:4]
svc = init_store(Settings(database_url=store))
svc.importer.import_file("staff", Path(staff), by="S007")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
try:
    svc.importer.import_file("cases", Path(cases), by="S001")
    refused = None
except InputRefused as e:
    refused = [[p.line, p.column] for p in e.problems]
seconds = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"refused": refused, "before": before, "after": after, "seconds": seconds}))
"""

#: The reference: every line of the file read and split as CSV, nothing else.
_RAW = """
import csv, resource, sys, time
t0 = time.perf_counter()
rows = 0
with open(sys.argv[1], encoding="utf-8", newline="") as f:
    for _ in csv.reader(f):
        rows += 1
print(rows, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def make_file(path: Path, mib: int) -> tuple[int, int]:
    """Good rows up to ``mib`` MiB, then one row with a wrong check digit; (rows, bytes)."""
    fixtures = ROOT / "tests" / "fixtures" / "cases.csv"
    lines = fixtures.read_text(encoding="utf-8").splitlines()
    header, good = lines[0], lines[1].split(",", 1)[1]
    bad = good.replace("610102195001010011", "610102195001010012")
    rows = 0
    with path.open("w", encoding="utf-8") as f:
        f.write(header + "\n")
        while f.tell() < mib * 2**20:
            f.write("".join(f"L{rows + n:09d},{good}\n" for n in range(20_000)))
            rows += 20_000
        f.write(f"L{rows:09d},{bad}\n")
    return rows + 1, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path, store = OUT / "large-bad.csv", OUT / "large-bad.db"
    store.unlink(missing_ok=True)
    rows, size = make_file(path, args.mib)
    raw = subprocess.run(
        [sys.executable, "-c", _RAW, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    raw_seconds, raw_rss = float(raw[1]), int(raw[2])
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _IMPORT,
            str(store),
            str(ROOT / "tests" / "fixtures" / "staff.csv"),
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    wall = time.perf_counter() - t0
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    refused = r["refused"]
    body = "\n".join(
        [
            f"Run {today()} at commit {git_revision()} on {machine()}.",
            f"Command: `.venv/bin/python benchmarks/large_input.py --mib {args.mib}` (SQLite).",
            "",
            f"A cases file of {size / 2**30:.2f} GiB ({rows:,} rows), its one bad row the last: "
            f"refused naming line {refused[0][0] if refused else '?'} "
            f"({'column ' + refused[0][1] if refused else 'not refused!'}) after "
            f"{r['seconds']:.0f} s, nothing recorded; the importing process's peak RSS "
            f"{r['after'] / 2**30:.2f} GiB (aim ≤ 2 GiB; {r['before'] / 2**20:.0f} MiB before "
            f"the import began). Reading the same file with Python's csv reader alone took "
            f"{raw_seconds:.0f} s (peak {raw_rss / 2**20:.0f} MiB): the refusal took "
            f"{r['seconds'] / raw_seconds:.1f} times the bare reading (two readings of the "
            f"file and every check of every row). Whole command {wall:.0f} s.",
        ]
    )
    print(body)
    path.unlink(missing_ok=True)
    store.unlink(missing_ok=True)
    if not args.no_write:
        write_section("Large bad input", body)


if __name__ == "__main__":
    main()
