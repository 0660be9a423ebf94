"""`aidledger demo`: the whole story on a fresh SQLite store, as README shows it."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from aidledger.cli import app
from aidledger.settings import Settings
from aidledger.wiring import open_services
from ledger import chain


def test_demo_runs_a_month_end_to_end_and_finds_the_planted_frauds(tmp_path: Path) -> None:
    store = tmp_path / "demo.db"
    result = CliRunner().invoke(app, ["demo", "--keep", str(store)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "approval by the preparer refused" in out
    assert "approval of the stale run refused" in out and "prepared again: 1 payment changed" in out
    assert re.search(r"release by S0010, whose own card .* refused: .*interest", out)
    assert "payouts 2026-12 by program and department" in out
    assert "reconciled again: 0 new findings" in out
    for planted in ("paid_after_death", "staff_account", "shared_account", "duplicate_beneficiary"):
        assert re.search(rf"{planted}\s.*\s[1-9]\d*\s", out), planted
    assert "chain intact" in out
    # Reviews fall due on their anniversaries from the day the county began them; one recorded.
    (due, left) = re.findall(r"counted from 2026-11-01: (\d+) cases due by 2026-11-23", out) + (
        re.findall(r"1 review recorded\); (\d+) still due", out)
    )
    assert int(due) > 0 and int(left) == int(due) - 1
    (all_row,) = re.findall(r"│ all +│ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │", out)
    start, opened, reinstated, terminated, _, end = map(int, all_row)
    assert start + opened + reinstated - terminated == end and terminated >= 10
    # The decision chain: the approver records their own approvals, a new case waits for its.
    assert "the approvals imported by S0002 refused: line 2, column staff_id" in out
    assert re.search(r"still in its notice refused: .*needs an approved application", out)
    assert re.search(r"SQ6101020002: noticed .*, objection upheld, .* approved 2026-11-20", out)
    # Households and a comparison: a member's deposit above the limit holds the case in December.
    assert re.search(r"households: \d+ rows, \d+ new", out)
    (held_case,) = re.findall(
        r"new findings: assets_over_limit 1 \((C\d+): a member's deposit", out
    )
    (mismatched,) = re.findall(r"(C\d+): household_size (\d+), (\d+) members in effect", out)
    assert int(mismatched[2]) == int(mismatched[1]) + 1
    assert re.search(r"reconciled 2026-12 .*new: .*household_size_mismatch 1", out)
    # The kept store is a real one: its findings and chain are what the demo printed.
    svc = open_services(Settings(database_url=str(store)))
    try:
        assert chain.verify(svc.db).ok
        open_types = {t for (t,) in svc.db.query("SELECT DISTINCT type FROM findings")}
        assert {"paid_after_death", "staff_account", "unknown_payment"} <= open_types
        paid = svc.db.query(
            "SELECT COUNT(*) FROM payments p JOIN applications a ON a.case_id = p.case_id "
            "WHERE a.status = 'approved' AND p.period = '2026-12'"
        )
        assert paid == [(2,)], "from application to payment"
        (held,) = svc.db.query(
            "SELECT held FROM payments WHERE case_id = ? AND period = '2026-12' "
            "AND kind = 'regular' AND cancelled = 0",
            (held_case,),
        )
        assert "assets_over_limit" in held[0]
        (member,) = svc.db.query(
            "SELECT COUNT(*) FROM household_members m JOIN cases c ON c.id_number = "
            "m.member_id_number AND c.case_id <> m.case_id AND c.program = 'dibao'"
        )
        assert member == (1,), "one person in two 低保 households"
        found = svc.db.query(
            "SELECT case_id, detail FROM findings WHERE type = 'household_size_mismatch'"
        )
        assert [f[0] for f in found] == [mismatched[0]], found
    finally:
        svc.close()


def test_the_demo_prints_logins_that_open_its_kept_store_in_the_console(tmp_path: Path) -> None:
    """The printed staff ids, password and TOTP recipe log in to the console of the kept
    store (`aidledger --db demo.db serve`)."""
    import warnings

    import pyotp

    from aidledger.web import in_process_app

    store = tmp_path / "demo.db"
    result = CliRunner().invoke(app, ["demo", "--keep", str(store)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"console: aidledger --db {store} serve" in result.output
    logins = dict(re.findall(r"^  (S\d{4}) .*?\(([a-z ]+)\)", result.output, flags=re.M))
    assert logins["S0004"] == "finance" and logins["S0005"] == "finance approver"
    (secret,) = re.findall(r"S0005 .*TOTP\('([A-Z2-7]+)'\)", result.output)
    (password,) = re.findall(r"with password (\S+) as:", result.output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    web, pool = in_process_app(Settings(database_url=str(store)))
    try:
        client = TestClient(web)
        body = {"staff_id": "S0005", "password": password, "totp": pyotp.TOTP(secret).now()}
        assert client.post("/api/v1/login", json=body).status_code == 200
        assert client.get("/api/v1/runs").json()[0]["run_id"] == "R202612-all-1"
        other = TestClient(web)
        assert (
            other.post(
                "/api/v1/login", json={"staff_id": "S0007", "password": password}
            ).status_code
            == 200
        )
    finally:
        pool.close()


def test_demo_serve_opens_the_console_on_the_demos_store_with_its_logins(tmp_path: Path) -> None:
    """``demo --serve``: the demo, its logins printed, then the console on its store (a
    demo login works there), until stopped."""
    import signal

    import httpx

    from aidledger.demo import DEMO_PASSWORD
    from tests.builders import cli_process

    process = cli_process(str(tmp_path / "unused.db"), "demo", "--serve", "--port", "0")
    try:
        said = b""
        assert process.stderr is not None
        while b"serving http" not in said:
            line = process.stderr.readline()
            assert line, f"the demo stopped: {said.decode()[-2000:]}"
            said += line
        url = re.search(rb"serving (http://[0-9.:]+)/", said)
        assert url is not None
        base = url.group(1).decode()
        assert httpx.get(f"{base}/login").status_code == 200
        login = httpx.post(
            f"{base}/api/v1/login", json={"staff_id": "S0002", "password": DEMO_PASSWORD}
        )
        assert login.status_code == 200, login.text
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert f"log in with password {DEMO_PASSWORD}" in out.decode()
    assert not (tmp_path / "unused.db").exists(), "the demo's store is its own"
