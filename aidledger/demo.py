"""`aidledger demo`: a small realistic county in a fresh store, run end to end."""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from aidledger.settings import Settings
from aidledger.synthetic import (
    ADMIN,
    APPROVER,
    AUDITOR,
    CASEWORKER,
    DEATH_COLUMNS,
    FINANCE,
    FINANCE_APPROVER,
    FINANCE_APPROVER_2,
    GRANT_COLUMNS,
    STAFF_COLUMNS,
    STEP_FILE_COLUMNS,
    SUPERVISOR,
    SUPERVISOR_2,
    County,
    generate_applications,
    generate_county,
    write_csv,
)
from aidledger.wiring import Services, init_store, open_services
from ledger import chain
from ledger.case import CASE_COLUMNS, case_aggregate_id
from ledger.errors import AidLedgerError, InputRefused
from ledger.history import case_history
from ledger.money import format_fen, parse_fen
from ledger.period import Period
from projections.reports import payouts_report
from reconciliation.banksim import Anomalies, camt054, pain002, read_pain001

DEMO_CASES = 3000
TODAY = date(2026, 11, 23)
#: The day the county began its periodic reviews in the ledger: each case taken over falls due
#: on its first anniversary from then on (overdue 90 days later).
REVIEWS_FROM = date(2026, 11, 1)


