"""Confidentiality at rest: with a cipher key no table holds a name, id number or account in
clear, and a month gives the same findings and payments as without one. Both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cipher import AESCipher

from aidledger.settings import Settings
from aidledger.synthetic import CASE_COLUMNS, STAFF_COLUMNS, generate_county, write_csv
from aidledger.wiring import Services, init_store, open_services
from ledger.comparison_terms import COMPARISON_COLUMNS
from ledger.ids import id_check_char
from ledger.period import Period
from reconciliation.banksim import Anomalies, camt054, pain002, read_pain001
from reconciliation.service import list_findings
from tests.builders import as_stored, every_table_as_text, write_file
from tests.conftest import FIXTURES, TEST_TODAY

PERIOD = "2026-06"
AS_OF = date(2026, 7, 31)
#: Values planted in one case, appearing nowhere else.
NAME = "王测试甲乙"
ID_17 = "61010219770707123"
ID_NUMBER = ID_17 + id_check_char(ID_17)
ACCOUNT = "6299887766554433221"


def _month(svc: Services, tmp_path: Path) -> list[dict[str, Any]]:
    """A county with planted frauds and one planted person: staff and cases imported, a death
    reported, June prepared, approved, exported, answered by the bank, reconciled."""
    county = generate_county(cases=60, seed=5, frauds=True)
    planted = dict(county.cases[2])  # in effect, no fraud planted in it
    planted.update(
        case_id="C610102999999", name=NAME, account_name=NAME, id_number=ID_NUMBER,
        bank_account=ACCOUNT,
    )  # fmt: skip
    write_csv(tmp_path / "staff.csv", county.staff, STAFF_COLUMNS)
    write_csv(tmp_path / "cases.csv", [*county.cases, planted], CASE_COLUMNS)
    svc.importer.import_file("staff", tmp_path / "staff.csv", by="S0001", today=AS_OF)
    svc.importer.import_file("cases", tmp_path / "cases.csv", by="S0002", today=AS_OF)
    died = county.cases[3]["id_number"]
    (tmp_path / "deaths.csv").write_text(
        f"id_number,date_of_death,source\n{died},2026-01-05,公安\n", encoding="utf-8"
    )
    svc.importer.import_file("deaths", tmp_path / "deaths.csv", by="S0002", today=AS_OF)
    run = svc.payouts.prepare(Period.parse(PERIOD), program=None, by="S0004")
    svc.payouts.approve(run.run_id, by="S0005")
    svc.payouts.export(run.run_id, fmt="pain001", out=tmp_path / "run.xml", by="S0004")
    paid = read_pain001((tmp_path / "run.xml").read_bytes())
    assert any(p.name == NAME and p.account == ACCOUNT for p in paid)  # the bank file: clear
    e2e = sorted(p.end_to_end_id for p in paid)
    odd = Anomalies(account={e2e[3]: "6200000000000000001"}, returned={e2e[4]: "AC04"})
    odd.missing.add(e2e[5])
    (tmp_path / "status.xml").write_bytes(pain002(paid, odd))
    (tmp_path / "booked.xml").write_bytes(camt054(paid, odd))
    svc.bank.import_file(tmp_path / "status.xml", by="S0004", today=AS_OF)
    svc.bank.import_file(tmp_path / "booked.xml", by="S0004", today=AS_OF)
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    return sorted(
        (
            {k: f.get(k) for k in ("type", "case_id", "payment_id", "amount", "detail")}
            for f in list_findings(svc.db, period=PERIOD, status="all")
        ),
        key=lambda f: (f["type"], f["case_id"] or "", f["payment_id"] or ""),
    )


def _planted_in(stored: str) -> list[str]:
    secrets = (NAME, ID_NUMBER, ACCOUNT)
    return [s for s in secrets if s in stored or as_stored(s) in stored]


@pytest.fixture
def keyed(settings: Settings) -> Iterator[Services]:
    svc = init_store(settings.model_copy(update={"cipher_key": AESCipher.create_key(32)}))
    yield svc
    svc.close()


def test_with_a_key_no_table_holds_a_planted_name_id_or_account_and_findings_are_the_same(
    keyed: Services, tmp_path: Path
) -> None:
    (tmp_path / "keyed").mkdir()
    findings = _month(keyed, tmp_path / "keyed")
    assert _planted_in(every_table_as_text(keyed)) == []
    # The same month without a key, in a store of its own: the same findings, to the word.
    (tmp_path / "clear").mkdir()
    clear_settings = keyed.settings.model_copy(
        update={"cipher_key": None, "database_url": str(tmp_path / "clear" / "clear.db")}
    )
    clear = init_store(clear_settings)
    try:
        assert findings == _month(clear, tmp_path / "clear")
        stored = every_table_as_text(clear)
    finally:
        clear.close()
    types = {f["type"] for f in findings}
    assert {"account_mismatch", "missing_result"} <= types
    assert types & {"duplicate_beneficiary", "shared_account", "staff_account"}
    # The scanner finds the planted values where they are in clear.
    assert _planted_in(stored) == [NAME, ID_NUMBER, ACCOUNT]


def test_the_case_history_shows_the_planted_person_in_clear_to_the_caseworker_only(
    keyed: Services, tmp_path: Path
) -> None:
    _month(keyed, tmp_path)
    history = keyed.history
    seen = history.history(
        "C610102999999", as_of=AS_OF, known_at=None, viewer=history.viewer("S0002", channel="cli")
    )
    assert NAME in str(seen) and ID_NUMBER in str(seen)


# -- through the command line: every kind of personal record, and who sees what --------------

#: The command line's month is the fixture store's (staff.csv, cases.csv) with one case more.
DECEMBER = "2026-12"
CASEWORKER, APPROVER, FINANCE, FINANCE_APPROVER, SUPERVISOR, ADMIN = (
    "S001", "S002", "S003", "S005", "S006", "S007",
)  # fmt: skip
#: A caseworker of another district (610103): sees the planted case masked.
STRANGER = "S009"
PLANTED_CASE = "C009"
MEMBER_NAME = "王测试丙丁"
MEMBER_ID = "61010219850808002" + id_check_char("61010219850808002")
RELATIVE_ID = "61010219660606003" + id_check_char("61010219660606003")
SOURCE_REF = "REF-测试-998877"
COMPLAINANT, PHONE = "欧阳测试戊", "13900112233"
#: Every planted value: none of them in any table of a keyed store.
PLANTED = (NAME, ID_NUMBER, ACCOUNT, MEMBER_NAME, MEMBER_ID, RELATIVE_ID, SOURCE_REF)
PLANTED += (COMPLAINANT, PHONE)


def _planted_everywhere(stored: str) -> list[str]:
    return [s for s in PLANTED if s in stored or as_stored(s) in stored]


@pytest.fixture
def cipher_key() -> str:
    return AESCipher.create_key(32)


@pytest.fixture
def keyed_cli(store_url: str, cipher_key: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The command line on a store made by `aidledger init` with AIDLEDGER_CIPHER_KEY set."""
    from typer.testing import CliRunner

    from aidledger.cli import app

    monkeypatch.setenv("AIDLEDGER_CIPHER_KEY", cipher_key)
    monkeypatch.setenv("AIDLEDGER_TODAY", TEST_TODAY.isoformat())
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, ["--db", store_url, *args], catch_exceptions=False)

    assert run("init").exit_code == 0
    return run


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def _cli_month(cli: Any, tmp_path: Path) -> None:
    """Staff (one of another district), cases (one planted), a staff member's relative, the
    planted case's household, another department's record of its member, a complaint naming
    its complainant, deaths; December prepared, approved, exported, answered, reconciled,
    then compared."""
    staff = (FIXTURES / "staff.csv").read_text(encoding="utf-8").rstrip("\n")
    stranger_id = "61010319830303004" + id_check_char("61010319830303004")
    staff += f"\n{STRANGER},何远山,{stranger_id},6217000000000000109,caseworker,610103\n"
    (tmp_path / "staff.csv").write_text(staff, encoding="utf-8")
    cases = (FIXTURES / "cases.csv").read_text(encoding="utf-8").rstrip("\n")
    cases += (
        f"\n{PLANTED_CASE},dibao,610102001009,{NAME},{ID_NUMBER},2,1500.00,2026-01-01,,"
        f"{ACCOUNT},{NAME},{CASEWORKER},{APPROVER}\n"
    )
    (tmp_path / "cases.csv").write_text(cases, encoding="utf-8")
    _ok(cli("import", "staff", str(tmp_path / "staff.csv"), "--by", ADMIN))
    _ok(cli("import", "cases", str(tmp_path / "cases.csv"), "--by", CASEWORKER))
    relatives = write_file(
        tmp_path, "r.csv", "staff_id,id_number,relation", f"{SUPERVISOR},{RELATIVE_ID},兄弟"
    )
    _ok(cli("import", "relatives", str(relatives), "--by", CASEWORKER))
    household = write_file(
        tmp_path,
        "h.csv",
        "case_id,member_id_number,member_name,relation,from,to",
        f"{PLANTED_CASE},{MEMBER_ID},{MEMBER_NAME},spouse,2026-01-01,",
    )
    _ok(cli("import", "households", str(household), "--by", CASEWORKER))
    deposit = write_file(
        tmp_path,
        "d.csv",
        ",".join(COMPARISON_COLUMNS),
        f"{MEMBER_ID},{SOURCE_REF},2026-11-01,70000.00,",
    )
    _ok(cli("import", "comparison", str(deposit), "--source", "deposit", "--by", CASEWORKER))
    _ok(cli("import", "deaths", str(FIXTURES / "deaths.csv"), "--by", CASEWORKER))
    _ok(
        cli(
            *("complaint", "open", "--channel", "hotline", "--category", "fraud"),
            *("--case", PLANTED_CASE, "--summary", "举报该户有存款未申报"),
            *("--complainant", COMPLAINANT, "--phone", PHONE, "--by", CASEWORKER),
        )
    )
    prepared = cli("payout", "prepare", "--period", DECEMBER, "--by", FINANCE, "--format", "json")
    run_id = str(json.loads(_ok(prepared).stdout)["run_id"])
    _ok(cli("payout", "approve", run_id, "--by", FINANCE_APPROVER))
    bank_file = tmp_path / "run.xml"
    _ok(
        cli(
            "payout",
            "export",
            run_id,
            "--format",
            "pain001",
            "--out",
            str(bank_file),
            "--by",
            FINANCE,
        )
    )
    paid = read_pain001(bank_file.read_bytes())
    assert any(p.name == NAME and p.account == ACCOUNT for p in paid)  # the bank's: clear
    (tmp_path / "status.xml").write_bytes(pain002(paid, Anomalies()))
    (tmp_path / "booked.xml").write_bytes(camt054(paid, Anomalies()))
    _ok(cli("bank", "import", str(tmp_path / "status.xml"), "--by", FINANCE))
    _ok(cli("bank", "import", str(tmp_path / "booked.xml"), "--by", FINANCE))
    _ok(cli("reconcile", "--period", DECEMBER, "--by", FINANCE))
    # After the payment: a finding of the comparison holds the case's next ones.
    compared = _ok(cli("compare", "--period", DECEMBER, "--by", CASEWORKER, "--format", "json"))
    assert json.loads(compared.stdout)["raised"] == {"assets_over_limit": 1}


