"""Shared fixtures: one store fixture parametrised over SQLite and PostgreSQL.

PostgreSQL tests use a fresh database per test, cloned from a template that was built only
by `alembic upgrade head` (so every PostgreSQL test also checks the migrations). When the
server is unreachable they are skipped, except with CI=true, where they fail.

The server is shared (other people's tests and work run on it), so a test only ever touches
the databases it created. A test that stops, kills or restarts PostgreSQL does it to a
throwaway cluster of the session's own (`pg_cluster`, see tests/pgcluster.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import psycopg
import pytest
from typer.testing import CliRunner

from aidledger.settings import Settings
from aidledger.wiring import Services, init_store
from ledger.store import StoreURL, upgrade_store
from tests.pgcluster import Cluster, ClusterUnavailable

if TYPE_CHECKING:
    from tests.builders import Site

PG_ADMIN = os.environ.get("AIDLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
FIXTURES = Path(__file__).parent / "fixtures"


def _pg_url(dbname: str, admin: str = PG_ADMIN) -> str:
    base = admin.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def _admin(admin: str = PG_ADMIN) -> psycopg.Connection:  # type: ignore[type-arg]
    return psycopg.connect(admin, autocommit=True, connect_timeout=5)


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


def new_pg_database(template: str, admin: str = PG_ADMIN) -> str:
    name = f"aidl_t_{uuid.uuid4().hex[:12]}"
    with _admin(admin) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


def drop_pg_database(name: str, admin: str = PG_ADMIN) -> None:
    with _admin(admin) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the test must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def throwaway_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this session's own, created on first use and removed at the end."""
    try:
        cluster = Cluster.create()
    except ClusterUnavailable as e:
        _unavailable(f"no throwaway PostgreSQL cluster: {e}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def throwaway_template(throwaway_cluster: Cluster) -> str:
    """The throwaway cluster's template store, built (like `pg_template`) by Alembic only."""
    throwaway_cluster.ensure_running()
    name = "aidl_tmpl"
    with _admin(throwaway_cluster.url()) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    upgrade_store(StoreURL.parse(throwaway_cluster.url(name)))
    return name  # dropped with the cluster


@pytest.fixture
def pg_cluster(throwaway_cluster: Cluster) -> Cluster:
    """The throwaway cluster, running: this test may stop, kill or restart it."""
    throwaway_cluster.ensure_running()
    return throwaway_cluster


@pytest.fixture
def pg_cluster_store(
    pg_cluster: Cluster, throwaway_template: str, request: pytest.FixtureRequest
) -> Callable[[], str]:
    """Makes fresh stores on the throwaway cluster (each a database cloned from its template)
    and returns their URLs; they are dropped after the test."""
    admin = pg_cluster.url()

    def drop(name: str) -> None:
        pg_cluster.ensure_running()  # the test may have left it stopped
        drop_pg_database(name, admin)

    def make() -> str:
        name = new_pg_database(throwaway_template, admin)
        request.addfinalizer(lambda: drop(name))
        return pg_cluster.url(name)

    return make


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


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    """A store with the fixture's staff and their logins, and the console and API over it."""
    from tests.builders import make_site

    made, svc = make_site(settings)
    svc.close()
    yield made
    made.pool.close()