def run_demo(out: Console, *, keep: Path | None = None) -> None:
    """Generate a county, import it, record a month of decisions, and show an audit trail."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aidledger-demo-") as tmp:
        work = Path(tmp)
        store = keep or work / "demo.db"
        if keep is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{keep}{suffix}").unlink(missing_ok=True)
        county = generate_county(cases=DEMO_CASES, seed=7)
        files = _write_inputs(county, work)
        svc = init_store(Settings(database_url=str(store), today=TODAY))
        try:
            out.print(
                f"[bold]aidledger demo[/bold]: county 610102, {DEMO_CASES} cases, "
                f"{len(county.staff)} staff, store {store}"
            )
            _import(svc, out, "staff", files["staff"], by=ADMIN)
            _import(svc, out, "cases", files["cases"], by=CASEWORKER)
            _import(svc, out, "deaths", files["deaths"], by=CASEWORKER)
            _import(svc, out, "grants", files["grants"], by=CASEWORKER)
            svc = _decision_chain(svc, out, work)
            out.print("re-importing the same cases file:")
            _import(svc, out, "cases", files["cases"], by=CASEWORKER)
            changes, changed_case = _monthly_changes(county, work)
            out.print("this month's decisions (raises, account changes, terminations):")
            _import(svc, out, "cases", changes, by=CASEWORKER)
            _print_registers(svc, out)
            _print_history(svc, out, changed_case)
            _reviews(svc, out, county, work)
            _movements(svc, out)
            _households_and_comparison(svc, out, county, work)
            _run_month(svc, out, county, work)
            if keep is not None:
                _logins(svc, out, keep)
            else:
                out.print("to open it in the console: aidledger demo --keep demo.db")
        finally:
            svc.close()
    out.print(f"done in {time.perf_counter() - started:.1f} s")


#: The demo's logins: one known password for all (a demo store only, never a real one).
DEMO_PASSWORD = "aidledger-demo"
DEMO_LOGINS = (
    (ADMIN, "admin"),
    (CASEWORKER, "caseworker"),
    (FINANCE, "finance"),
    (FINANCE_APPROVER, "finance approver"),
    (SUPERVISOR, "supervisor"),
    (AUDITOR, "auditor"),
    (FINANCE_APPROVER_2, "finance approver"),
)


def _logins(svc: Services, out: Console, store: Path) -> None:
    """Passwords (and TOTP where the role needs one) for a few staff, so a reader can open
    the kept store in the console; printed, with how to get a TOTP code."""
    from urllib.parse import parse_qs, urlsplit

    from ledger.logins import totp_required

    directory = svc.logins.directory()
    secrets: dict[str, str] = {}
    # The store's first admin sets their own login (no other admin can log in yet).
    for staff_id, _ in DEMO_LOGINS:
        if totp_required(directory.actor(staff_id, svc.today).roles):
            uri = svc.logins.enrol_totp(staff_id, by=ADMIN)
            secrets[staff_id] = parse_qs(urlsplit(uri).query)["secret"][0]
        svc.logins.set_password(staff_id, DEMO_PASSWORD, temporary=False, by=ADMIN)
    out.print(
        f"console: aidledger --db {store} serve, then open http://127.0.0.1:9108/ and log in "
        f"with password {DEMO_PASSWORD} as:"
    )
    for staff_id, role in DEMO_LOGINS:
        name = directory.name_of(staff_id) or ""
        code = (
            f"; TOTP code: python -c \"import pyotp; print(pyotp.TOTP('{secrets[staff_id]}')"
            '.now())"'
            if staff_id in secrets
            else ""
        )
        out.print(f"  {staff_id} {name} ({role}){code}", markup=False, highlight=False)


def _write_inputs(county: County, work: Path) -> dict[str, Path]:
    files = {
        "staff": work / "staff.csv",
        "cases": work / "cases.csv",
        "deaths": work / "deaths.csv",
        "grants": work / "grants.csv",
    }
    write_csv(files["staff"], county.staff, STAFF_COLUMNS)
    # Bureaus often export GBK/GB18030 from older systems: the import detects it.
    write_csv(files["cases"], county.cases, CASE_COLUMNS, encoding="gb18030")
    write_csv(files["deaths"], county.deaths, DEATH_COLUMNS)
    write_csv(files["grants"], county.grants, GRANT_COLUMNS)
    return files


def _import(svc: Services, out: Console, kind: str, path: Path, *, by: str) -> None:
    s = svc.importer.import_file(kind, path, by=by, today=TODAY)  # type: ignore[arg-type]
    if s.already_imported:
        out.print(f"  {kind}: {path.name} already imported; nothing recorded")
    else:
        out.print(
            f"  {kind}: {s.rows} rows, {s.new} new, {s.changed} changed, "
            f"{s.unchanged} unchanged; {s.events} events recorded"
        )


def _decision_chain(svc: Services, out: Console, work: Path) -> Services:
    """阳光: new cases from 2026-12-01 need an approved application. Three applications (one
    sent back by an upheld objection, one still in its notice); the caseworker's file, the
    approver's own, and the cases of those approved. Returns the services reopened under the
    config that requires it."""
    from eligibility.applications import Steps
    from eligibility.notices import pre_approval_notice
    from ledger.applications import STEP_COLUMNS
    from ledger.programs import read_config_text, shipped_config_path

    effective = date(2026, 12, 1)
    config = work / "programs-chain.toml"
    text = read_config_text(shipped_config_path())
    config.write_text(
        f'{text}\n[chain]\nrequired_from = "{effective}"\n'
        f'\n[reviews]\nfrom = "{REVIEWS_FROM}"\nreview_grace_days = 90\n',
        encoding="utf-8",
    )
    svc.configs.apply(config, effective_from=TODAY, by=ADMIN)
    settings = svc.settings
    svc.close()
    svc = open_services(settings)
    apps = generate_applications(today=TODAY, effective=effective)
    files = {name: work / f"{name}.csv" for name in ("steps", "approvals", "new-cases")}
    write_csv(files["steps"], apps.steps, STEP_FILE_COLUMNS)
    write_csv(files["approvals"], apps.approvals, STEP_COLUMNS)
    steps = svc.service(Steps)
    out.print(f"the decision chain (阳光): new cases from {effective} need an approved application")
    s = steps.import_file(files["steps"], by=CASEWORKER)
    out.print(f"  steps: {s.rows} rows of 3 applications recorded by {CASEWORKER} (caseworker)")
    _refused(
        out,
        f"the approvals imported by {CASEWORKER}",
        lambda: steps.import_file(files["approvals"], by=CASEWORKER),
    )
    s = steps.import_file(files["approvals"], by=APPROVER)
    out.print(f"  approvals: {s.new} recorded by {APPROVER} (approver), their own")
    write_csv(files["new-cases"], apps.cases, CASE_COLUMNS)
    _refused(
        out,
        "a new case whose application is still in its notice",
        lambda: svc.importer.import_file("cases", files["new-cases"], by=CASEWORKER, today=TODAY),
    )
    write_csv(files["new-cases"], apps.cases[:-1], CASE_COLUMNS)
    _import(svc, out, "cases", files["new-cases"], by=CASEWORKER)
    ((first, again, approved),) = svc.db.query(
        "SELECT MIN(taken_on), MAX(taken_on), "
        "(SELECT approved_on FROM applications WHERE application_id = ?) FROM application_steps "
        "WHERE application_id = ? AND step = 'notice'",
        (apps.objected, apps.objected),
    )
    out.print(
        f"  {apps.objected}: noticed {first}, objection upheld, reviewed and noticed again "
        f"{again}, approved {approved}"
    )
    notice = pre_approval_notice(svc.db, svc.config, "610102", TODAY)
    listed = ", ".join(
        f"{r['application_id']} {r['name']} to {r['notice_to']}" for r in notice.rows
    )
    out.print(f"  in their notice before approval on {TODAY}: {listed}")
    return svc


def _monthly_changes(county: County, work: Path) -> tuple[Path, str]:
    """A batch of decisions on existing cases, as a bureau's monthly file would carry."""
    open_cases = [c for c in county.cases if not c["effective_to"] and c["program"] == "dibao"]
    rows = []
    first_of_month = date(2026, 12, 1).isoformat()
    for i, case in enumerate(open_cases[:40]):
        row = dict(case)
        if i % 4 == 0:  # standard raised: 30 yuan more a month from December
            row["monthly_amount"] = format_fen(parse_fen(row["monthly_amount"]) + 3000)
            row["effective_from"] = first_of_month
        elif i % 4 == 1:  # new bank card
            row["bank_account"] = "6230" + row["bank_account"][4:]
            row["effective_from"] = first_of_month
        elif i % 4 == 2:  # income rose: ends this month (应退尽退)
            row["effective_to"] = (date(2026, 12, 1) - timedelta(days=1)).isoformat()
        rows.append(row)
    path = work / "decisions-2026-12.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CASE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path, rows[0]["case_id"]