def _stored(store_url: str, cipher_key: str) -> str:
    svc = open_services(Settings(database_url=store_url, cipher_key=cipher_key, today=TEST_TODAY))
    try:
        return every_table_as_text(svc)
    finally:
        svc.close()


def _seen_by(cli: Any, viewer: str) -> dict[str, Any]:
    shown = _ok(cli("case", "history", PLANTED_CASE, "--format", "json", "--by", viewer))
    return dict(json.loads(shown.stdout)["state"])


def test_through_the_command_line_no_table_holds_a_planted_value_and_each_viewer_sees_theirs(
    keyed_cli: Any, store_url: str, cipher_key: str, tmp_path: Path
) -> None:
    _cli_month(keyed_cli, tmp_path)
    assert _planted_everywhere(_stored(store_url, cipher_key)) == []
    # The checks matched people on sealed columns: the spouse's deposit, the death of C003.
    findings = json.loads(
        _ok(keyed_cli("findings", "--period", DECEMBER, "--format", "json")).stdout
    )
    assert {"assets_over_limit"} <= {f["type"] for f in findings}
    # The caseworker of the district sees the planted person in clear; an admin and a
    # caseworker of another district see them masked.
    mine = _seen_by(keyed_cli, CASEWORKER)
    assert (mine["name"], mine["id_number"], mine["bank_account"]) == (NAME, ID_NUMBER, ACCOUNT)
    for viewer in (ADMIN, STRANGER):
        masked = _seen_by(keyed_cli, viewer)
        assert (masked["name"], masked["id_number"], masked["bank_account"]) == (
            "王***乙",
            ID_NUMBER[:6] + "********" + ID_NUMBER[-4:],
            ACCOUNT[:4] + "****" + ACCOUNT[-4:],
        ), viewer


