"""The two stores from one code path: an embedded SQLite file, or PostgreSQL via psycopg.

`LedgerApp` is the eventsourcing application that records every event (one notification log
for everything). `Database` is a plain connection to the same database for read models and
their tracking rows. Alembic owns the schema of both (see ``alembic/``); the library is told
not to create tables itself.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import Environment, get_topic

from ledger.errors import StoreError
from ledger.events import OrjsonTranscoder, PydanticMapper
from ledger.sealing import CLEAR, Sealer

T = TypeVar("T")
R = TypeVar("R")

#: Settings of every aidledger session on PostgreSQL. ``jit=off``: the planner compiles a
#: query whose estimated cost is high, and estimates are high on a table not analyzed since
#: a bulk write (autovacuum lags them): 3-50 ms of compiling for a query of a few ms (a page
#: of the console, a case history, each of an export's reads of 500 payments' events).
#: aidledger's queries are short and many; none gains from JIT.
SESSION_OPTIONS = "-c jit=off"

#: The Alembic revision this code expects. A test checks it equals the scripts' head.
HEAD_REVISION = "0024"

#: The application name pins the PostgreSQL table names (``aidledger_events``).
APPLICATION_NAME = "aidledger"


@dataclass(frozen=True)
class StoreURL:
    """Where the store is: an SQLite file path, or a PostgreSQL connection URL."""

    dialect: Literal["sqlite", "postgresql"]
    path: str = ""  # sqlite file
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    dbname: str = ""

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        """Accept ``postgresql://user:pw@host:port/db``, ``sqlite:///file.db`` or a bare path."""
        if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            parts = urlsplit(url)
            if not parts.path.strip("/"):
                raise StoreError(f"database URL names no database: {redact(url)}")
            return cls(
                dialect="postgresql",
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 5432,
                user=unquote(parts.username or "postgres"),
                password=unquote(parts.password or ""),
                dbname=parts.path.strip("/"),
            )
        if url.startswith("sqlite:///"):
            return cls(dialect="sqlite", path=url[len("sqlite:///") :])
        if "://" in url:
            raise StoreError(f"unsupported database URL {redact(url)}: use sqlite or postgresql")
        return cls(dialect="sqlite", path=url)

    @property
    def conninfo(self) -> str:
        import psycopg

        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            options=SESSION_OPTIONS,
        )

    @property
    def sqlalchemy_url(self) -> str:
        if self.dialect == "sqlite":
            return f"sqlite:///{self.path}"
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=self.dbname,
        ).render_as_string(hide_password=False)

    def describe(self) -> str:
        """For messages: never includes a password."""
        if self.dialect == "sqlite":
            return f"SQLite file {self.path}"
        return f"PostgreSQL {self.user}@{self.host}:{self.port}/{self.dbname}"