def _reviews(svc: Services, out: Console, county: County, work: Path) -> None:
    """Reviews falling due in the county since it began reviewing here, and one recorded."""
    from eligibility.reviewing import Reviews
    from ledger.review import REVIEW_COLUMNS

    reviews = svc.service(Reviews)
    due = reviews.due(TODAY)
    out.print(
        f"periodic reviews (定期核查) counted from {REVIEWS_FROM}: {len(due)} cases due by "
        f"{TODAY}, each on its anniversary (`aidledger reviews due`)"
    )
    planted = {c for ids in county.seeded.values() for c in ids}
    approvers = dict(svc.db.query("SELECT case_id, approved_by FROM cases"))
    case_id = next(
        d.case_id
        for d in due
        if d.case_id not in planted and approvers.get(d.case_id) != CASEWORKER
    )
    path = work / "reviews-2026-11.csv"
    write_csv(
        path,
        [
            dict(
                zip(
                    REVIEW_COLUMNS,
                    (case_id, str(TODAY), CASEWORKER, "continue", "", "", "6"),
                    strict=True,
                )
            )
        ],
        REVIEW_COLUMNS,
    )
    s = reviews.import_file(path, by=CASEWORKER)
    after = reviews.due(TODAY)
    out.print(
        f"  {case_id} reviewed on {TODAY} by {CASEWORKER}: continue, next in 6 months "
        f"({s.new} review recorded); {len(after)} still due"
    )