def test_a_keyed_store_with_read_models_in_clear_is_refused_until_init_seals_them(
    keyed_cli: Any, store_url: str, cipher_key: str, tmp_path: Path
) -> None:
    """A store made with a key before the read models were sealed: events encrypted, the read
    models' rows in clear, no mark. Every command but init refuses it; init rebuilds them."""
    from ledger.sealing import CLEAR
    from ledger.store import READ_MODELS_MARK, STORE_TABLE
    from projections.runner import catch_up, reset

    _cli_month(keyed_cli, tmp_path)
    svc = open_services(Settings(database_url=store_url, cipher_key=cipher_key, today=TEST_TODAY))
    try:
        svc.db.sealer = CLEAR  # as the read models were written before sealing
        reset(svc.db, svc.models)
        catch_up(svc.app, svc.db, svc.models)
        with svc.db.transaction() as tx:
            tx.execute(f"DELETE FROM {STORE_TABLE} WHERE name = ?", (READ_MODELS_MARK,))
        assert NAME in str(svc.db.query("SELECT name FROM cases"))  # in clear, as before
    finally:
        svc.close()
    for command in (
        ("case", "history", PLANTED_CASE, "--by", CASEWORKER),
        ("findings", "--period", DECEMBER),
        ("projections", "rebuild"),
    ):
        refused = keyed_cli(*command)
        assert refused.exit_code == 1, command
        assert "read models keep names, id numbers and bank accounts in clear" in refused.stderr
        assert "Run aidledger init" in refused.stderr
        assert "Traceback" not in refused.output
    assert keyed_cli("init").exit_code == 0
    assert _planted_everywhere(_stored(store_url, cipher_key)) == []
    mine = _seen_by(keyed_cli, CASEWORKER)
    assert (mine["name"], mine["id_number"]) == (NAME, ID_NUMBER)
    assert keyed_cli("init").exit_code == 0  # marked now: nothing more to do


def test_init_marks_how_the_read_models_keep_personal_data(svc: Services) -> None:
    from ledger.store import READ_MODELS_MARK, STORE_TABLE

    marks = svc.db.query(f"SELECT value FROM {STORE_TABLE} WHERE name = ?", (READ_MODELS_MARK,))
    assert marks == [("clear",)]
