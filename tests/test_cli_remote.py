"""The command line through the API (SQLite and PostgreSQL), against a real server in a
thread: each command acts as the logged-in staff member through the same services, says what
it says on the store, refuses ``--by`` naming anyone else before anything is sent, and a
store with ``[security] actors = "authenticated"`` refuses commands acting as a staff member
on the store itself — recording nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

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
    # What a store needs before anyone can log in, or to be set right, stays on the store.
    staff = served.direct("import", "staff", str(FIXTURES / "staff.csv"), "--by", ADMIN)
    assert staff.exit_code == 0 and "already imported" in staff.output, staff.output
    shown = served.direct("config", "apply", str(config), "--by", ADMIN, "--from", "2026-12-01")
    assert shown.exit_code == 0 and "already in force" in shown.output, shown.output
    assert served.events() == before
    # Reports and lists without a staff member, and the admin's setting of logins, still work.
    assert served.direct("payout", "list", "--format", "json").exit_code == 0
    # Through the server, the same command is recorded as the logged-in staff member.
    done = served.as_(
        CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER
    )
    assert done.exit_code == 0, done.output
    assert served.events() > before


# -- every command acting as a staff member goes through the server -------------------------------

#: Commands that open no store, or never end: not run here.
NOT_RUN = {("login",), ("logout",), ("demo",), ("serve",)}
#: Commands left on the store itself, and why (a command in none of these lists and not sent to
#: the server fails the test below: a new command needs a route or a reason here).
STORE_ONLY = {
    ("init",): "creates or upgrades the store itself",
    ("staff", "password"): "an admin sets a login on the store: no one logs in before it",
    ("staff", "totp"): "an admin sets a login's TOTP secret on the store, as its password",
    ("verify",): "the operator's check of the stored chain: it proves the store itself",
    ("projections", "rebuild"): "the operator's rebuild of the store's read models",
    ("config", "show"): "no staff member: the programs config as applied, no personal data",
    ("import", "list"): "no staff member: the files recorded, no personal data",
    ("report", "payouts"): "no staff member: totals by program, department and region",
    ("report", "notice"): "no staff member: the 公示 list, masked as it is published",
    ("verifications",): "no staff member: requests and their due days, no personal data",
}


class Stub(ThreadingHTTPServer):
    """A server that notes each request's path and refuses it (503)."""

    seen: list[str]


