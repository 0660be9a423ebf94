"""Builders the tests share (fixtures stay in conftest.py): the fixture files' staff by
role, loading files, writing rows, and bank files answering a test's own payments.

The staff fixture (``fixtures/staff.csv``) holds one member per role, all of county 610102.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from aidledger.settings import Settings
from aidledger.web import ServicePool, in_process_app
from aidledger.wiring import Services, init_store
from reconciliation.banksim import Instructed
from tests.conftest import FIXTURES

CASEWORKER, APPROVER, FINANCE, AUDITOR, FINANCE_APPROVER, SUPERVISOR, ADMIN = (
    f"S00{i}" for i in range(1, 8)
)
#: A second finance approver (four eyes on payments released after an approval).
FINANCE_APPROVER_2 = "S008"
HEADER = (FIXTURES / "cases.csv").read_text(encoding="utf-8").splitlines()[0]


def cli_process(
    db: str, *args: str, env: dict[str, str] | None = None, before: str = ""
) -> subprocess.Popen[bytes]:
    """The command line in a process of its own (``before``: Python run first, in it)."""
    command = (
        ["-c", f"{before}\nfrom aidledger.cli import app\napp()"]
        if before
        else ["-m", "aidledger.cli"]
    )
    return subprocess.Popen(
        [sys.executable, *command, "--db", db, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def head(svc: Services) -> int:
    return svc.app.recorder.max_notification_id() or 0


def load(svc: Services, kind: str, path: Path, by: str | None = None) -> Any:
    """Import a file as the staff member whose role imports it (admin for staff files)."""
    who = by or (ADMIN if kind == "staff" else CASEWORKER)
    return svc.importer.import_file(kind, path, by=who)  # type: ignore[arg-type]


def with_staff(svc: Services) -> None:
    load(svc, "staff", FIXTURES / "staff.csv")


def case_rows(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def fixture_row(case_id: str) -> str:
    for line in (FIXTURES / "cases.csv").read_text(encoding="utf-8").splitlines():
        if line.startswith(case_id + ","):
            return line
    raise KeyError(case_id)


def write_file(tmp_path: Path, name: str, header: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def with_county_staff(svc: Services, tmp_path: Path, *, cases: int, seed: int) -> None:
    """Register the staff a generated county's cases name (S0001...), beside the fixture's
    (S001...): imported by the fixture's admin."""
    from aidledger.synthetic import STAFF_COLUMNS, staff_rows_for, write_csv

    path = tmp_path / f"county-staff-{seed}.csv"
    write_csv(path, staff_rows_for(cases, seed), STAFF_COLUMNS)
    if svc.db.query("SELECT 1 FROM staff LIMIT 1"):
        load(svc, "staff", path, by=ADMIN)
    else:
        load(svc, "staff", path, by="S0001")


#: Bank files: our fixtures, and other banks' in ``public/``.
BANK = Path(__file__).parent / "fixtures" / "bank"
#: The payment ids our bank fixtures name (those of test_bank_parsers.py), for `answered`.
F_PAID = "202612R1HLSMJRZKUG4UH4NIAWJY"
F_WRONG_NAME = "202612R1XJGHNW4AOBWACCMPF7YR"
F_NO_ACCOUNT = "202612R1IIEGPZID6YXDSECNLBOI"
F_CLOSED = "202612R1NQHHPSD75TT6OLUVBBJR"
F_FROZEN = "202612R1L2BGXCOT45W7IEUFZIRR"
F_ARREARS = "202612A12XHM4XE3TOX3FQSHBU7J"

#: An amount element's start tag (its group) and its number.
_AMOUNT = re.compile(r"(<(?:\w+:)?(?:Amt|InstdAmt)\b[^>]*>)\s*[0-9][0-9.]*\s*(?=<)")


def answered(
    data: bytes, payments: Mapping[str, Instructed], block: str = "Ntry", amounts: bool = True
) -> bytes:
    """A bank file written for other payments (another bank's sample, a fixture of ours), made
    to answer this month: each EndToEndId the file names that is a key of ``payments`` becomes
    that payment's id and, with ``amounts``, every amount in its ``block`` (a camt.054 ``Ntry``,
    a pain.002 ``TxInfAndSts``) the amount instructed. Currencies, statuses and dates stay as
    the file says them."""
    text = data.decode("utf-8")

    def one(m: re.Match[str]) -> str:
        found = [old for old in payments if f">{old}<" in m[0]]
        if not found:
            return m[0]
        (old,) = found
        p = payments[old]
        out = m[0].replace(f">{old}<", f">{p.end_to_end_id}<")
        if amounts:
            out = _AMOUNT.sub(rf"\g<1>{p.amount}", out)
        return out

    return re.sub(rf"<((?:\w+:)?){block}>.*?</\1{block}>", one, text, flags=re.S).encode("utf-8")


class Clock:
    """The events' clock, set by a test: a case recorded over months in seconds.

    Every event's ``timestamp`` comes from the eventsourcing library's clock; this replaces
    it (and ``today`` of the services) until the test ends."""

    def __init__(self, monkeypatch: Any, svc: Services) -> None:
        import eventsourcing.domain

        self.svc = svc
        self.now = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
        monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", self._tick)

    def _tick(self) -> datetime:
        self.now += timedelta(microseconds=1)  # distinct, in recorded order
        return self.now

    def set(self, day: date, hour: int = 2) -> None:
        """Move to ``hour`` (UTC) of ``day``; commands act with ``day`` as today."""
        self.now = datetime.combine(day, time(hour), tzinfo=UTC)
        self.svc.settings.today = day
        for name in (
            "importer",
            "payouts",
            "bank",
            "reconciliation",
            "configs",
            "recoveries",
            "history",
            "access",
        ):
            self.svc.__dict__.pop(name, None)  # services made again with the new today