def _movements(svc: Services, out: Console) -> None:
    """How the month's decisions move the caseload (增减变动), by program."""
    from eligibility.caseload import Caseload

    period = Period.parse("2026-11")
    rows = svc.service(Caseload).movements(period, ["program"], as_known_now=True)
    fields = ("start", "opened", "reinstated", "terminated", "amount_changed", "end")
    table = Table(title=f"movements {period} by program (增减变动; from 11-01 to 12-01)")
    table.add_column("program")
    for f in fields:
        table.add_column(f, justify="right")
    for r in rows:
        table.add_row(r["program"], *(str(r[f]) for f in fields))
    out.print(table)


def _households_and_comparison(svc: Services, out: Console, county: County, work: Path) -> None:
    """Three 低保 households' members, one of them also holding another 低保 case, one with a
    child born since its decision (one member more than its household_size: reconcile raises
    household_size_mismatch), and a bank's deposit record of one member above the limit:
    compare finds it and December holds it."""
    from eligibility.comparison_import import ComparisonImporter
    from eligibility.comparisons import Comparisons
    from ledger.comparison_terms import COMPARISON_COLUMNS
    from ledger.household import HOUSEHOLD_COLUMNS
    from ledger.ids import id_check_char

    planted = {c for ids in county.seeded.values() for c in ids}
    opened = svc.db.sealer.open
    dibao = [
        (case_id, opened(idn), int(size))
        for case_id, idn, size in svc.db.query(
            "SELECT case_id, id_number, household_size FROM cases WHERE program = 'dibao' "
            "AND effective_to IS NULL AND household_size >= 2 ORDER BY case_id"
        )
        if case_id not in planted
    ]
    taken = {opened(r[0]) for r in svc.db.query("SELECT id_number FROM cases")}
    (first, holder1, size1), (second, _, size2), (other, other_holder, _) = dibao[:3]
    third, holder3, size3 = dibao[3]

    def member_id(n: int) -> str:
        first17 = f"61010219{80 + n:02d}0101{901 + n:03d}"
        return first17 + id_check_char(first17)

    def kin_id(n: int) -> str:
        first17 = f"61010220{n:02d}0303{860 + n:03d}"
        return first17 + id_check_char(first17)

    rows = [(first, holder1, "户主", "head")]
    rows += [(first, member_id(i), f"家庭成员{i}", "child") for i in range(1, size1)]
    rows += [
        (
            second,
            opened(svc.db.query("SELECT id_number FROM cases WHERE case_id = ?", (second,))[0][0]),
            "户主",
            "head",
        )
    ]
    # The other case's holder registered as a spouse here too: one person in two 低保 households.
    rows += [(second, other_holder, "配偶", "spouse")]
    rows += [(second, member_id(i), f"子女{i}", "child") for i in range(10, 8 + size2)]
    # A third household, whose members were registered with a child born in September: one
    # more member in effect than the case's household_size (household_size_mismatch).
    rows += [(third, holder3, "户主", "head")]
    rows += [(third, kin_id(k), f"成员{k}", "child") for k in range(1, size3)]
    newborn_first17 = "61010220260915851"
    newborn = (third, newborn_first17 + id_check_char(newborn_first17), "新生儿", "child")
    if any(r[1] in taken and r[3] == "child" for r in [*rows, newborn]):
        raise RuntimeError("a generated member id number is already a holder's")
    path = work / "households.csv"
    write_csv(
        path,
        [
            dict(zip(HOUSEHOLD_COLUMNS, (c, idn, name, rel, since, ""), strict=True))
            for (c, idn, name, rel), since in [
                *((r, "2024-01-01") for r in rows),
                (newborn, "2026-09-15"),
            ]
        ],
        HOUSEHOLD_COLUMNS,
    )
    out.print("households (家庭成员) and data comparison (核对):")
    _import(svc, out, "households", path, by=CASEWORKER)
    out.print(
        f"  {third}: household_size {size3}, {size3 + 1} members in effect from 2026-09-15 "
        "(a child born): reconcile raises household_size_mismatch (a finding, not a refusal)"
    )
    deposits = work / "deposits-bank.csv"
    write_csv(
        deposits,
        [
            dict(
                zip(
                    COMPARISON_COLUMNS,
                    (member_id(1), "DEP-0001", "2026-11-20", "86000.00", "定期存款"),
                    strict=True,
                )
            )
        ],
        COMPARISON_COLUMNS,
    )
    s = svc.service(ComparisonImporter).import_comparison(
        deposits, source="deposit", by=CASEWORKER, today=TODAY
    )
    out.print(f"  comparison (deposit): {s.rows} record(s) from the banks; {s.events} events")
    r = svc.service(Comparisons).compare(Period.parse("2026-12"), as_of=TODAY, by=CASEWORKER)
    raised = ", ".join(f"{k} {v}" for k, v in sorted(r.raised.items())) or "none"
    out.print(
        f"  compare 2026-12 as of {r.as_of}: {r.cases} case(s) with records; new findings: "
        f"{raised} ({first}: a member's deposit above dibao's limit; it holds December's "
        f"payment); {other}'s holder registered in {second}'s household too"
    )


