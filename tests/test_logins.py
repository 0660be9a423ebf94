"""Logins on a store (SQLite and PostgreSQL): passwords as argon2id hashes, TOTP enrolment,
sessions kept as token hashes, and the admin's commands (`aidledger staff password|totp`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aidledger.settings import Settings
from aidledger.wiring import Services, init_store
from ledger.duties import DutyRefused
from ledger.logins import LoginFailed, NotLoggedIn, WeakPassword
from ledger.sessions import attempts, token_hash
from tests.builders import (
    ADMIN,
    CASEWORKER,
    CHEAP_HASHING,
    FINANCE,
    FINANCE_APPROVER,
    every_table_as_text,
    load,
    password_of,
    totp_secret,
    with_logins,
    with_staff,
    write_file,
)
from tests.conftest import TEST_TODAY


@pytest.fixture
def staffed(settings: Settings) -> Iterator[Services]:
    """A store with the fixture's staff (cheap argon2id: the tests log in often)."""
    svc = init_store(settings.model_copy(update=CHEAP_HASHING))
    with_staff(svc)
    yield svc
    svc.close()


def test_passwords_are_stored_as_argon2id_hashes_and_never_in_clear(staffed: Services) -> None:
    with_logins(staffed)
    login = staffed.logins.login_of(FINANCE)
    assert login is not None and login.password_hash is not None
    assert login.password_hash.startswith("$argon2id$")
    opened = staffed.logins.log_in(FINANCE, password_of(FINANCE))
    staffed.logins.change_password(opened.token, password_of(FINANCE), "a-brand-new-secret-77")
    with pytest.raises(LoginFailed):
        staffed.logins.log_in(FINANCE, "a-wrong-guess-12345")
    stored = every_table_as_text(staffed)
    for clear in (password_of(FINANCE), "a-brand-new-secret-77", "a-wrong-guess-12345"):
        assert clear not in stored
    assert opened.token not in stored, "sessions are kept as the hash of their token"
    assert token_hash(opened.token) in stored
    assert stored.count("$argon2id$") >= 2  # the set password and the changed one


def test_each_attempt_is_noted_with_its_outcome(staffed: Services) -> None:
    with_logins(staffed)
    with pytest.raises(LoginFailed):
        staffed.logins.log_in(FINANCE, "not-the-password-1")
    staffed.logins.log_in(FINANCE, password_of(FINANCE))
    with pytest.raises(LoginFailed):
        staffed.logins.log_in("S999", "whatever-password")  # no account: nothing noted
    assert [outcome for _, outcome in attempts(staffed.db, FINANCE)] == ["bad_password", "ok"]
    assert attempts(staffed.db, "S999") == []


def test_only_an_admin_sets_a_password_and_never_their_own_once_another_admin_can_log_in(
    staffed: Services, tmp_path: Path
) -> None:
    with_logins(staffed)
    with pytest.raises(DutyRefused, match="needs the role admin"):
        staffed.logins.set_password(CASEWORKER, "some-long-password", temporary=False, by=FINANCE)
    with pytest.raises(DutyRefused, match="not in the staff registry"):
        staffed.logins.set_password("S999", "some-long-password", temporary=False, by=ADMIN)
    with pytest.raises(WeakPassword):
        staffed.logins.set_password(FINANCE, "short", temporary=False, by=ADMIN)
    # A second admin, who can log in: the first may no longer manage their own login.
    staff = write_file(
        tmp_path,
        "admin2.csv",
        "staff_id,name,id_number,bank_account,role,region_code",
        "S009,钱志远,610102198303030150,6217000000000000109,admin,610102",
    )
    load(staffed, "staff", staff, by=ADMIN)
    staffed.logins.set_password("S009", password_of("S009"), temporary=False, by=ADMIN)
    staffed.logins.enrol_totp("S009", by=ADMIN)
    with pytest.raises(DutyRefused, match="nobody manages their own login"):
        staffed.logins.set_password(ADMIN, "another-long-password", temporary=False, by=ADMIN)
    with pytest.raises(DutyRefused, match="nobody manages their own login"):
        staffed.logins.enrol_totp(ADMIN, by=ADMIN)
    staffed.logins.set_password(ADMIN, "another-long-password", temporary=True, by="S009")


def test_a_new_password_or_totp_ends_the_staff_members_sessions(staffed: Services) -> None:
    with_logins(staffed)
    opened = staffed.logins.log_in(CASEWORKER, password_of(CASEWORKER))
    assert staffed.logins.authenticate(opened.token).staff_id == CASEWORKER
    staffed.logins.set_password(CASEWORKER, "a-reset-password-1", temporary=True, by=ADMIN)
    with pytest.raises(NotLoggedIn):
        staffed.logins.authenticate(opened.token)
    opened = staffed.logins.log_in(CASEWORKER, "a-reset-password-1")
    assert opened.must_change_password
    staffed.logins.enrol_totp(CASEWORKER, by=ADMIN)
    with pytest.raises(NotLoggedIn):
        staffed.logins.authenticate(opened.token)
    with pytest.raises(LoginFailed, match="TOTP"):
        staffed.logins.log_in(CASEWORKER, "a-reset-password-1")  # enrolled: a code is needed