def redact(url: str) -> str:
    """A URL with any password replaced, safe to print."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


class LedgerApp(Application[UUID]):
    """The event-sourced application holding every aidledger event."""

    name = APPLICATION_NAME
    env: ClassVar[dict[str, str]] = {
        "MAPPER_TOPIC": get_topic(PydanticMapper),
        "TRANSCODER_TOPIC": get_topic(OrjsonTranscoder),
        "CREATE_TABLE": "n",
    }

    def construct_env(self, name: str, env: Any = None) -> Environment:
        # Unlike the library default, never read os.environ: Settings is the only source.
        merged = dict(type(self).env)
        merged.update(env or {})
        return Environment(name, merged)


def ledger_env(store: StoreURL, cipher_key: str | None = None) -> dict[str, str]:
    """The eventsourcing environment for a store (and the optional AES cipher key)."""
    if store.dialect == "sqlite":
        from ledger.recorders import BatchSQLiteRecorder

        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": get_topic(BatchSQLiteRecorder),
            "SQLITE_DBNAME": store.path,
            "SQLITE_LOCK_TIMEOUT": "60",
        }
    else:
        from ledger.recorders_pg import CopyPostgresRecorder

        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": get_topic(CopyPostgresRecorder),
            "POSTGRES_DBNAME": store.dbname,
            "POSTGRES_HOST": store.host,
            "POSTGRES_PORT": str(store.port),
            "POSTGRES_USER": store.user,
            "POSTGRES_PASSWORD": store.password,
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
        }
    if cipher_key:
        env["CIPHER_TOPIC"] = "eventsourcing.cipher:AESCipher"
        env["CIPHER_KEY"] = cipher_key
    return env


def copy_binary(curs: Any, sql: Any, types: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """``COPY ... FROM STDIN (FORMAT BINARY)`` of ``rows`` (PostgreSQL), row by row as they are
    read, the columns dumped as ``types``.

    ``bytea`` values go through psycopg's C dumper of ``bytes``: by type name, ``set_types``
    would take the one ``psycopg.dbapi20`` registers for ``bytea`` last (Python, an
    ``isinstance`` per value: ~1 s per million events and their chain links)."""
    from psycopg.adapt import PyFormat

    curs.adapters.register_dumper(bytes, curs.adapters.get_dumper(bytes, PyFormat.BINARY))
    with curs.copy(sql) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


class Tx:
    """A cursor inside one transaction, with ``?`` placeholders on both dialects."""

    def __init__(self, cursor: Any, dialect: str, sealer: Sealer = CLEAR) -> None:
        self._cursor = cursor
        self.dialect = dialect
        #: How this store keeps personal values in its read models (`ledger.sealing`).
        self.sealer = sealer

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Tx:
        self._cursor.execute(self._sql(sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(self._sql(sql), rows)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cursor.fetchall()]

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk insert: COPY on PostgreSQL, executemany on SQLite."""
        if not rows:
            return
        if self.dialect == "postgresql":
            with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def upsert_from(
        self,
        table: str,
        key: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        assignments: str,
    ) -> None:
        """Insert ``rows`` into ``table``, or where its ``key`` is there already, update that
        row with ``assignments`` (which name the new values ``excluded.<column>``).

        ``rows`` are (key, *columns) with at most one row per key; ``columns`` are (name, SQL
        type). The rows go into a temporary table (COPY on PostgreSQL), then one
        ``INSERT .. SELECT .. ON CONFLICT DO UPDATE`` instead of a statement per row.
        """
        if not rows:
            return
        names = [key, *(n for n, _ in columns)]
        listed = ", ".join(names)
        types = ", ".join(f"{n} {t}" for n, t in [(key, "TEXT"), *columns])
        self.execute(f"CREATE TEMP TABLE bulk_upsert ({types})")
        self.copy_rows("bulk_upsert", names, rows)
        # "WHERE true": SQLite would read ON CONFLICT as part of a join without it.
        self.execute(
            f"INSERT INTO {table} ({listed}) SELECT {listed} FROM bulk_upsert WHERE true "
            f"ON CONFLICT ({key}) DO UPDATE SET {assignments}"
        )
        self.execute("DROP TABLE bulk_upsert")


class NoStore(StoreError):
    """Nothing where the settings point to a store: only ``aidledger init`` creates one."""


def _connect_refused(store: StoreURL, e: Exception) -> StoreError:
    """What a failed connection to PostgreSQL says, on one line (NoStore: no such database)."""
    reason = one_line(str(e))
    if f'database "{store.dbname}" does not exist' in reason:
        return NoStore(
            f"no store at {store.describe()}: the database does not exist; create it "
            f"(createdb {store.dbname}), then run aidledger init"
        )
    return StoreError(f"cannot connect to {store.describe()}: {reason}")