def _run_month(svc: Services, out: Console, county: County, work: Path) -> None:
    """November paid; December prepared, found stale after a late decision and brought up to
    date, a self-interested release refused, approved by a second person, exported."""
    period = Period.parse("2026-12")
    first = svc.payouts.prepare(period.previous(), program=None, by=FINANCE)
    nov = svc.payouts.approve(first.run_id or "", by=FINANCE_APPROVER)
    svc.payouts.export(first.run_id or "", fmt="pain001", out=work / "nov.xml", by=FINANCE)
    out.print(
        f"November run {first.run_id}: {first.payments} payments, {format_fen(first.amount)} "
        f"({nov.held.payments} held), approved by {FINANCE_APPROVER} and exported"
    )
    grant = _new_grant(svc, county, work)
    result = svc.payouts.prepare(period, program=None, by=FINANCE)
    run_id = result.run_id or ""
    out.print(
        f"December run {run_id} prepared by {FINANCE} (finance): {result.payments} payments, "
        f"{format_fen(result.amount)}; {result.held} held by pre-payment checks; "
        f"{result.recoveries} recoveries ({format_fen(result.recovery_amount)} to recover)"
    )
    _print_grant(svc, out, grant, len(county.grants))
    _refused(out, "approval by the preparer", lambda: svc.payouts.approve(run_id, by=FINANCE))
    late = _late_decision(county, work)
    svc.importer.import_file("cases", late, by=CASEWORKER, today=TODAY)
    out.print(f"  a late decision recorded after the run was prepared ({late.name})")
    _refused(
        out, "approval of the stale run", lambda: svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    )
    again = svc.payouts.prepare(period, program=None, by=FINANCE)
    out.print(
        f"  prepared again: {again.amended} payment changed, {again.added} added, "
        f"{again.cancelled} removed; the run is up to date"
    )
    held = _held_payment_of(svc, county.seeded["staff_account"][0])
    if held is not None:
        _refused(
            out,
            f"release by {SUPERVISOR_2}, whose own card the held payment goes to",
            lambda: svc.payouts.release(held, by=SUPERVISOR_2, reason="known family, fine"),
        )
    approval = svc.payouts.approve(run_id, by=FINANCE_APPROVER)
    total = approval.payable.payments + approval.held.payments
    out.print(
        f"  approved by {FINANCE_APPROVER} (finance approver): {total} payments: "
        f"{approval.payable.payments} payable, {format_fen(approval.payable.amount)}; "
        f"{approval.held.payments} held"
    )
    bank_file = work / f"{run_id}.xml"
    x = svc.payouts.export(run_id, fmt="pain001", out=bank_file, by=FINANCE)
    out.print(
        f"  pain.001 written: {x.payments} payments, {format_fen(x.amount)} "
        "(checked against the approval in the event log)"
    )
    rows = payouts_report(svc.db, str(period), ["program", "department"])
    table = Table(title=f"payouts {period} by program and department (approved runs)")
    for col in ("program", "department", "cases", "payments", "amount"):
        table.add_column(col, justify="right" if col in ("cases", "payments", "amount") else "left")
    for r in rows:
        table.add_row(
            r["program"], r["department"], str(r["cases"]), str(r["payments"]), r["amount"]
        )
    out.print(table)
    _bank_returns(svc, out, work, bank_file)
    findings = svc.db.query(
        "SELECT type, severity, COUNT(*), SUM(amount) FROM findings WHERE period = ? "
        "GROUP BY type, severity ORDER BY type",
        (str(period),),
    )
    table = Table(title=f"findings {period}: pre-payment holds and reconciliation")
    for col in ("type", "severity", "findings", "amount"):
        table.add_column(col, justify="right" if col in ("findings", "amount") else "left")
    for t, sev, n_found, total_amount in findings:
        table.add_row(t, sev, str(n_found), format_fen(int(total_amount or 0)))
    out.print(table)
    planted = {k: len(v) for k, v in county.seeded.items()}
    out.print(f"planted in the generated county: {planted}")
    verdict = chain.verify(svc.db)
    out.print(
        f"tamper-evident log: {verdict.events} events, chain "
        f"{'intact' if verdict.ok else 'BROKEN: ' + str(verdict.problem)}; head {verdict.head}"
    )


