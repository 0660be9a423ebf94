"""Shared fixtures: one store fixture parametrised over SQLite and PostgreSQL.

PostgreSQL tests use a fresh database per test, cloned from a template that was built only
by `alembic upgrade head` (so every PostgreSQL test also checks the migrations). When the
server is unreachable they are skipped, except with CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from aidledger.settings import Settings
from aidledger.wiring import Services, init_store
from ledger.store import StoreURL, upgrade_store

PG_ADMIN = os.environ.get("AIDLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
FIXTURES = Path(__file__).parent / "fixtures"


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def _admin() -> psycopg.Connection:  # type: ignore[type-arg]
    return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A database migrated by Alembic only, used as the template of each test database."""
    try:
        with _admin():
            pass
    except psycopg.OperationalError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN} with CI=true: {e}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN}: {e}")
    name = f"aidl_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _admin() as conn:
        conn.execute(f"CREATE DATABASE {name}")
    upgrade_store(StoreURL.parse(_pg_url(name)))
    yield name
    with _admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def new_pg_database(template: str) -> str:
    name = f"aidl_t_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


def drop_pg_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "aidledger.db")
        return
    template = request.getfixturevalue("pg_template")
    name = new_pg_database(template)
    try:
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


#: "Today" in the tests' stores (AIDLEDGER_TODAY): months up to 2027-01 can be prepared.
TEST_TODAY = date(2026, 12, 15)


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(database_url=store_url, batch_events=50, page_size=100, today=TEST_TODAY)


@pytest.fixture
def svc(settings: Settings) -> Iterator[Services]:
    """The services of a new store, as `aidledger init` leaves it (the shipped config)."""
    services = init_store(settings)
    yield services
    services.close()


@pytest.fixture
def cli(store_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the command line against the test store (made by `aidledger init` first):
    cli("import", "cases", ...)."""
    runner = CliRunner()
    from aidledger.cli import app

    monkeypatch.setenv("AIDLEDGER_TODAY", TEST_TODAY.isoformat())

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--db", store_url, *args], catch_exceptions=False)

    assert run("init").exit_code == 0
    return run