class Database:
    """A plain connection to the store's database, for read models and queries."""

    def __init__(self, store: StoreURL, sealer: Sealer = CLEAR) -> None:
        self.store = store
        self.dialect = store.dialect
        #: How this store keeps personal values in its read models (`ledger.sealing`): set
        #: from the cipher key when the store is opened with one.
        self.sealer = sealer
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            if self.dialect == "sqlite":
                # Dates go in as ISO text (the stdlib's own adapter is deprecated).
                sqlite3.register_adapter(date, date.isoformat)
                # mode=rw: never creates a file (only `ensure_store`, through Alembic, does).
                conn = sqlite3.connect(
                    Path(self.store.path).absolute().as_uri() + "?mode=rw",
                    uri=True,
                    timeout=60,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                self._conn = conn
            else:
                # Here, not on import: a command on an SQLite store never loads the driver.
                import psycopg

                try:
                    # autocommit: `transaction` says BEGIN and COMMIT itself, and `query`'s one
                    # statement is its own transaction (one round trip, not three).
                    self._conn = psycopg.connect(
                        self.store.conninfo, connect_timeout=10, autocommit=True
                    )
                except psycopg.OperationalError as e:
                    raise _connect_refused(self.store, e) from None
        return self._conn

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """One transaction: committed when the block ends, rolled back if it raises.

        On SQLite a writing transaction takes the write lock at once (``BEGIN IMMEDIATE``);
        a reading one does not, so reads never wait for a long write (WAL gives a snapshot).
        """
        conn = self._connection()
        if self.dialect == "sqlite":
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Tx(cur, "sqlite", self.sealer)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        else:
            with conn.transaction(), conn.cursor() as cur:
                yield Tx(cur, "postgresql", self.sealer)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only statement and return its rows. On PostgreSQL the statement is a
        transaction of its own (a console page asks a dozen of these: BEGIN and COMMIT
        around each were two thirds of its round trips)."""
        if self.dialect == "postgresql":
            with self._connection().cursor() as cur:
                return Tx(cur, "postgresql", self.sealer).execute(sql, params).fetchall()
        with self.transaction(write=False) as tx:
            return tx.execute(sql, params).fetchall()

    def stream(
        self, sql: str, params: Sequence[Any] = (), size: int = 10000
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of one query, fetched ``size`` at a time (a server-side cursor on PostgreSQL).

        For reading a million rows in order without holding them, or re-sorting per page.
        The caller reads them all: the plan is chosen for all of them, not (as PostgreSQL
        plans a cursor by default) for the first tenth.
        """
        conn = self._connection()
        if self.dialect == "sqlite":
            cur = conn.execute(sql, tuple(params))
            while rows := cur.fetchmany(size):
                yield from rows
            return
        with conn.transaction(), conn.cursor(name=f"aidledger_stream_{id(self)}") as cur:
            conn.execute("SET LOCAL cursor_tuple_fraction = 1")
            cur.itersize = size
            cur.execute(sql.replace("?", "%s"), tuple(params))
            yield from cur

    def analyze(self, *tables: str) -> None:
        """Bring PostgreSQL's statistics of ``tables`` up to date (a sample of each: about a
        second for a million rows). For a job about to read what was written minutes ago:
        autovacuum would get there within minutes, and until then the planner takes a month's
        1.5M fresh payments for the handful it last saw, and joins them a row at a time.

        A table at a time, each in its own transaction, and skipped if its lock is taken (an
        index being built, an anti-wraparound vacuum): the job goes on with the statistics
        there are rather than wait. SQLite plans without statistics: nothing to do."""
        if self.dialect != "postgresql":
            return
        for table in tables:
            with self.transaction() as tx:
                tx.execute(f"ANALYZE (SKIP_LOCKED) {table}")

    def vacuum(self, *tables: str) -> None:
        """`analyze`, and mark the pages of ``tables`` all visible (PostgreSQL's ``VACUUM
        (ANALYZE)``, cheap again once done: it skips pages not written since): for a job
        about to read a table through an index that covers what it reads, which can then
        skip the table itself. SQLite: nothing to do."""
        if self.dialect != "postgresql":
            return
        with self._connection().cursor() as cur:  # autocommit: VACUUM is no transaction's
            for table in tables:
                cur.execute(f"VACUUM (ANALYZE, SKIP_LOCKED) {table}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def as_date(value: Any) -> date | None:
    """A date column read back from either dialect (SQLite gives ISO text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def alembic_dir() -> Path:
    """The Alembic scripts folder (top level of the source tree)."""
    return Path(__file__).resolve().parent.parent / "alembic"


def current_revision(db: Database) -> str | None:
    """The store's Alembic revision, or None for an empty store."""
    try:
        rows = db.query("SELECT version_num FROM alembic_version")
    except sqlite3.OperationalError:
        return None
    except Exception as e:
        if is_pg_error(e, "UndefinedTable"):
            return None
        raise
    return str(rows[0][0]) if rows else None


def alembic_config(store: StoreURL) -> Any:
    """Alembic's configuration for the store (its scripts and its database)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    cfg.set_main_option("sqlalchemy.url", store.sqlalchemy_url.replace("%", "%%"))
    return cfg


def upgrade_store(store: StoreURL) -> str:
    """Create or upgrade the store to the head revision with Alembic. Returns the revision.

    The caller has checked there is room for a store there (`ensure_store` does)."""
    from alembic import command

    command.upgrade(alembic_config(store), "head")
    return HEAD_REVISION


# -- opening and creating stores ------------------------------------------------------------------
#
# Only `aidledger init` creates or upgrades a store (`ensure_store`); every other command opens
# one that is there, at the schema this code expects (`open_store`). Each refusal is a
# StoreError saying what to do, never the driver's exception.


def store_files(store: StoreURL) -> tuple[Path, ...]:
    """The files an SQLite store lives in: the database, its WAL, shared-memory and rollback
    journal files, and serve's lock file beside it (whether they exist now or not). Nothing
    aidledger writes may go over them. None for PostgreSQL."""
    if store.dialect != "sqlite" or not store.path:
        return ()
    path = Path(store.path)
    siblings = ("-wal", "-shm", "-journal", ".scheduler.lock")
    return (path, *(path.with_name(path.name + s) for s in siblings))


def open_store(store: StoreURL) -> Database:
    """The database of the store at ``store``, which must exist at `HEAD_REVISION`.

    Raises NoStore when there is none (a missing SQLite file, an empty database), StoreError
    when what is there is no aidledger store (a folder, a text file, another application's
    tables), is at an older schema (``aidledger init`` upgrades it) or a newer one, or cannot
    be reached. Never creates nor changes anything."""
    revision = _inspect(store, creating=False)
    if revision != HEAD_REVISION:
        raise _older_or_newer(store, revision)
    db = Database(store)
    try:
        db.query("SELECT 1")  # connect now: a refusal here, not in the middle of a command
    except BaseException:
        db.close()
        raise
    return db


def ensure_store(store: StoreURL) -> None:
    """`aidledger init`: create the store, or bring an older one to `HEAD_REVISION` (cheap
    when it is there). Never creates a folder or a PostgreSQL database, and refuses what is
    not an empty place nor an aidledger store, and a store of a newer schema."""
    revision = _inspect(store, creating=True)
    if revision == HEAD_REVISION:
        return
    if revision is not None and revision not in known_revisions():
        raise _older_or_newer(store, revision)
    from sqlalchemy.exc import SQLAlchemyError

    try:
        upgrade_store(store)
    except SQLAlchemyError as e:
        cause = getattr(e, "orig", None) or e
        # Two inits at once (one created a table the other was about to), or the database
        # going away under it: the migrations are transactional, so running init again is safe.
        raise StoreError(
            f"could not create or upgrade the store at {store.describe()} "
            f"({type(cause).__name__}): if another aidledger init ran at the same moment, run "
            "aidledger init again"
        ) from None


def known_revisions() -> set[str]:
    """The Alembic revisions this code has scripts for (the head and every one before it)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(StoreURL(dialect="sqlite")))
    return {r.revision for r in scripts.walk_revisions()}


def _older_or_newer(store: StoreURL, revision: str | None) -> StoreError:
    if revision is None:
        return NoStore(f"no store at {store.describe()} (it is empty): run aidledger init")
    if revision in known_revisions():
        return StoreError(
            f"the store at {store.describe()} has schema {revision}, this aidledger needs "
            f"{HEAD_REVISION}: run aidledger init to upgrade it"
        )
    return StoreError(
        f"the store at {store.describe()} has schema {revision}, which this aidledger does not "
        f"know (its newest is {HEAD_REVISION}): use the aidledger that made the store, or a "
        "newer one"
    )


def _inspect(store: StoreURL, *, creating: bool) -> str | None:
    """The store's revision, or None where a store can be made (a missing SQLite file in an
    existing folder, an empty file or database); StoreError for anything else."""
    if store.dialect == "sqlite":
        if not _sqlite_file_there(store, creating=creating):
            return None
        tables = _sqlite_tables(store)
    else:
        tables = _postgres_tables(store)
    if "alembic_version" in tables:
        return tables["alembic_version"]
    if tables:
        raise StoreError(
            f"{store.describe()} holds tables of something else, not an aidledger store: "
            "check --db (or AIDLEDGER_DATABASE_URL)"
        )
    return None


def _sqlite_file_there(store: StoreURL, *, creating: bool) -> bool:
    """Whether the SQLite file exists; refusals for a folder, a missing one, no name at all."""
    if not store.path:
        raise StoreError("no store named: give --db FILE or set AIDLEDGER_DATABASE_URL")
    path = Path(store.path)
    if path.is_dir():
        raise StoreError(
            f"{path} is a folder, not a store: name the store's file (e.g. {path / 'aidledger.db'})"
        )
    if path.exists():
        if not path.is_file():
            raise StoreError(f"{path} is not a regular file, so not a store: check --db")
        return True
    if not creating:
        raise NoStore(f"no store at {store.describe()}: run aidledger init (or check --db)")
    if not path.parent.is_dir():
        raise StoreError(
            f"folder {path.parent} does not exist: create it first (aidledger init never "
            "creates folders), or check --db"
        )
    return False


def _sqlite_tables(store: StoreURL) -> dict[str, str | None]:
    """The file's tables (``alembic_version`` with its revision), read without changing it."""
    uri = Path(store.path).absolute().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=60)
        try:
            tables: dict[str, str | None] = {
                str(name): None
                for (name,) in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            }
            if "alembic_version" in tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                tables["alembic_version"] = str(row[0]) if row else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            raise StoreError(
                f"{store.describe()} is locked by another program: try again in a moment"
            ) from None
        if "not a database" in str(e):
            raise StoreError(
                f"{store.path} is not an aidledger store (not an SQLite database): check --db"
            ) from None
        raise StoreError(f"cannot open {store.describe()}: {one_line(str(e))}") from None
    return tables