def test_a_changed_password_ends_the_other_sessions_and_keeps_this_one(staffed: Services) -> None:
    with_logins(staffed)
    first = staffed.logins.log_in(FINANCE, password_of(FINANCE))
    second = staffed.logins.log_in(FINANCE, password_of(FINANCE))
    staffed.logins.change_password(second.token, password_of(FINANCE), "changed-by-me-4711")
    with pytest.raises(NotLoggedIn):
        staffed.logins.authenticate(first.token)
    assert staffed.logins.authenticate(second.token).staff_id == FINANCE
    staffed.logins.log_out(second.token)
    with pytest.raises(NotLoggedIn):
        staffed.logins.authenticate(second.token)


# -- the admin's commands --------------------------------------------------------------------


@pytest.fixture
def run(store_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The command line on a store with the fixture's staff, cheap argon2id; run(*args,
    input=...)."""
    from aidledger.cli import app

    monkeypatch.setenv("AIDLEDGER_TODAY", TEST_TODAY.isoformat())
    for name, value in CHEAP_HASHING.items():
        monkeypatch.setenv(f"AIDLEDGER_{name.upper()}", str(value))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--db", store_url, *args], input=input, catch_exceptions=False)

    assert invoke("init").exit_code == 0
    from tests.conftest import FIXTURES

    assert invoke("import", "staff", str(FIXTURES / "staff.csv"), "--by", ADMIN).exit_code == 0
    return invoke


def test_staff_password_reads_the_password_from_stdin(run, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "staff",
        "password",
        FINANCE,
        "--password-stdin",
        "--temporary",
        "--by",
        ADMIN,
        input="a-temporary-secret-1\n",
    )
    assert result.exit_code == 0, result.output
    assert "to be changed at the first login" in result.output
    assert "a-temporary-secret-1" not in result.output
    svc = init_store(settings.model_copy(update=CHEAP_HASHING))
    try:
        opened = svc.logins.log_in(FINANCE, "a-temporary-secret-1")
        assert opened.must_change_password
    finally:
        svc.close()


def test_staff_password_asks_twice_and_refuses_two_different_passwords(
    run,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    typed = iter(["first-long-password", "second-long-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    result = run("staff", "password", FINANCE, "--by", ADMIN)
    assert result.exit_code == 1 and "differ" in result.output
    typed = iter(["same-long-password", "same-long-password"])
    assert run("staff", "password", FINANCE, "--by", ADMIN).exit_code == 0


def test_staff_password_refused_to_a_non_admin_and_for_a_bad_password(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "staff",
        "password",
        CASEWORKER,
        "--password-stdin",
        "--by",
        FINANCE,
        input="long-enough-password\n",
    )
    assert result.exit_code == 1 and "needs the role admin" in result.output
    result = run("staff", "password", FINANCE, "--password-stdin", "--by", ADMIN, input="short\n")
    assert result.exit_code == 1 and "at least 10 characters" in result.output


def test_staff_totp_prints_a_provisioning_uri(run, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    result = run("staff", "totp", FINANCE_APPROVER, "--by", ADMIN)
    assert result.exit_code == 0, result.output
    uri = result.stdout.strip()
    assert uri.startswith("otpauth://totp/aidledger:S005?") and "issuer=aidledger" in uri
    secret = totp_secret(uri)
    svc = init_store(settings)
    try:
        login = svc.logins.login_of(FINANCE_APPROVER)
        assert login is not None and login.totp_secret == secret
    finally:
        svc.close()
    assert run("staff", "totp", FINANCE_APPROVER, "--by", FINANCE).exit_code == 1


def test_with_a_cipher_key_no_table_holds_a_totp_secret_or_a_password_hash(
    settings: Settings,
) -> None:
    from eventsourcing.cipher import AESCipher

    key = AESCipher.create_key(16)
    svc = init_store(settings.model_copy(update={**CHEAP_HASHING, "cipher_key": key}))
    try:
        with_staff(svc)
        secrets = with_logins(svc)
        login = svc.logins.login_of(FINANCE)
        assert login is not None and login.password_hash
        stored = every_table_as_text(svc)
        assert secrets[FINANCE_APPROVER] not in stored
        assert login.password_hash not in stored and "$argon2id$" not in stored
        assert svc.logins.log_in(FINANCE, password_of(FINANCE)).token
    finally:
        svc.close()


def test_the_chain_covers_the_login_events(run) -> None:  # type: ignore[no-untyped-def]
    assert (
        run(
            "staff", "password", FINANCE, "--password-stdin", "--by", ADMIN,
            input="a-long-password-1\n",
        ).exit_code
        == 0
    )  # fmt: skip
    assert run("staff", "totp", FINANCE, "--by", ADMIN).exit_code == 0
    verified = run("verify")
    assert verified.exit_code == 0 and "intact" in verified.output