def every_table_as_text(svc: Services) -> str:
    """Every row of every table of the store, as text (the events' raw bytes included, as
    Latin-1: a UTF-8 text stored in clear shows as its `as_stored` form)."""
    from ledger.store import events_table

    if svc.db.dialect == "sqlite":
        tables = [r[0] for r in svc.db.query("SELECT name FROM sqlite_master WHERE type='table'")]
    else:
        tables = [
            r[0]
            for r in svc.db.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
    assert "login_sessions" in tables and events_table(svc.db.dialect) in tables
    chunks = []
    for table in tables:
        for row in svc.db.query(f"SELECT * FROM {table}"):
            for value in row:
                chunks.append(
                    bytes(value).decode("latin-1")
                    if isinstance(value, bytes | memoryview)
                    else str(value)
                )
    return "\n".join(chunks)


def as_stored(text: str) -> str:
    """How ``text`` appears in `every_table_as_text` when stored in clear as UTF-8 bytes."""
    return text.encode("utf-8").decode("latin-1")


# -- logins ---------------------------------------------------------------------------------------

#: argon2id at its cheapest, for tests that log in often (the cost is kept in each hash).
CHEAP_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}

#: Staff of the fixture whose role needs TOTP, and the one left without it (S008).
TOTP_STAFF = (FINANCE_APPROVER, SUPERVISOR, ADMIN)


def password_of(staff_id: str) -> str:
    """A test password for a staff member (long enough, without their staff id)."""
    return f"horse-battery-{int(staff_id.lstrip('S')) * 7919}"


def totp_secret(uri: str) -> str:
    """The secret in an ``otpauth://`` provisioning URI."""
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(uri).query)["secret"][0]


def with_logins(svc: Services) -> dict[str, str]:
    """The fixture's staff with their passwords (`password_of`), set by the admin, who sets
    their own first (no other admin can log in yet); TOTP for `TOTP_STAFF`, not S008.
    Returns the TOTP secrets by staff id."""
    secrets = {ADMIN: totp_secret(svc.logins.enrol_totp(ADMIN, by=ADMIN))}
    svc.logins.set_password(ADMIN, password_of(ADMIN), temporary=False, by=ADMIN)
    for staff_id in (CASEWORKER, APPROVER, FINANCE, AUDITOR, FINANCE_APPROVER, SUPERVISOR):
        svc.logins.set_password(staff_id, password_of(staff_id), temporary=False, by=ADMIN)
    svc.logins.set_password(
        FINANCE_APPROVER_2, password_of(FINANCE_APPROVER_2), temporary=False, by=ADMIN
    )
    for staff_id in (FINANCE_APPROVER, SUPERVISOR):
        secrets[staff_id] = totp_secret(svc.logins.enrol_totp(staff_id, by=ADMIN))
    return secrets


class MovingClock:
    """The clock of logins and sessions, moved by a test (lockouts end without sleeping).
    It starts at the real time: cookies and TOTP codes stay plausible."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def totp_code(secret: str, at: datetime) -> str:
    """The TOTP code of ``secret`` at ``at`` (what the staff member's phone shows)."""
    import pyotp

    return pyotp.TOTP(secret).at(at)


# -- the console and the API in-process ------------------------------------------------------

with warnings.catch_warnings():
    # Starlette would rather its test client ran on httpx's successor; httpx is what we have.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@dataclass
class Site:
    """A store with the fixture's staff and their logins, and the app over it."""

    settings: Settings
    app: Starlette
    pool: ServicePool
    clock: MovingClock
    secrets: dict[str, str]

    def client(self, base_url: str = "http://testserver") -> TestClient:
        return TestClient(self.app, base_url=base_url, follow_redirects=False)

    def login(self, client: TestClient, staff_id: str, **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"staff_id": staff_id, "password": password_of(staff_id)}
        if staff_id in self.secrets:
            body["totp"] = totp_code(self.secrets[staff_id], self.clock.now)
        body.update(extra)
        return client.post("/api/v1/login", json=body)

    def logged_in(self, staff_id: str) -> TestClient:
        """A client logged in as ``staff_id`` (by the session cookie)."""
        client = self.client()
        answer = self.login(client, staff_id)
        assert answer.status_code == 200, answer.text
        return client

    @contextmanager
    def services(self) -> Iterator[Services]:
        svc = init_store(self.settings)
        try:
            yield svc
        finally:
            svc.close()


def make_site(settings: Settings, **update: Any) -> tuple[Site, Services]:
    settings = settings.model_copy(update={**CHEAP_HASHING, **update})
    svc = init_store(settings)
    with_staff(svc)
    secrets = with_logins(svc)
    clock = MovingClock()
    app, pool = in_process_app(settings, clock=clock)
    return Site(settings, app, pool, clock, secrets), svc


def csrf_of(client: TestClient) -> str:
    from console.auth import SESSION_COOKIE, csrf_for

    return csrf_for(client.cookies[SESSION_COOKIE])


def set_cookie(answer: httpx.Response, name: str) -> str:
    (header,) = [h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


class As:
    """A staff member in the console: a browser with their session cookie."""

    def __init__(self, site: Site, staff_id: str) -> None:
        site.clock.advance(seconds=31)  # each TOTP code is accepted once
        self.client: TestClient = site.logged_in(staff_id)

    def get(self, url: str, **params: Any) -> Any:
        return self.client.get(url, params=params)

    def post(self, url: str, **form: str) -> Any:
        """A form posted with the session's CSRF token (unless the form gives its own)."""
        return self.client.post(url, data={"csrf_token": csrf_of(self.client), **form})


def shown(html: str) -> str:
    """What a page says, without its markup."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))