def _postgres_tables(store: StoreURL) -> dict[str, str | None]:
    """The database's tables in its schema (``alembic_version`` with its revision)."""
    import psycopg

    db = Database(store)
    try:
        tables: dict[str, str | None] = {
            str(name): None
            for (name,) in db.query(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        }
        if "alembic_version" in tables:
            rows = db.query("SELECT version_num FROM alembic_version")
            tables["alembic_version"] = str(rows[0][0]) if rows else None
        return tables
    except psycopg.Error as e:
        raise StoreError(f"cannot read {store.describe()}: {one_line(str(e))}") from None
    finally:
        db.close()


def is_pg_error(e: BaseException, name: str) -> bool:
    """Whether ``e`` is psycopg's error ``name`` (without loading the driver for SQLite:
    only a loaded driver raises its errors)."""
    errors = sys.modules.get("psycopg.errors")
    return errors is not None and isinstance(e, getattr(errors, name))


def one_line(text: str) -> str:
    """A driver's message (libpq's run over several lines) on one line, for a refusal."""
    return " ".join(text.split())


STORE_TABLE = "aidledger_store"


def cipher_fingerprint(cipher_key: str | None) -> str:
    """What the store keeps of its key: ``none``, or a hash that tells one key from another
    (it reveals nothing of the key)."""
    if not cipher_key:
        return "none"
    return "sha256:" + hashlib.sha256(b"aidledger cipher key\x00" + cipher_key.encode()).hexdigest()


#: AES key sizes, in bytes, the cipher takes.
CIPHER_KEY_SIZES = (16, 24, 32)


def check_cipher_key(cipher_key: str | None) -> None:
    """Refuse a malformed ``AIDLEDGER_CIPHER_KEY`` (not base64, or not an AES key's size)
    before the library meets it."""
    if not cipher_key:
        return
    try:
        size = len(base64.b64decode(cipher_key, validate=True))
    except ValueError:
        size = -1
    if size not in CIPHER_KEY_SIZES:
        raise StoreError(
            "AIDLEDGER_CIPHER_KEY is malformed: it must be a base64 AES key of 16, 24 or 32 "
            'bytes (make one with: python -c "from eventsourcing.cipher import AESCipher; '
            'print(AESCipher.create_key(32))")'
        )


def check_clock(db: Database, drill: bool, *, record: bool) -> None:
    """Refuse another "today" than the real one (``drill``: ``AIDLEDGER_TODAY`` is set) on a
    store that was not made for drills: a staff member could otherwise act on a day when they
    still held a role, or before a death was reported. A store made by ``init`` with it set (a
    drill or test store) takes any day; any other store, the bureau's date only. With
    ``record`` (``init``), a new store (no cipher fingerprint yet) is marked as made."""
    marks = dict(
        db.query(f"SELECT name, value FROM {STORE_TABLE} WHERE name IN ('clock', 'cipher')")
    )
    clock = marks.get("clock")
    if clock is None and record:
        new = not marks  # not even the cipher's fingerprint: init is making it now
        with db.transaction() as tx:
            tx.execute(
                f"INSERT INTO {STORE_TABLE} (name, value) VALUES ('clock', ?) "
                "ON CONFLICT (name) DO NOTHING",
                ("drill" if drill and new else "real",),
            )
        clock = db.query(f"SELECT value FROM {STORE_TABLE} WHERE name = 'clock'")[0][0]
    if drill and clock != "drill":
        raise StoreError(
            "AIDLEDGER_TODAY is set, but this store takes only the real date: unset it. Only a "
            "store created with AIDLEDGER_TODAY set (a drill or test store) takes another day"
        )


def check_cipher(db: Database, cipher_key: str | None, *, record: bool) -> None:
    """Refuse to open a store with another key than it was made with (or with a key when it
    has none, or none when it has one): never a mix of clear and encrypted events. With
    ``record`` (``init``), a store that has no fingerprint yet gets this one."""
    check_cipher_key(cipher_key)
    mine = cipher_fingerprint(cipher_key)
    rows = db.query(f"SELECT value FROM {STORE_TABLE} WHERE name = 'cipher'")
    if not rows:
        if record:
            with db.transaction() as tx:
                tx.execute(
                    f"INSERT INTO {STORE_TABLE} (name, value) VALUES ('cipher', ?) "
                    "ON CONFLICT (name) DO NOTHING",
                    (mine,),
                )
            check_cipher(db, cipher_key, record=False)
        return
    theirs = str(rows[0][0])
    if theirs == mine:
        return
    if theirs == "none":
        raise StoreError(
            "this store's events are not encrypted, and AIDLEDGER_CIPHER_KEY is set: unset it "
            "(a store is encrypted from its creation or never)"
        )
    if mine == "none":
        raise StoreError("this store's events are encrypted: set AIDLEDGER_CIPHER_KEY to its key")
    raise StoreError("AIDLEDGER_CIPHER_KEY is not this store's key: set the key it was made with")


#: The store table's mark of how the read models keep names, id numbers and accounts:
#: ``sealed`` (under the store's cipher key, `ledger.sealing`) or ``clear``.
READ_MODELS_MARK = "read_models"


def read_models_sealed_as_keyed(db: Database, cipher_key: str | None) -> bool:
    """Whether the read models keep personal data as the store's key wants: without a key,
    always (in clear); with one, only once ``aidledger init`` has built them sealed and marked
    them so. A keyed store made before the read models were sealed has clear rows and no
    mark: its events are encrypted, its tables not."""
    if not cipher_key:
        return True
    rows = db.query(f"SELECT value FROM {STORE_TABLE} WHERE name = ?", (READ_MODELS_MARK,))
    return bool(rows) and rows[0][0] == "sealed"


#: The refusal of a keyed store whose read models are not (known to be) sealed.
READ_MODELS_IN_CLEAR = (
    "this store's read models keep names, id numbers and bank accounts in clear: they were "
    "built before AIDLEDGER_CIPHER_KEY sealed them. Run aidledger init (with the key set) to "
    "rebuild them sealed; it reads the whole event log once"
)


def check_read_models_sealed(db: Database, cipher_key: str | None) -> None:
    """Refuse a keyed store whose read models were not built sealed (see
    `read_models_sealed_as_keyed`): every opening but ``init``'s, which rebuilds them."""
    if not read_models_sealed_as_keyed(db, cipher_key):
        raise StoreError(READ_MODELS_IN_CLEAR)


def mark_read_models(db: Database, cipher_key: str | None) -> None:
    """Record how the read models keep personal data (``init``, once they are at the head
    under this key): ``sealed`` with a key, ``clear`` without."""
    with db.transaction() as tx:
        tx.execute(
            f"INSERT INTO {STORE_TABLE} (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (READ_MODELS_MARK, "sealed" if cipher_key else "clear"),
        )


def events_table(dialect: str) -> str:
    """The eventsourcing library's table for the application (see migration 0001)."""
    return "stored_events" if dialect == "sqlite" else f"{APPLICATION_NAME}_events"


def notification_column(dialect: str) -> str:
    """The events table's notification id (SQLite: the rowid)."""
    return "rowid" if dialect == "sqlite" else "notification_id"


def log_head(db: Database) -> int:
    """Notification id of the newest stored event (0 for an empty log), read through ``db``."""
    with db.transaction(write=False) as tx:
        return log_head_in(tx)


def log_head_in(tx: Tx) -> int:
    """`log_head` read in a transaction of one's own (a writer's, under its lock, say)."""
    column, table = notification_column(tx.dialect), events_table(tx.dialect)
    row = tx.execute(f"SELECT MAX({column}) FROM {table}").fetchone()
    return int(row[0] or 0) if row else 0


#: Values per ``IN (...)`` list: well inside SQLite's limit on a statement's parameters.
PARAM_CHUNK = 500


def param_chunks(items: Sequence[Any], size: int = PARAM_CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size``, one ``IN (...)`` query each."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def rows_where_in(
    db: Database | Tx, select: str, column: str, keys: Iterable[Any], tail: str = ""
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``{select} WHERE {column} IN (keys) {tail}``, a query per `PARAM_CHUNK` keys
    (each key asked once). On PostgreSQL the keys go as one array (``= ANY(?)``): one
    statement text for every chunk, which the driver converts once and PostgreSQL plans once,
    where a placeholder per key made a new text of up to 500 for the driver to parse each
    time (9% of a households file's check)."""
    array = db.dialect == "postgresql"
    for chunk in param_chunks(sorted(set(keys))):
        params: Sequence[Any]
        if array:
            sql, params = f"{select} WHERE {column} = ANY(?) {tail}", [list(chunk)]
        else:
            marks = ", ".join("?" * len(chunk))
            sql, params = f"{select} WHERE {column} IN ({marks}) {tail}", chunk
        if isinstance(db, Database):
            yield from db.query(sql, params)
        else:
            yield from db.execute(sql, params).fetchall()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter), read as they come."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def select_events_of(
    app: LedgerApp, db: Database, aggregate_ids: Sequence[UUID]
) -> dict[UUID, list[Any]]:
    """Every event of many aggregates, a query per `PARAM_CHUNK` ids (the library has no
    multi-get).

    Reads the library's own table through its documented layout and decodes with the
    application's mapper (so the cipher applies). Events come back in version order. With
    more than one query to make, each is read while the one before is decoded
    (`events_ahead`)."""
    out: dict[UUID, list[Any]] = {}
    for _, found in events_ahead(app, db, param_chunks(list(aggregate_ids)), list):
        out.update(found)
    return out


def events_ahead(
    app: LedgerApp,
    db: Database,
    chunks: Iterable[T],
    ids_of: Callable[[T], Sequence[UUID]],
    *,
    decode: bool = True,
) -> Iterator[tuple[T, dict[UUID, list[Any]]]]:
    """Each of ``chunks`` with the events of its aggregates (``ids_of(chunk)``: at most
    `PARAM_CHUNK` ids), as `select_events_of` reads them; without ``decode``, as the
    library's `StoredEvent` rows, for the caller to decode those it needs (`app.mapper`).

    On PostgreSQL the next chunk's events are read on a thread (`read_ahead`) while the
    caller works on this one: the database's index probes (some 20 µs an aggregate) then run
    beside the decoding and whatever the caller does with them (an export checks and writes
    1.5M lines this way)."""

    def rows(chunk: T) -> list[Any]:
        return _event_rows(app, db, ids_of(chunk))

    for chunk, got in read_ahead(chunks, rows, threaded=db.dialect == "postgresql"):
        yield chunk, _decoded(app, got) if decode else _stored(got)


def read_ahead(
    items: Iterable[T], read: Callable[[T], R], *, threaded: bool
) -> Iterator[tuple[T, R]]:
    """Each of ``items`` with ``read(item)``; ``threaded``: the next item's ``read`` runs on a
    thread while the caller works on this one (one item ahead at most; the thread starts only
    once there is a second item). For reads that wait on the database: its work then runs on
    the other core, beside the caller's. ``read`` must use a connection of its own
    (`pool_query`), never the caller's."""
    it = iter(items)
    first = next(it, _NONE)
    if first is _NONE:
        return
    current: tuple[T, R] = (first, read(first))
    reader: ThreadPoolExecutor | None = None
    try:
        for following in it:
            ahead = None
            if threaded:
                reader = reader or ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
                ahead = reader.submit(read, following)
            yield current
            current = (following, ahead.result() if ahead else read(following))
        yield current
    finally:
        if reader is not None:
            reader.shutdown(cancel_futures=True)


#: No item at all (`read_ahead`).
_NONE: Any = object()


def pool_query(app: LedgerApp, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """One read-only statement (``?`` placeholders) on a connection of the event store's
    pool (PostgreSQL): for a thread reading ahead while the caller's own connection is busy
    (`read_ahead`)."""
    from psycopg.rows import tuple_row

    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(sql.replace("?", "%s"), tuple(params))
        rows: list[Any] = cur.fetchall()
    return rows


def _event_rows(app: LedgerApp, db: Database, ids: Sequence[UUID]) -> list[Any]:
    """The stored rows of these aggregates' events, in version order."""
    select = (
        f"SELECT originator_id, originator_version, topic, state FROM {events_table(db.dialect)}"
    )
    order = "ORDER BY originator_id, originator_version"
    if not ids:
        return []
    if db.dialect == "sqlite":
        return db.query(
            f"{select} WHERE originator_id IN ({', '.join('?' * len(ids))}) {order}",
            [u.hex for u in ids],
        )
    # One statement for every chunk (an array, not 500 placeholders): the driver parses it
    # once and PostgreSQL plans it once. On the event store's pool: this runs on a thread
    # (`events_ahead`) while the caller's own connection streams what it reads.
    return pool_query(app, f"{select} WHERE originator_id = ANY(?) {order}", (list(ids),))


def _decoded(app: LedgerApp, rows: Iterable[Sequence[Any]]) -> dict[UUID, list[Any]]:
    to_domain_event = app.mapper.to_domain_event
    return {uid: [to_domain_event(e) for e in stored] for uid, stored in _stored(rows).items()}


def _stored(rows: Iterable[Sequence[Any]]) -> dict[UUID, list[Any]]:
    """The stored rows of events, as the library's `StoredEvent`, by aggregate."""
    from eventsourcing.persistence import StoredEvent

    out: dict[UUID, list[Any]] = {}
    for oid, version, topic, state in rows:
        uid = UUID(oid) if isinstance(oid, str) else oid
        out.setdefault(uid, []).append(
            StoredEvent(
                originator_id=uid, originator_version=version, topic=topic, state=bytes(state)
            )
        )
    return out


class EventBatch:
    """Collects events and records them in transactions of about ``limit`` events.

    ``before_flush`` may return more events to record in the same transaction (a run's
    totals with its payments); ``after_flush`` is told each transaction's items once it is
    written, on the caller's thread. Used as a context manager it flushes the rest on
    success. With ``overlap`` (PostgreSQL) each transaction is written on a second thread
    while the caller builds the next one's events, so that the database works on one core
    meanwhile: still one transaction at a time and in order, a failed one failing the next
    `flush` (or the end of the batch), so that what a killed run leaves is a prefix.
    """

    def __init__(
        self,
        app: LedgerApp,
        limit: int,
        *,
        before_flush: Callable[[int], Sequence[Any]] | None = None,
        after_flush: Callable[[int], None] | None = None,
        overlap: bool = False,
    ) -> None:
        self.app = app
        self.limit = limit
        self.before_flush = before_flush
        self.after_flush = after_flush
        self.events: list[Any] = []
        self.written = 0
        self.items = 0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="batch-writer") if overlap else None
        #: The transaction being written, and what to do on the caller's thread once it is.
        self._writing: tuple[Future[None], Callable[[], None]] | None = None

    def add(self, *events: Any) -> None:
        """Add events (an aggregate's collected events, or events built directly)."""
        self.events.extend(events)
        self.items += 1
        if len(self.events) >= self.limit:
            self.flush()

    def add_aggregate(self, aggregate: Any) -> None:
        self.add(*aggregate.collect_events())

    def flush(self) -> None:
        if not self.events:
            return
        extra = self.before_flush(self.items) if self.before_flush else ()
        events, items = [*self.events, *extra], self.items
        self.events, self.items = [], 0
        if self._writer is None:
            self._put(events)
            self._written(events, items)
            return
        self._wait()
        self._writing = (
            self._writer.submit(self._put, events),
            partial(self._written, events, items),
        )

    def _put(self, events: Sequence[Any]) -> None:
        """Record one transaction (on the writing thread when overlapped)."""
        self.app.events.put(events)

    def _written(self, events: Sequence[Any], items: int) -> None:
        """After a transaction is recorded, on the caller's thread."""
        self.written += len(events)
        if self.after_flush:
            self.after_flush(items)

    def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            future, written = writing
            future.result()
            written()

    def __enter__(self) -> EventBatch:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                self.flush()
                self._wait()
            elif self._writing is not None:
                # Let the transaction under way end first; counted if it was written.
                future, written = self._writing
                self._writing = None
                if future.exception() is None:
                    written()
        finally:
            if self._writer is not None:
                self._writer.shutdown()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during bulk work.

    A batch holds tens of thousands of small objects; the collector's repeated scans of
    them made a 100k-case import superlinear. Reference counting still frees them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def save_batch(app: LedgerApp, aggregates: Sequence[Any]) -> int:
    """Record the pending events of many aggregates in one transaction; returns the count.

    Equivalent to ``app.save(*aggregates)`` for aidledger (no snapshots, no process
    policies), without the per-object runtime Protocol checks that dominate a large batch.
    """
    events = [e for aggregate in aggregates for e in aggregate.collect_events()]
    if events:
        app.events.put(events)
    return len(events)


JOB_STATUS_TABLE = "aidledger_job_status"


def record_job(db: Database, job: str, *, error: str | None = None, detail: str = "") -> None:
    """Note that ``job`` just succeeded (or failed with ``error``): operational status for the
    metrics, not ledger data. Never personal data in ``error`` or ``detail``."""
    at = datetime.now(UTC).isoformat()
    column = "last_success_at" if error is None else "last_error_at"
    with db.transaction() as tx:
        tx.execute(
            f"INSERT INTO {JOB_STATUS_TABLE} (job, {column}, last_error, detail) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (job) DO UPDATE SET "
            f"{column} = excluded.{column}, detail = excluded.detail"
            + (", last_error = excluded.last_error" if error is not None else ""),
            (job, at, error, detail),
        )
