"""The command line through the API (SQLite and PostgreSQL), against a real server in a
thread: each command acts as the logged-in staff member through the same services, says what
it says on the store, refuses ``--by`` naming anyone else before anything is sent, and a
store with ``[security] actors = "authenticated"`` refuses commands acting as a staff member
on the store itself — recording nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aidledger.cli import app
from aidledger.settings import Settings
from ledger.programs import shipped_config_path
from tests.builders import (
    APPROVER,
    AUDITOR,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    SUPERVISOR,
    case_rows,
    head,
    make_site,
    password_of,
    totp_code,
)
from tests.conftest import FIXTURES, TEST_TODAY

PERIOD = "2026-06"


class Served:
    """A server over a store with the fixture's staff and logins, and a way to run the
    command line as one of them (logged in with ``aidledger login``)."""

    def __init__(self, url: str, settings: Settings, secrets: dict[str, str], tmp: Path) -> None:
        self.url, self.settings, self.secrets, self.tmp = url, settings, secrets, tmp
        self.runner = CliRunner()

    def token_file(self, staff_id: str) -> Path:
        return self.tmp / f"token-{staff_id}"

    def login(self, staff_id: str) -> None:
        args = ["login", "--server", self.url, "--staff-id", staff_id, "--password-stdin"]
        if staff_id in self.secrets:
            args += ["--totp", totp_code(self.secrets[staff_id], datetime.now(UTC))]
        args += ["--token-file", str(self.token_file(staff_id))]
        done = self.runner.invoke(app, args, input=password_of(staff_id) + "\n")
        assert done.exit_code == 0, done.output

    def as_(self, staff_id: str, *args: str) -> Any:
        """``aidledger --server URL --token-file … ARGS`` as ``staff_id`` (logged in first)."""
        if not self.token_file(staff_id).exists():
            self.login(staff_id)
        return self.runner.invoke(
            app,
            ["--server", self.url, "--token-file", str(self.token_file(staff_id)), *args],
            catch_exceptions=False,
        )

    def direct(self, *args: str) -> Any:
        """The command on the store itself (``--db``)."""
        return self.runner.invoke(
            app, ["--db", self.settings.database_url, *args], catch_exceptions=False
        )

    def events(self) -> int:
        from aidledger.wiring import open_services

        svc = open_services(self.settings)
        try:
            return head(svc)
        finally:
            svc.close()

    def query(self, sql: str) -> list[Any]:
        from aidledger.wiring import open_services

        svc = open_services(self.settings)
        try:
            svc.sync()
            return list(svc.db.query(sql))
        finally:
            svc.close()


@pytest.fixture
def served(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    from aidledger.serve import Server

    monkeypatch.setenv("AIDLEDGER_TODAY", TEST_TODAY.isoformat())
    monkeypatch.delenv("AIDLEDGER_SERVER", raising=False)
    made, svc = make_site(settings)
    svc.close()
    made.pool.close()
    server = Server(made.settings, port=0).start()
    try:
        yield Served(f"http://127.0.0.1:{server.port}", made.settings, made.secrets, tmp_path)
    finally:
        server.stop()


def test_a_month_through_the_server_import_prepare_approve_release_export(
    served: Served, tmp_path: Path
) -> None:
    """Each act is recorded as the logged-in staff member, and says what it says on the
    store; the bank file is written where the command runs, its writing in the access log
    (channel api)."""
    done = served.as_(
        CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER
    )
    assert done.exit_code == 0, done.output
    assert "cases.csv: 5 rows: 5 new" in done.output
    again = served.as_(
        CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER
    )
    assert again.exit_code == 0 and "already imported" in again.output and "nothing" in again.output
    deaths = served.as_(
        CASEWORKER, "import", "deaths", str(FIXTURES / "deaths.csv"), "--by", CASEWORKER
    )
    assert deaths.exit_code == 0, deaths.output

    prepared = served.as_(FINANCE, "payout", "prepare", "--period", PERIOD, "--by", FINANCE)
    assert prepared.exit_code == 0, prepared.output
    run_id = prepared.stdout.strip().splitlines()[0]
    assert run_id.startswith("R202606"), prepared.output
    assert "payments" in prepared.output and "held" in prepared.output
    as_json = served.as_(
        FINANCE, "payout", "prepare", "--period", PERIOD, "--by", FINANCE, "--format", "json"
    )
    assert json.loads(as_json.stdout)["run_id"] == run_id

    ((held,),) = served.query("SELECT payment_id FROM payments WHERE held <> ''")
    approved = served.as_(FINANCE_APPROVER, "payout", "approve", run_id, "--by", FINANCE_APPROVER)
    assert approved.exit_code == 0, approved.output
    assert f"{run_id} approved by {FINANCE_APPROVER}" in approved.output
    assert "1 held" in approved.output and "chain head: sha256:" in approved.output

    first = served.as_(
        FINANCE_APPROVER, "payout", "release", held, "--by", FINANCE_APPROVER, "--reason", "alive"
    )
    assert first.exit_code == 0 and "a supervisor must release it a second time" in first.output
    second = served.as_(
        SUPERVISOR, "payout", "release", held, "--by", SUPERVISOR, "--reason", "seen"
    )
    assert second.exit_code == 0 and f"{held} released by {SUPERVISOR}" in second.output

    bank_file = tmp_path / "june.xml"
    exported = served.as_(
        FINANCE, "payout", "export", run_id, "--format", "pain001", "--out", str(bank_file),
        "--by", FINANCE, "--reason", "June's payout",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert (
        bank_file.read_bytes().startswith(b"<?xml")
        and b"CstmrCdtTrfInitn" in bank_file.read_bytes()
    )
    assert f"{bank_file}: " in exported.output
    ((channel, staff),) = served.query(
        "SELECT channel, staff_id FROM access_log WHERE kind = 'bank_file'"
    )
    assert (channel, staff) == ("api", FINANCE)

    recoveries = served.as_(AUDITOR, "recoveries", "--status", "all", "--format", "json")
    assert recoveries.exit_code == 0 and json.loads(recoveries.stdout) == []
    shown = served.as_(AUDITOR, "payout", "show", run_id, "--format", "json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["approved_by"] == FINANCE_APPROVER
    listed = served.as_(AUDITOR, "payout", "list", "--format", "json")
    runs = [(r["run_id"], r["prepared_by"], r["approved_by"]) for r in json.loads(listed.stdout)]
    assert runs == [(run_id, FINANCE, FINANCE_APPROVER)]


def test_by_naming_anyone_else_is_refused_before_anything_is_sent(served: Served) -> None:
    served.as_(CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    before = served.events()
    refused = served.as_(FINANCE, "payout", "prepare", "--period", PERIOD, "--by", APPROVER)
    assert refused.exit_code == 1
    assert f"you are logged in to {served.url} as {FINANCE}" in refused.output
    assert served.events() == before


def test_without_a_login_the_refusal_says_to_log_in(served: Served) -> None:
    result = served.runner.invoke(
        app,
        ["--server", served.url, "--token-file", str(served.tmp / "none"),
         "payout", "prepare", "--period", PERIOD, "--by", FINANCE],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"aidledger login --server {served.url}" in result.output


def test_a_refused_file_through_the_server_names_its_lines_and_records_nothing(
    served: Served, tmp_path: Path
) -> None:
    bad = case_rows(
        tmp_path,
        "bad.csv",
        "C901,dibao,610102001001,赵六,not-an-id,1,10.00,2026-01-01,,6228480000000000091,赵六,S001,S002",
    )
    before = served.events()
    refused = served.as_(CASEWORKER, "import", "cases", str(bad), "--by", CASEWORKER)
    assert refused.exit_code == 1
    assert (
        "bad.csv: line 2, column id_number:" in refused.output
        and "nothing was recorded" in refused.output
    )
    assert "aidledger-upload" not in refused.output, "the server's folder is not named"
    assert served.events() == before


def test_a_duty_refused_by_the_server_says_why_and_records_nothing(served: Served) -> None:
    served.as_(CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    before = served.events()
    refused = served.as_(CASEWORKER, "payout", "prepare", "--period", PERIOD, "--by", CASEWORKER)
    assert refused.exit_code == 1 and "finance" in refused.output
    assert served.events() == before


def test_findings_and_complaints_worked_and_read_through_the_server(served: Served) -> None:
    served.as_(CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    served.as_(CASEWORKER, "import", "deaths", str(FIXTURES / "deaths.csv"), "--by", CASEWORKER)
    served.as_(FINANCE, "payout", "prepare", "--period", PERIOD, "--by", FINANCE)
    ((finding,),) = served.query("SELECT finding_id FROM findings")

    listed = served.as_(
        AUDITOR, "findings", "--period", PERIOD, "--format", "json", "--reason", "audit"
    )
    assert listed.exit_code == 0, listed.output
    assert [r["finding_id"] for r in json.loads(listed.stdout)] == [finding]
    ((viewer, channel),) = served.query("SELECT staff_id, channel FROM access_log")
    assert (viewer, channel) == (AUDITOR, "api")

    assigned = served.as_(
        SUPERVISOR, "finding", "assign", finding, "--to", FINANCE_APPROVER, "--by", SUPERVISOR
    )
    assert (
        assigned.exit_code == 0 and f"{finding} assigned to {FINANCE_APPROVER}" in assigned.output
    )
    commented = served.as_(
        AUDITOR, "finding", "comment", finding, "--text", "seen", "--by", AUDITOR
    )
    assert commented.exit_code == 0, commented.output
    resolved = served.as_(
        SUPERVISOR, "finding", "resolve", finding, "--reason", "corrected", "--by", SUPERVISOR
    )
    assert resolved.exit_code == 0 and "resolved (corrected)" in resolved.output
    ((status,),) = served.query(f"SELECT status FROM findings WHERE finding_id = '{finding}'")
    assert status == "resolved"
    worked = json.loads(served.direct("finding", "history", finding).stdout)
    assert [e.get("by") for e in worked[1:]] == [SUPERVISOR, AUDITOR, SUPERVISOR]

    history = served.as_(
        AUDITOR, "case", "history", "C003", "--format", "json", "--reason", "audit"
    )
    assert history.exit_code == 0 and json.loads(history.stdout)["case_id"] == "C003"

    opened = served.as_(
        CASEWORKER, "complaint", "open", "--channel", "hotline", "--category", "fraud",
        "--summary", "paid after death", "--case", "C003", "--anonymous", "--by", CASEWORKER,
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    complaint = opened.stdout.strip()
    assert "reply due" in opened.output
    assigned = served.as_(
        SUPERVISOR, "complaint", "assign", complaint, "--to", SUPERVISOR, "--by", SUPERVISOR
    )
    assert assigned.exit_code == 0, assigned.output
    rows = json.loads(served.as_(AUDITOR, "complaints", "--format", "json").stdout)
    assert [(r["complaint_id"], r["assigned_to"]) for r in rows] == [(complaint, SUPERVISOR)]
    events = json.loads(
        served.as_(AUDITOR, "complaint", "history", complaint, "--format", "json").stdout
    )
    assert [e["by"] for e in events["events"]] == [CASEWORKER, SUPERVISOR]


def test_a_store_for_authenticated_actors_refuses_direct_commands_and_records_nothing(
    served: Served, tmp_path: Path
) -> None:
    config = tmp_path / "programs.toml"
    config.write_text(
        shipped_config_path().read_text(encoding="utf-8")
        + '\n[security]\nactors = "authenticated"\n',
        encoding="utf-8",
    )
    from tests.builders import ADMIN

    applied = served.as_(
        ADMIN, "config", "apply", str(config), "--by", ADMIN, "--from", "2026-12-01"
    )
    assert applied.exit_code == 0 and "in force from 2026-12-01" in applied.output
    before = served.events()
    for args in (
        ("import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER),
        ("payout", "prepare", "--period", PERIOD, "--by", FINANCE),
        ("case", "history", "C001"),
        ("findings", "--period", PERIOD, "--by", AUDITOR, "--reason", "audit"),
    ):
        refused = served.direct(*args)
        assert refused.exit_code == 1, (args, refused.output)
        assert "aidledger login" in refused.output and "--server" in refused.output, args
    assert served.events() == before, "the refusals recorded nothing"
    # Reports and lists without a staff member, and the admin's setting of logins, still work.
    assert served.direct("payout", "list", "--format", "json").exit_code == 0
    # Through the server, the same command is recorded as the logged-in staff member.
    done = served.as_(
        CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER
    )
    assert done.exit_code == 0, done.output
    assert served.events() > before
