"""A province's month on PostgreSQL, end to end: 1.5M cases imported, the month prepared,
approved and exported as pain.001, a simulated bank's camt.054 of every payment back, imported,
reconciled; then the projection rebuild against reading the log, and the references.

    .venv/bin/python benchmarks/province.py [--cases 1500000]

Each stage runs in its own process (its peak RSS is its own) against one fresh database, by
``benchmarks/payout_month.py --stage`` (which also serves single-stage work). References
measured in the same run and database: raw ``COPY`` of the very event rows the import and the
prepare wrote (into a table shaped like the event table, keys and indexes included), raw COPY
of the case rows, and reading the notification log. Writes the "Province month" section of
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from benchmarks.common import (
    drop_store,
    fresh_store,
    git_revision,
    machine,
    peak_rss_mib,
    server_settings,
    today,
    write_section,
)

MONTH = ("import", "prepare", "approve", "export", "camt", "bank_import", "reconcile")
#: The households register (3.2M members for 1.5M cases), imported after the cases and before
#: the prepare (whose checks then count the members): a register kept up to date with changes,
#: not re-imported monthly, so not in the month's sum but reported beside it.
HOUSEHOLDS = "households"
#: Each control timed alone on the prepared month, before its approval (not in the month's sum).
CHECKS = "checks"
#: After the month, next month's register re-imported and its run prepared (aidledger's own,
#: not in the month's sum); then the rebuild and the references.
NEXT = ("reimport", "prepare_next")
AFTER = (*NEXT, "log_read", "rebuild", "raw_copy")
#: The daily job's review scan on its worst day (a year after the store began: every case
#: taken over fallen due once, most past the grace): alone, not in the month's sum.
REVIEWS = "review_scan"
STAGE_SCRIPT = Path(__file__).resolve().parent / "payout_month.py"


def raw_events(url: str, first: int, last: int) -> dict[str, object]:
    """COPY the stored rows of events ``first..last`` into a fresh table shaped like the event
    table (same keys and index): what the database alone takes to write them."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_events")
        conn.execute(
            "CREATE TABLE bench_raw_events (originator_id uuid NOT NULL, "
            "originator_version bigint NOT NULL, topic text, state bytea, "
            "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute(
            "CREATE UNIQUE INDEX bench_raw_events_nid ON bench_raw_events (notification_id)"
        )
        conn.commit()
        data = io.BytesIO()
        query = (
            "COPY (SELECT originator_id, originator_version, topic, state FROM aidledger_events "
            f"WHERE notification_id BETWEEN {first} AND {last} ORDER BY notification_id) "
            "TO STDOUT (FORMAT BINARY)"
        )
        with conn.cursor().copy(query) as copy:
            for chunk in copy:
                data.write(chunk)
        raw = data.getvalue()
        t0 = time.perf_counter()
        with conn.cursor().copy(
            "COPY bench_raw_events (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy:
            for i in range(0, len(raw), 1 << 20):
                copy.write(raw[i : i + (1 << 20)])
        conn.commit()
        seconds = time.perf_counter() - t0
        items = conn.execute("SELECT COUNT(*) FROM bench_raw_events").fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE bench_raw_events")
        conn.commit()
    return {"stage": "raw_events", "items": items, "seconds": seconds, "rss": peak_rss_mib()}


def head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COALESCE(MAX(notification_id), 0) FROM aidledger_events")
        return int(row.fetchone()[0])  # type: ignore[index]


def run_stage(name: str, url: str, cases: int, label: str = "month") -> dict[str, object]:
    """One stage of `payout_month.py` in its own process (its files in ``out/<label>``)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(STAGE_SCRIPT),
            "--stage",
            name,
            "--url",
            url,
            "--cases",
            str(cases),
            "--label",
            label,
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"stage {name} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_500_000)
    parser.add_argument("--raw-events", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    if args.raw_events:
        url, first, last = args.raw_events
        print(json.dumps(raw_events(url, int(first), int(last))))
        return
    url = fresh_store("postgresql", "province")
    from ledger.store import StoreURL, ensure_store

    ensure_store(StoreURL.parse(url))
    r: dict[str, dict[str, object]] = {}
    written: dict[str, int] = {}
    try:
        order = [MONTH[0], HOUSEHOLDS, MONTH[1], CHECKS, *MONTH[2:], REVIEWS, *AFTER]
        for name in order:
            before = head(url) if name in ("import", "prepare") else 0
            r[name] = run_stage(name, url, args.cases)
            if name in ("import", "prepare"):
                written[name] = head(url) - before
                written["last"] = head(url)
            print(name, r[name], flush=True)
        proc = subprocess.run(
            # The rows import (staff included) and prepare wrote: events 1..last.
            [sys.executable, __file__, "--raw-events", url, "1", str(written["last"])],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            sys.exit(f"raw events failed:\n{proc.stderr[-3000:]}")
        r["raw_events"] = json.loads(proc.stdout.strip().splitlines()[-1])
        print("raw_events", r["raw_events"], flush=True)
    finally:
        drop_store(url)
    print(table(r, written, args.cases))
    if not args.no_write:
        write_section("Province month", table(r, written, args.cases))


def table(r: dict[str, dict[str, object]], written: dict[str, int], cases: int) -> str:
    def sec(s: str) -> float:
        return float(r[s]["seconds"])  # type: ignore[arg-type]

    def rate(s: str, items: float | None = None) -> float:
        return (float(r[s]["items"]) if items is None else items) / sec(s)  # type: ignore[arg-type]

    ours = [s for s in MONTH if s != "camt"]
    month = sum(sec(s) for s in ours)
    # aidledger's own stages (the simulated bank and the raw references are not aidledger).
    rss = max(float(r[s]["rss"]) for s in (*ours, HOUSEHOLDS, REVIEWS, *NEXT, "rebuild"))  # type: ignore[arg-type]
    with_register = month + sec(HOUSEHOLDS) + sec(REVIEWS)
    log = r["log_read"]
    decoded = float(log["items"]) / float(log["decoded_seconds"])  # type: ignore[arg-type]
    raw = rate("raw_events")
    events_rate = (written["import"] + written["prepare"]) / (sec("import") + sec("prepare"))
    lines = [
        f"Run {today()} at commit {git_revision()} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/province.py --cases {cases}` (PostgreSQL: "
        f"{server_settings()}; each stage a separate process).",
        "",
        "| stage | items | seconds | items/s | peak RSS MiB |",
        "|---|---|---|---|---|",
    ]
    names = {
        "camt": "camt (the simulated bank writes its file; not aidledger)",
        "reimport": "re-import (next month's register: every 100th case in effect raised)",
        "prepare_next": "prepare (next month, after the re-import)",
        "review_scan": "review scan (a year on: review_overdue raised, cases read by page)",
        "households": "households (every case's members, imported before the prepare)",
    }
    for s in (MONTH[0], HOUSEHOLDS, *MONTH[1:], REVIEWS, *NEXT, "rebuild"):
        lines.append(
            f"| {names.get(s, s)} | {int(r[s]['items']):,} | {sec(s):.1f} | "  # type: ignore[call-overload]
            f"{rate(s):,.0f} | {float(r[s]['rss']):.0f} |"  # type: ignore[arg-type]
        )
    lines += [
        "",
        f"**Whole month** (import, prepare, approve, export, bank import, reconcile): "
        f"{month:.0f} s = {month / 60:.1f} min (aim ≤ 5 min); peak RSS of any aidledger stage "
        f"{rss:,.0f} MiB (aim ≤ 2,048). With the households register's import and the review "
        f"scan: {with_register:.0f} s = {with_register / 60:.1f} min.",
        f"Event writes: import and prepare wrote {written['import'] + written['prepare']:,} "
        f"events (the staff file's too) at {events_rate:,.0f} events/s, validation, rules and "
        f"projection included; a raw `COPY` of those same rows into an event-shaped table took "
        f"{sec('raw_events'):.1f} s = {raw:,.0f} events/s, so aidledger writes at "
        f"{events_rate / raw:.2f} of raw COPY. Raw COPY of the case rows: "
        f"{rate('raw_copy'):,.0f} rows/s (import is {rate('import') / rate('raw_copy'):.2f} "
        "of it).",
        f"Projection rebuild {rate('rebuild'):,.0f} events/s against reading the notification "
        f"log {rate('log_read'):,.0f} events/s raw ({rate('rebuild') / rate('log_read'):.2f}) and "
        f"{decoded:,.0f} events/s decoded ({rate('rebuild') / decoded:.2f}).",
        f"Re-import of next month's register: {int(r['reimport']['changed']):,} cases "  # type: ignore[call-overload]
        f"changed, the other rows compared and left; then next month's run prepared (neither in "
        "the whole month above).",
        *controls(r, sec),
        f"Import phases (s): {r['import'].get('phases')}; re-import phases (s): "
        f"{r['reimport'].get('phases')}; bank import phases (s): "
        f"{r['bank_import'].get('phases')}.",
    ]
    return "\n".join(lines)


def controls(r: dict[str, dict[str, object]], sec: Any) -> list[str]:
    """The cost of each control, against the stage it guards (timed alone, same month)."""
    c: dict[str, float] = r[CHECKS]["checks"]  # type: ignore[assignment]
    n = int(r[CHECKS]["items"])  # type: ignore[call-overload]
    return [
        "",
        f"**The controls' cost** on this month ({n:,} payments; each timed alone before the "
        "approval, not in the month's sum): keeping a run up to date — preparing it again when "
        f"nothing changed, every case's dues compared with the run's payments, nothing recorded "
        f"— {c['prepare_unchanged']:.1f} s ({c['prepare_unchanged'] / sec('prepare'):.2f} of the "
        f"first prepare); the approval's checks together {c['before_approval_all']:.1f} s "
        f"(of the approve stage's {sec('approve'):.1f} s): the staleness scan of the log since "
        f"the prepare {c['staleness']:.2f} s, the payments read model streamed for its digest "
        f"{c['read_model_digest']:.2f} s, the held payments replayed from their own events "
        f"{c['held_by_log']:.2f} s; the digest itself (sha-256 of id, amount, account and name "
        f"per payment, computed again by the prepare, the approval and the export's check of "
        f"what it wrote) {c['digest_only']:.2f} s, {c['digest_only'] / sec('export'):.2f} of the "
        "export stage.",
    ]


if __name__ == "__main__":
    main()