def _refused(out: Console, what: str, act: Callable[[], object]) -> None:
    """Try something the duties forbid, and show the refusal."""
    try:
        act()
    except InputRefused as e:
        out.print(f"  {what} refused: {e.problems[0] if e.problems else e}", markup=False)
        return
    except AidLedgerError as e:
        out.print(f"  {what} refused: {e}")
        return
    raise AssertionError(f"the demo expected {what} to be refused")


def _late_decision(county: County, work: Path) -> Path:
    """One more decision, recorded after December's run was prepared: a raise from December."""
    case = next(
        c
        for c in county.cases
        if c["program"] == "dibao"
        and not c["effective_to"]
        and c["effective_from"] < "2026-06"
        and c["case_id"] not in {x for v in county.seeded.values() for x in v}
    )
    row = dict(case)
    row["monthly_amount"] = format_fen(parse_fen(row["monthly_amount"]) + 5000)
    row["effective_from"] = "2026-12-01"
    path = work / "late-decision-2026-12.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CASE_COLUMNS)
        writer.writeheader()
        writer.writerow(row)
    return path


def _new_grant(svc: Services, county: County, work: Path) -> dict[str, str]:
    """One-off relief (临时救助) granted after November's run: a 低保 household's house burned."""
    case = next(
        c
        for c in county.cases
        if c["program"] == "dibao"
        and not c["effective_to"]
        and c["case_id"] not in {x for v in county.seeded.values() for x in v}
    )
    grant = {
        "grant_id": f"G{case['case_id'][1:7]}-{TODAY:%Y%m%d}-1",
        "program": "temporary",
        **{k: case[k] for k in ("region_code", "name", "id_number", "household_size")},
        "amount": "2000.00",
        "decided_on": TODAY.isoformat(),
        "reason": "房屋失火",
        **{k: case[k] for k in ("bank_account", "account_name")},
        "decided_by": CASEWORKER,
        "approved_by": APPROVER,
    }
    path = work / f"grants-{TODAY.isoformat()}.csv"
    write_csv(path, [grant], GRANT_COLUMNS)
    svc.importer.import_file("grants", path, by=CASEWORKER, today=TODAY)
    return grant


def _print_grant(svc: Services, out: Console, grant: dict[str, str], history: int) -> None:
    rows = svc.db.query(
        "SELECT payment_id, run_id, period, amount FROM payments WHERE case_id = ? "
        "AND kind = 'one_off' AND cancelled = 0",
        (grant["grant_id"],),
    )
    for pid, run_id, period, amount in rows:
        out.print(
            f"  one-off relief (临时救助): grant {grant['grant_id']} of {grant['decided_on']} "
            f"({grant['reason']}) paid once in {run_id}: payment {pid}, one_off, "
            f"{format_fen(int(amount))} for {period}"
        )
    out.print(
        f"  the county's {history} earlier grants were decided before temporary's first "
        "approved run: the system before paid them; they count for repeats (temporary_repeat)"
    )


