"""Province-scale payout month on PostgreSQL: import, prepare, approve, export, a simulated
camt.054 of every payment back, bank import, reconcile, projection rebuild.

    .venv/bin/python benchmarks/payout_month.py --cases 1500000

Each stage runs in its own child process (so its peak RSS is its own) against one fresh
database. References measured in the same run and database: raw COPY of the case rows, and
reading the whole notification log (with and without decoding) for the projection rebuild.
Results replace the "Payout month" section of docs/PERFORMANCE.md; `benchmarks/province.py` runs
these stages as the whole month and writes the "Province month" section (the one kept there).

For work on one stage: ``--stages`` runs only some (comma-separated), ``--label`` names the
database and output folder (so runs beside each other do not clobber one another), ``--keep``
keeps the database, ``--from LABEL`` starts from a copy of a kept one, and ``--profile`` writes
each stage's cProfile to ``benchmarks/out/<label>/<stage>.prof``. For example:

    payout_month.py --cases 100000 --label base --keep --stages import,prepare,approve,export,camt
    payout_month.py --cases 100000 --label try --from base --stages bank_import --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from benchmarks.common import (
    OUT,
    PG_ADMIN,
    drop_store,
    fresh_store,
    git_revision,
    machine,
    peak_rss_mib,
    today,
    write_section,
    written_whole,
)

PERIOD = "2026-12"
NEXT_PERIOD = "2027-01"
STAGES = (
    "import",
    "households",
    "prepare",
    "checks",
    "approve",
    "export",
    "camt",
    "bank_import",
    "reconcile",
    "review_scan",
    "reimport",
    "prepare_next",
    "log_read",
    "rebuild",
    "raw_copy",
)


#: The store's AIDLEDGER_CIPHER_KEY in a stage's process (``--sealed``), else None.
CIPHER_KEY: str | None = None


def _services(url: str):  # type: ignore[no-untyped-def]
    from aidledger.settings import Settings
    from aidledger.wiring import init_store

    # "Today" in the month being paid: its run (and the next month's) may be prepared.
    return init_store(
        Settings(
            database_url=url,
            batch_events=5000,
            page_size=20000,
            today=date(2026, 12, 15),
            cipher_key=CIPHER_KEY,
        )
    )


def stage(name: str, url: str, cases: int, out_dir: Path, profile: bool) -> dict[str, object]:
    if not profile:
        return _stage(name, url, cases, out_dir)
    profiler = cProfile.Profile()
    try:
        return profiler.runcall(_stage, name, url, cases, out_dir)
    finally:
        profiler.dump_stats(out_dir / f"{name}.prof")


def _stage(name: str, url: str, cases: int, out: Path) -> dict[str, object]:
    from aidledger.synthetic import ADMIN, CASEWORKER, FINANCE, FINANCE_APPROVER
    from ledger.period import Period

    svc = _services(url)
    t0 = time.perf_counter()
    result: dict[str, object] = {"stage": name}
    try:
        if name == "import":
            staff, case_file = files(cases)
            svc.importer.import_file("staff", staff, by=ADMIN)
            t0 = time.perf_counter()
            s = svc.importer.import_file("cases", case_file, by=CASEWORKER)
            result.update(items=s.new, phases=s.seconds)
        elif name == "households":
            members = households_file(files(cases)[1])
            t0 = time.perf_counter()
            s = svc.importer.import_file("households", members, by=CASEWORKER)
            result.update(items=s.new, phases=s.seconds)
        elif name == "prepare":
            r = svc.payouts.prepare(Period.parse(PERIOD), program=None, by=FINANCE)
            result.update(items=r.payments, run_id=r.run_id, held=r.held)
        elif name == "checks":
            result.update(_checks(svc, Period.parse(PERIOD)))
            t0 = time.perf_counter() - float(result["total"])  # type: ignore[arg-type]
        elif name == "approve":
            run_id = svc.db.query("SELECT run_id FROM runs WHERE period = ?", (PERIOD,))[0][0]
            svc.payouts.approve(run_id, by=FINANCE_APPROVER)
            result.update(items=1, run_id=run_id)
        elif name == "export":
            run_id = svc.db.query("SELECT run_id FROM runs WHERE period = ?", (PERIOD,))[0][0]
            path = out / f"{run_id}.xml"
            path.unlink(missing_ok=True)
            n = svc.payouts.export(run_id, fmt="pain001", out=path, by=FINANCE).payments
            result.update(items=n, bytes=path.stat().st_size)
        elif name == "camt":
            from reconciliation.banksim import read_pain001, write_camt054

            run_id = svc.db.query("SELECT run_id FROM runs WHERE period = ?", (PERIOD,))[0][0]
            payments = read_pain001((out / f"{run_id}.xml").read_bytes())
            with (out / "camt054.xml").open("wb") as f:
                write_camt054(f, payments)
            result.update(items=len(payments), bytes=(out / "camt054.xml").stat().st_size)
        elif name == "bank_import":
            s = svc.bank.import_file(out / "camt054.xml", by=FINANCE, today=date(2027, 1, 31))
            result.update(items=s.entries, matched=s.matched, phases=s.seconds)
        elif name == "reconcile":
            r = svc.reconciliation.reconcile(
                Period.parse(PERIOD), as_of=date(2027, 1, 31), by=FINANCE
            )
            result.update(items=r.payments, raised=r.raised)
        elif name == "review_scan":
            # Thirteen months after the store began: every case taken over has fallen due on
            # its anniversary and most are past the grace, the worst day for the daily job.
            from ledger.review import add_months
            from projections.reviews import first_config_day

            began = first_config_day(svc.db) or date.today()
            as_of = add_months(began, 13)
            t0 = time.perf_counter()
            r = svc.reconciliation.raise_overdue_reviews(as_of, by=FINANCE)
            scanned = svc.db.query(
                "SELECT COUNT(*) FROM cases WHERE effective_to IS NULL OR effective_to >= ?",
                (as_of,),
            )[0][0]
            result.update(items=int(scanned), raised=r.raised, as_of=as_of.isoformat())
        elif name == "reimport":
            # Next month's register: the same file with every 100th case in effect raised.
            next_month = next_month_file(files(cases)[1])
            t0 = time.perf_counter()
            s = svc.importer.import_file("cases", next_month, by=CASEWORKER)
            result.update(items=s.rows, changed=s.changed, phases=s.seconds)
        elif name == "prepare_next":
            # The next month's run, after the re-import: the changed cases read from the log.
            r = svc.payouts.prepare(Period.parse(NEXT_PERIOD), program=None, by=FINANCE)
            result.update(items=r.payments, run_id=r.run_id, held=r.held)
        elif name == "rebuild":
            from projections.runner import catch_up, reset

            reset(svc.db, svc.models)
            t0 = time.perf_counter()
            result.update(items=catch_up(svc.app, svc.db, svc.models, page_size=20000))
        elif name == "log_read":
            items, decoded = 0, 0.0
            start = 1
            while True:
                page = svc.app.recorder.select_notifications(start=start, limit=20000)
                if not page:
                    break
                items += len(page)
                start = page[-1].id + 1
            raw = time.perf_counter() - t0
            t1 = time.perf_counter()
            start = 1
            while True:
                page = svc.app.recorder.select_notifications(start=start, limit=20000)
                if not page:
                    break
                for n in page:
                    svc.app.mapper.to_domain_event(n)
                start = page[-1].id + 1
            decoded = time.perf_counter() - t1
            result.update(items=items, raw_seconds=raw, decoded_seconds=decoded)
            t0 = time.perf_counter() - raw  # seconds = the raw read
        elif name == "raw_copy":
            from benchmarks.import_cases import RAW_TABLE, raw_rows
            from ledger.case import CASE_COLUMNS

            rows = raw_rows(files(cases)[1])
            with svc.db.transaction() as tx:
                tx.execute(RAW_TABLE)
            t0 = time.perf_counter()
            with svc.db.transaction() as tx:
                tx.copy_rows("bench_raw_cases", CASE_COLUMNS, rows)
            result.update(items=len(rows))
        result["seconds"] = time.perf_counter() - t0
        result["rss"] = peak_rss_mib()
        # Helper processes the stage ran and waited for (a shared read of a bank file).
        helpers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if helpers:
            result["helper_rss"] = round(helpers)
        return result
    finally:
        svc.close()


def _checks(svc: Any, period: Any) -> dict[str, object]:
    """What each control costs on the prepared month, each timed alone (before the approval):
    preparing the month again when nothing changed (every case's dues compared with the run's
    payments: the diff that keeps a run up to date; it records nothing), the staleness scan of
    the log since the prepare, the payments read model streamed into its digest, the held
    payments replayed from their own events, and the digest alone over every payment."""
    from aidledger.synthetic import FINANCE, FINANCE_APPROVER
    from ledger.payment import Tally

    laps: dict[str, float] = {}

    def timed(name: str, work: Any) -> Any:
        t = time.perf_counter()
        value = work()
        laps[name] = round(time.perf_counter() - t, 3)
        return value

    head = svc.app.recorder.max_notification_id()
    again = timed(
        "prepare_unchanged", lambda: svc.payouts.prepare(period, program=None, by=FINANCE)
    )
    if svc.app.recorder.max_notification_id() != head or again.added or again.amended:
        raise RuntimeError("preparing an up-to-date run recorded something")
    run = svc.payouts._run(again.run_id)
    review = svc.payouts.review
    actor = svc.payouts.actor(FINANCE_APPROVER)
    timed("staleness", lambda: review.staleness(run))
    rows = timed(
        "read_model_digest",
        lambda: [
            (pid, int(a), acct, name)
            for pid, a, acct, name in svc.db.stream(
                "SELECT payment_id, amount, creditor_account, creditor_name FROM payments "
                "WHERE run_id = ? AND cancelled = 0",
                (run.run_id,),
            )
        ],
    )
    timed("held_by_log", lambda: review.held_by_log(run))

    def digest() -> Tally:
        t = Tally()
        for pid, amount, account, name in rows:
            t.add(pid, amount, account, name)
        return t

    timed("digest_only", digest)
    timed("before_approval_all", lambda: review.before_approval(run, actor))
    return {"items": len(rows), "checks": laps, "total": sum(laps.values())}


def files(cases: int) -> tuple[Path, Path]:
    from aidledger.synthetic import (
        CASE_COLUMNS,
        STAFF_COLUMNS,
        iter_case_rows,
        staff_rows_for,
        write_csv,
    )

    OUT.mkdir(parents=True, exist_ok=True)
    staff, case_file = OUT / f"staff_{cases}.csv", OUT / f"cases_{cases}.csv"
    if not case_file.exists():
        write_csv(staff, staff_rows_for(cases), STAFF_COLUMNS)
        write_csv(case_file, iter_case_rows(cases=cases), CASE_COLUMNS)
    return staff, case_file


def households_file(case_file: Path) -> Path:
    """The members of every case of ``case_file`` (``household_size`` each: the holder as
    ``head`` and the others with id numbers of their own, unique in the province), from the
    case's first day. Written once, streaming, and renamed into place when whole."""
    import csv
    from datetime import timedelta

    from ledger.ids import id_check_char

    path = case_file.with_name(f"households_{case_file.stem.removeprefix('cases_')}.csv")
    if path.exists():
        return path
    relations = ("spouse", "child", "child", "parent", "other")
    born = date(2004, 1, 1)  # members' birthdays from here on: no holder shares their ids
    n = 0
    with (
        written_whole(path) as partial,
        case_file.open(encoding="utf-8", newline="") as src,
        partial.open("w", encoding="utf-8", newline="") as dst,
    ):
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(["case_id", "member_id_number", "member_name", "relation", "from", "to"])
        for row in csv.DictReader(src):
            start = row["effective_from"]
            writer.writerow([row["case_id"], row["id_number"], row["name"], "head", start, ""])
            for k in range(int(row["household_size"]) - 1):
                day = born + timedelta(days=n // 1000)
                first17 = f"{row['region_code'][:6]}{day:%Y%m%d}{n % 1000:03d}"
                member = first17 + id_check_char(first17)
                name = row["name"][0] + "家" + "甲乙丙丁戊"[k % 5]
                writer.writerow([row["case_id"], member, name, relations[k % 5], start, ""])
                n += 1
    return path


def next_month_file(case_file: Path) -> Path:
    """``case_file`` as next month's register: every 100th row raised by 10 yuan from
    2027-01-01 if its case is in effect (some 0.8% of the cases), the other rows as they were.
    Written once, streaming, and renamed into place when whole."""
    import csv
    from decimal import Decimal

    path = case_file.with_name(f"{case_file.stem}_next.csv")
    if path.exists():
        return path
    with (
        written_whole(path) as partial,
        case_file.open(encoding="utf-8", newline="") as src,
        partial.open("w", encoding="utf-8", newline="") as dst,
    ):
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, reader.fieldnames or [], lineterminator="\n")
        writer.writeheader()
        for n, row in enumerate(reader):
            if n % 100 == 0 and not row["effective_to"]:
                amount = Decimal(row["monthly_amount"]) + 10
                row.update(monthly_amount=f"{amount:.2f}", effective_from="2027-01-01")
            writer.writerow(row)
    return path