class _Refuse(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cast(Stub, self.server).seen.append(self.path)
        body = b'{"error": "stub server"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def every_command() -> list[tuple[tuple[str, ...], list[Any], dict[str, Any]]]:
    """Every leaf command of the app, with its parameters and their annotations."""
    import typing

    import typer.main

    found = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
            walk(sub, (*path, name))
        if not getattr(cmd, "commands", None):
            callback = cmd.callback
            while hasattr(callback, "__wrapped__"):
                callback = callback.__wrapped__
            found.append((path, list(cmd.params), typing.get_type_hints(callback)))

    walk(typer.main.get_command(app), ())
    return found


#: Values a command's own checks take, by parameter name (the rest: "X1").
VALUES = {
    "period_": PERIOD,
    "as_of": "2026-06-30",
    "amount": "10.00",
    "programs": "dibao",
    "in_effect_on": "2026-06-01",
    "due": "2026-12-31",
    "region": "610102",
    "by_dims": "program",
    "reason": "checked",
}


def argv_for(
    path: tuple[str, ...], params: list[Any], hints: dict[str, Any], by: str, folder: Path
) -> list[str]:
    """The command with a value for each parameter it requires (and ``--by``)."""
    from enum import Enum

    args = [*path]
    for p in params:
        if p.name == "by" and "--by" in p.opts:
            args += ["--by", by]
            continue
        if not p.required:
            continue
        kind = hints[p.name]
        if isinstance(kind, type) and issubclass(kind, Enum):
            value = str(next(iter(kind)).value)
        elif kind is Path:
            value = str(FIXTURES / "cases.csv") if p.name == "file" else str(folder / "out.bin")
        else:
            value = VALUES.get(p.name, "X1")
        args += [value] if p.param_type_name == "argument" else [p.opts[0], value]
    return args


def test_every_command_acting_as_staff_goes_through_the_server_or_is_named_store_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command found in the typer app is run with --server (a stub that notes what it
    is sent): a command with a --by (acting or looking as a staff member) must send its work
    there, unless it is one of the commands the store keeps (`remote.DIRECT_ONLY`); every
    other command too, unless `STORE_ONLY` says why not."""
    from aidledger.cli.remote import DIRECT_ONLY
    from aidledger.client import SavedLogin, save_login

    stub = Stub(("127.0.0.1", 0), _Refuse)
    stub.seen = []
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{stub.server_address[1]}"
    token = tmp_path / "token"
    save_login(token, SavedLogin(url, CASEWORKER, "t0ken", "2099-01-01T00:00:00+00:00"))
    monkeypatch.setenv("AIDLEDGER_DATABASE_URL", str(tmp_path / "no-store.db"))
    monkeypatch.setenv("AIDLEDGER_TODAY", TEST_TODAY.isoformat())
    runner = CliRunner()
    routed, unrouted, with_by = set(), set(), set()
    try:
        for path, params, hints in every_command():
            if path in NOT_RUN:
                continue
            if any(p.name == "by" and "--by" in p.opts for p in params):
                with_by.add(path)
            before = len(stub.seen)
            args = argv_for(path, params, hints, CASEWORKER, tmp_path)
            done = runner.invoke(app, ["--server", url, "--token-file", str(token), *args])
            if len(stub.seen) > before:
                assert "stub server" in done.output, (path, done.output)
                routed.add(path)
            else:
                unrouted.add(path)
    finally:
        stub.shutdown()
        stub.server_close()
    assert len(routed) > 40 and {("import", "steps"), ("reconcile",)} <= routed
    assert with_by - routed == DIRECT_ONLY - {("init",)}, "acting as staff: a route, or store-only"
    assert unrouted == set(STORE_ONLY), "a new command: a route, or a reason in STORE_ONLY"
    assert not {p.split("?")[0] for p in stub.seen} & {"/api/v1/login"}


# -- the routes of the commands that had none -------------------------------------------------

STEPS_FILE = (
    "application_id,case_id,program,step,date,staff_id,outcome,detail,region_code,name,id_number",
    "A1,C100,dibao,apply,2026-11-02,S001,,申请,610102001001,刘桂英,61010219650505010X",
    "A1,C100,dibao,verify,2026-11-03,S001,pass,核对通过,,,",
    "A1,C100,dibao,visit,2026-11-05,S001,pass,入户,,,",
)


def test_an_upload_an_act_and_a_view_of_the_new_routes_through_the_server(
    served: Served, tmp_path: Path
) -> None:
    """import steps (a file), reconcile and end-deceased (acts), application history (a view
    of personal data: masked by role, recorded in the access log, channel api): each as the
    logged-in staff member, saying what it says on the store."""
    from tests.builders import write_file

    served.as_(CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    served.as_(CASEWORKER, "import", "deaths", str(FIXTURES / "deaths.csv"), "--by", CASEWORKER)
    steps = write_file(tmp_path, "steps.csv", *STEPS_FILE)
    imported = served.as_(CASEWORKER, "import", "steps", str(steps), "--by", CASEWORKER)
    assert imported.exit_code == 0, imported.output
    assert "steps.csv: 3 rows: 3 new" in imported.output
    again = served.as_(CASEWORKER, "import", "steps", str(steps), "--by", CASEWORKER)
    assert "already imported" in again.output and "nothing recorded" in again.output
    dry = served.as_(CASEWORKER, "import", "steps", str(steps), "--by", CASEWORKER, "--dry-run")
    assert dry.exit_code == 1 and "--dry-run does not go through the server" in dry.output
    imports = json.loads(served.direct("import", "list", "--format", "json").stdout)
    assert [i["imported_by"] for i in imports if i["filename"] == "steps.csv"] == [CASEWORKER]

    history = served.as_(
        AUDITOR, "application", "history", "A1", "--format", "json", "--reason", "audit"
    )
    assert history.exit_code == 0, history.output
    assert json.loads(history.stdout)["state"]["name"] == "刘桂英"
    masked = served.as_(FINANCE, "application", "history", "A1", "--format", "json")
    assert json.loads(masked.stdout)["state"]["name"] == "刘*英"
    assert "61010219650505010X" not in masked.stdout
    no_reason = served.as_(AUDITOR, "application", "history", "A1")
    assert no_reason.exit_code == 1 and "reason" in no_reason.output
    logged = served.query(
        "SELECT staff_id, channel, subject FROM access_log WHERE kind = 'application_history'"
    )
    assert sorted(logged) == [(FINANCE, "api", "A1"), (AUDITOR, "api", "A1")]

    served.as_(FINANCE, "payout", "prepare", "--period", PERIOD, "--by", FINANCE)
    reconciled = served.as_(FINANCE, "reconcile", "--period", PERIOD, "--by", FINANCE)
    assert reconciled.exit_code == 0, reconciled.output
    assert f"reconciled {PERIOD} as of {TEST_TODAY.isoformat()}" in reconciled.output
    before = served.events()
    ending = served.as_(
        CASEWORKER, "cases", "end-deceased", "--as-of", TEST_TODAY.isoformat(), "--by",
        CASEWORKER, "--dry-run", "--format", "json",
    )  # fmt: skip
    doc = json.loads(ending.stdout)
    assert doc["dry_run"] is True and [r["case_id"] for r in doc["ended"]] == ["C003"]
    assert served.events() == before, "a dry run records nothing"
    due = served.as_(AUDITOR, "reviews", "due", "--format", "json")
    assert due.exit_code == 0 and isinstance(json.loads(due.stdout), list)
    ((finding,),) = served.query("SELECT finding_id FROM findings LIMIT 1")
    events = json.loads(served.as_(AUDITOR, "finding", "history", finding).stdout)
    assert events == json.loads(served.direct("finding", "history", finding).stdout)


def test_a_role_refused_by_a_new_route_is_a_403_with_the_stores_message_and_records_nothing(
    served: Served,
) -> None:
    from aidledger.client import ApiRefused, call, load_login

    served.as_(CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    before = served.events()
    through = served.as_(CASEWORKER, "reconcile", "--period", PERIOD, "--by", CASEWORKER)
    assert through.exit_code == 1
    on_store = served.direct("reconcile", "--period", PERIOD, "--by", CASEWORKER)
    assert on_store.exit_code == 1
    assert through.output.strip() == on_store.output.strip() and "finance" in through.output
    login = load_login(served.token_file(CASEWORKER))
    assert login is not None
    with pytest.raises(ApiRefused) as refused:
        call(served.url, "/reconcile", {"period": PERIOD}, token=login.token)
    assert refused.value.status == 403
    assert served.events() == before


def test_by_naming_anyone_else_is_refused_by_the_new_routes_before_anything_is_sent(
    served: Served, tmp_path: Path
) -> None:
    from aidledger.client import ApiRefused, call, load_login
    from tests.builders import write_file

    served.as_(CASEWORKER, "import", "cases", str(FIXTURES / "cases.csv"), "--by", CASEWORKER)
    before = served.events()
    steps = write_file(tmp_path, "steps.csv", *STEPS_FILE)
    for args in (
        ("import", "steps", str(steps), "--by", APPROVER),
        ("compare", "--period", PERIOD, "--by", SUPERVISOR),
        ("recovery", "waive", "X1", "--reason", "r", "--by", SUPERVISOR),
    ):
        refused = served.as_(CASEWORKER, *args)
        assert refused.exit_code == 1, args
        assert f"you are logged in to {served.url} as {CASEWORKER}" in refused.output, args
    login = load_login(served.token_file(CASEWORKER))
    assert login is not None
    with pytest.raises(ApiRefused) as by_body:  # and the server refuses a body's by itself
        call(served.url, "/compare", {"period": PERIOD, "by": SUPERVISOR}, token=login.token)
    assert by_body.value.status == 403
    assert served.events() == before