def _held_payment_of(svc: Services, case_id: str) -> str | None:
    rows = svc.db.query(
        "SELECT payment_id FROM payments WHERE case_id = ? AND held <> '' AND cancelled = 0 "
        "ORDER BY period DESC LIMIT 1",
        (case_id,),
    )
    return str(rows[0][0]) if rows else None


def _bank_returns(svc: Services, out: Console, work: Path, bank_file: Path) -> None:
    """A simulated bank answers the pain.001 with a few realistic mistakes; reconcile."""
    payments = read_pain001(bank_file.read_bytes())
    e = [p.end_to_end_id for p in payments]
    anomalies = Anomalies(
        amount={e[0]: "1.00"},  # the bank executed a wrong amount
        account={e[1]: "6217000000000009999"},  # credited another account
        returned={e[2]: "AC04", e[3]: "AC01"},  # closed account, no such account
        rejected={e[4]: "AC06"},  # frozen account
        late_days={e[5]: 4},
        twice={e[6]},  # executed twice
        missing={e[7], e[8]},  # no result at all
        unknown=[("202612R1XXXXXXXXXXXXXXXXXXXX", "888.00", date(2026, 12, 10))],
    )
    (work / "status.xml").write_bytes(pain002(payments, anomalies))
    (work / "booked.xml").write_bytes(camt054(payments, anomalies))
    for name in ("status.xml", "booked.xml"):
        s = svc.bank.import_file(work / name, by=FINANCE, today=TODAY)
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.by_kind.items()))
        out.print(
            f"  bank file {name} ({s.kind}): {s.entries} entries, {s.matched} matched "
            f"({kinds}), {s.unmatched} unmatched"
        )
    result = svc.reconciliation.reconcile(
        Period.parse("2026-12"), as_of=date(2027, 1, 31), by=FINANCE
    )
    raised = ", ".join(f"{t} {n}" for t, n in sorted(result.raised.items()))
    out.print(f"  reconciled 2026-12 as of 2027-01-31: {result.payments} payments; new: {raised}")
    again = svc.reconciliation.reconcile(
        Period.parse("2026-12"), as_of=date(2027, 1, 31), by=FINANCE
    )
    out.print(f"  reconciled again: {sum(again.raised.values())} new findings")


def _print_registers(svc: Services, out: Console) -> None:
    table = Table(title="cases in effect on 2026-12-01 by program (from the read models)")
    for col in ("program", "department", "cases", "monthly amount"):
        table.add_column(col, justify="right" if col in ("cases", "monthly amount") else "left")
    rows = svc.db.query(
        "SELECT program, COUNT(*), SUM(monthly_amount) FROM cases "
        "WHERE start_date <= ? AND (effective_to IS NULL OR effective_to >= ?) "
        "GROUP BY program ORDER BY program",
        (date(2026, 12, 1), date(2026, 12, 1)),
    )
    for program, n, total in rows:
        table.add_row(
            program, svc.config.programs[program].department, str(n), format_fen(int(total))
        )
    out.print(table)


def _print_history(svc: Services, out: Console, case_id: str) -> None:
    events = list(svc.app.events.get(case_aggregate_id(case_id)))
    for day in (date(2026, 11, 15), date(2026, 12, 15)):
        doc = case_history(case_id, events, day)  # type: ignore[arg-type]
        state = doc["state"]
        amount = state["monthly_amount"] if state else "not in effect"
        out.print(f"case {case_id} as of {day}: monthly amount {amount}")
    out.print(f"case {case_id} history (`aidledger case history {case_id}` shows it in full):")
    for e in doc["events"]:
        out.print(
            f"  v{e['version']} {e['type']} by {e['by']} recorded {e['recorded_at'][:19]}Z "
            f"effective {e['effective_from']}"
            + (f" amount {e['monthly_amount']}" if "monthly_amount" in e else "")
        )