def out_dir(label: str) -> Path:
    """Where a run keeps its bank files (the default run keeps them in ``OUT`` itself)."""
    path = OUT if label == "month" else OUT / label
    path.mkdir(parents=True, exist_ok=True)
    return path


def copy_store(dialect: str, source: str, label: str) -> str:
    """A fresh store for ``label`` that starts as a copy of the kept store of ``source``."""
    url = fresh_store(dialect, label)
    if dialect == "sqlite":
        shutil.copyfile(OUT / f"{source}.db", url)
    else:
        drop_store(url)
        name, template = url.rsplit("/", 1)[1], f"aidl_bench_{source}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    src, dst = out_dir(source), out_dir(label)
    for f in src.glob("*.xml"):
        if src != dst:
            shutil.copyfile(f, dst / f.name)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_500_000)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--stages", help=f"comma-separated stages to run, in this order: {','.join(STAGES)}"
    )
    parser.add_argument("--label", default="month", help="database and output folder name")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--from", dest="source", help="start from a copy of a kept --label")
    parser.add_argument("--profile", action="store_true", help="cProfile each stage")
    parser.add_argument(
        "--store", choices=("postgresql", "sqlite"), default="postgresql", help="kind of store"
    )
    parser.add_argument(
        "--sealed",
        action="store_true",
        help="a store with a cipher key: events encrypted, read models' personal data sealed",
    )
    parser.add_argument("--cipher-key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        global CIPHER_KEY
        CIPHER_KEY = args.cipher_key
        out = out_dir(args.label)
        print(json.dumps(stage(args.stage, args.url, args.cases, out, args.profile)))
        return
    chosen = STAGES if not args.stages else tuple(args.stages.split(","))
    unknown = set(chosen) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages: {', '.join(sorted(unknown))}")
    files(args.cases)
    if args.sealed and args.source:
        parser.error("--sealed makes a new store: it does not take --from (the key is new)")
    key = None
    if args.sealed:
        from eventsourcing.cipher import AESCipher

        key = AESCipher.create_key(32)
    if args.source:
        url = copy_store(args.store, args.source, args.label)
    else:
        url = fresh_store(args.store, args.label)
    results = {}
    try:
        for name in chosen:
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--stage",
                    name,
                    "--url",
                    url,
                    "--cases",
                    str(args.cases),
                    "--label",
                    args.label,
                    *(["--profile"] if args.profile else []),
                    *(["--cipher-key", key] if key else []),
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                sys.exit(f"stage {name} failed:\n{proc.stderr[-3000:]}")
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(name, results[name], flush=True)
    finally:
        if not args.keep:
            drop_store(url)
    if set(chosen) != set(STAGES):
        return  # the table needs every stage
    r = results

    def rate(stage: str) -> float:
        return float(r[stage]["items"]) / float(r[stage]["seconds"])

    log = r["log_read"]
    decode_rate = float(log["items"]) / float(log["decoded_seconds"])
    lines = [
        f"Run {today()} at commit {git_revision()} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/payout_month.py --cases {args.cases}` "
        "(PostgreSQL; each stage a separate process).",
        "",
        "| stage | items | seconds | items/s | peak RSS MiB |",
        "|---|---|---|---|---|",
    ]
    for name in (
        "import",
        "prepare",
        "approve",
        "export",
        "bank_import",
        "reconcile",
        "review_scan",
        "rebuild",
    ):
        lines.append(
            f"| {name} | {int(r[name]['items']):,} | {float(r[name]['seconds']):.1f} | "
            f"{rate(name):,.0f} | {float(r[name]['rss']):.0f} |"
        )
    lines += [
        "",
        f"References in the same database: raw `COPY` of the case rows {rate('raw_copy'):,.0f} "
        f"rows/s (import is {rate('import') / rate('raw_copy'):.2f} of it); reading the "
        f"notification log {rate('log_read'):,.0f} events/s raw and {decode_rate:,.0f} events/s "
        f"decoded (projection rebuild is {rate('rebuild') / rate('log_read'):.2f} of the raw "
        f"read, {rate('rebuild') / decode_rate:.2f} of the decoded read).",
        f"Import phases (s): {r['import']['phases']}.",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write and not args.sealed:  # the section is the keyless store's
        write_section("Payout month", table)


if __name__ == "__main__":
    main()
