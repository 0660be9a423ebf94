"""Start-up of the command line: how long a command that only reads takes as a whole process.

    .venv/bin/python benchmarks/startup.py [--db URL --case CASE_ID] [--no-write]

Without ``--db``, builds the demo's county in a temporary SQLite store (``aidledger demo
--keep``) and reads one of its cases. Times, as processes of their own (median of 9 runs, with
the project's bytecode compiled): ``aidledger --help``, and ``aidledger case history CASE
--format json`` (start-up, opening the store, the work, printing). References measured in the
same run: Python doing nothing, and Python importing only the libraries every command needs
(pydantic, typer, the eventsourcing library): the floor the command line starts from.

Where valgrind is installed, each is also counted in instructions (``callgrind``): the same
count whatever else the machine is doing, so two commits can be compared on a busy machine.
Writes the "Start-up of the command line" section of docs/PERFORMANCE.md (``--no-write``
prints it only).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.case_history import wall
from benchmarks.common import ROOT, git_revision, machine, today, write_section

AIDLEDGER = Path(sys.executable).parent / "aidledger"
PACKAGES = (
    "aidledger",
    "ledger",
    "projections",
    "disbursement",
    "reconciliation",
    "eligibility",
    "console",
)
#: The libraries every command imports, without aidledger's own code.
FLOOR = "import pydantic, typer, rich.console, eventsourcing.application, eventsourcing.sqlite"


def instructions(args: list[str]) -> int | None:
    """Instructions ``args`` executes (callgrind), or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if found else None


def demo_store(folder: Path) -> tuple[str, str]:
    """The demo's store in ``folder``, and a case of it."""
    store = folder / "demo.db"
    subprocess.run(
        [str(AIDLEDGER), "demo", "--keep", str(store)],
        check=True,
        capture_output=True,
        cwd=folder,
    )
    import sqlite3

    with sqlite3.connect(store) as conn:
        (case_id,) = conn.execute("SELECT case_id FROM cases ORDER BY case_id LIMIT 1").fetchone()
    return str(store), str(case_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="a store to read (default: the demo's, built here)")
    parser.add_argument("--case", help="with --db: the case to read")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if bool(args.db) != bool(args.case):
        parser.error("--db and --case go together")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *(str(ROOT / p) for p in PACKAGES)],
        check=True,
        capture_output=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        db, case_id = (args.db, args.case) if args.db else demo_store(Path(tmp))
        python = [sys.executable]
        measured = {
            "Python doing nothing": [*python, "-c", "pass"],
            "Python importing pydantic, typer, rich and eventsourcing (the floor)": [
                *python,
                "-c",
                FLOOR,
            ],
            "`aidledger --help`": [str(AIDLEDGER), "--help"],
            "`aidledger case history CASE --format json`": [
                str(AIDLEDGER),
                "--db",
                db,
                "case",
                "history",
                case_id,
                "--format",
                "json",
            ],
        }
        load = os.getloadavg()
        rows = []
        for name, command in measured.items():
            seconds = wall(command, args.runs, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
            counted = instructions(command)
            rows.append((name, seconds, counted))
    floor = rows[1]
    store = "the demo's SQLite store" if not args.db else "PostgreSQL" if "://" in db else db
    lines = [
        f"Run {today()} at commit {git_revision()} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/startup.py{' --db … --case …' if args.db else ''}` "
        f"({store}; median of {args.runs} runs each, the project's bytecode compiled).",
        "",
        "| process | wall, s | instructions, millions | instructions against the floor |",
        "|---|---|---|---|",
    ]
    for name, seconds, counted in rows:
        ratio = f"{counted / floor[2]:.2f}" if counted and floor[2] else "–"
        millions = f"{counted / 1e6:,.0f}" if counted else "–"
        lines.append(f"| {name} | {seconds:.3f} | {millions} | {ratio} |")
    lines += [
        "",
        "The aim: a command that only reads starts, opens the store, works and prints in "
        "under 0.5 s. Instructions are counted by valgrind's callgrind (the same count "
        "whatever else the machine is doing); wall times are this machine's at the time, "
        f"with load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} when it started.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Start-up of the command line", body)


if __name__ == "__main__":
    main()
