"""No user error ends in a Python traceback. Every command of the command line, found in the
typer app (a new command is covered as soon as it exists), is run with bad inputs: a store
that is missing, not a store, of another schema, locked by another key, unreachable; bad
settings; and each of its parameters given bad values. Each run must end with exit 1 (or 2
for usage), one line on stderr saying what to do, and no traceback. A few run in a real
process too, for what a person sees on a terminal.

A command's parameters get values by name and type (`plausible`, `typed_bad`, `free_text`):
a new parameter of a known name or type is covered with no change here.
"""

from __future__ import annotations

import shutil
import sqlite3
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import typer.main
from eventsourcing.cipher import AESCipher
from typer.testing import CliRunner, Result

from aidledger.cli import app
from aidledger.settings import Settings
from aidledger.wiring import init_store
from alembic import command as alembic
from ledger.period import Period
from ledger.store import StoreURL, alembic_config
from tests.builders import FINANCE, FINANCE_APPROVER, SUPERVISOR, cli_process, load, with_staff
from tests.conftest import FIXTURES, TEST_TODAY, _pg_url
from tests.pgcluster import free_port

TRACEBACK = ("Traceback", 'File "')
#: Commands that run until stopped (serve keeps running while its store is away, by design):
#: run only with values that must stop them at once.
NEVER_ENDS = {("serve",)}
#: Commands that make their own store, whatever --db says, or open none (they talk to a
#: server: login, logout).
OWN_STORE = {("demo",), ("login",), ("logout",)}
#: Path parameters that name a file to write (any other Path is a file to read).
OUTPUTS = {"out_file", "keep"}


# -- the commands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    opts: tuple[str, ...]
    argument: bool
    required: bool
    flag: bool
    kind: Any  # the annotation, Optional removed


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    params: tuple[Param, ...]

    def __str__(self) -> str:
        return " ".join(self.path)


def _bare(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (kind,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return kind
    return annotation


def every_command() -> list[Command]:
    """Every leaf command of the app, with its parameters' names and types."""
    found = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                walk(sub, (*path, name))
            return
        hints = typing.get_type_hints(_unwrap(cmd.callback))
        params = tuple(
            Param(
                name=p.name,
                opts=tuple(p.opts),
                argument=p.param_type_name == "argument",
                required=bool(p.required),
                flag=bool(getattr(p, "is_flag", False)),
                kind=_bare(hints[p.name]),
            )
            for p in cmd.params
        )
        found.append(Command(path, params))

    walk(typer.main.get_command(app), ())
    return found


def _unwrap(f: Callable[..., Any]) -> Callable[..., Any]:
    while hasattr(f, "__wrapped__"):
        f = f.__wrapped__
    return f


COMMANDS = every_command()


def test_the_commands_are_found() -> None:
    names = {str(c) for c in COMMANDS}
    assert {"init", "payout export", "bank import", "import cases", "serve", "demo"} <= names
    assert len(names) >= 30


# -- values ---------------------------------------------------------------------------------------


@dataclass
class Place:
    """Files and ids the values point at: a folder of the test's, and a store's known ids."""

    folder: Path
    ids: dict[str, str]

    @property
    def input_file(self) -> Path:
        """The fixtures' staff file, as a file no store has recorded (its own bytes)."""
        path = self.folder / "input.csv"
        if not path.exists():
            text = (FIXTURES / "staff.csv").read_text(encoding="utf-8")
            path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
        return path

    @property
    def new_file(self) -> Path:
        return self.folder / "new-file.out"

    @property
    def empty(self) -> Path:
        return self.folder / "empty.csv"

    @property
    def junk(self) -> Path:
        return self.folder / "junk.bin"


#: Values the command line takes as they are (a date, a period, a staff id...), by name.
PLAUSIBLE = {
    "period_": "2026-04",
    "as_of": "2026-12-15",
    "effective_from": "2026-12-15",
    "by": FINANCE,
    "to": SUPERVISOR,
    "amount": "10.00",
    "region": "610102",
    "by_dims": "program",
    "head": "0" * 64,
    "encoding": "utf-8",
    "status": "open",
    "fmt": "json",
    "host": "127.0.0.1",
    "port": "0",
    "reason": "checked with the case file",
    "text": "checked with the case file",
    "comment": "checked",
    "since": "2026-12-01",
    "due": "2026-12-31",
    "programs": "dibao",
    "in_effect_on": "2026-06-01",
}

#: Values the command line or the command must refuse, by name (the others by type).
TYPED_BAD = {
    "period_": ["2026-13", "next month", ""],
    "as_of": ["2026-02-30", "yesterday"],
    "effective_from": ["2026-02-30"],
    "by": ["NOBODY", ""],
    "to": ["NOBODY"],
    "amount": ["-1.00", "abc", "1e9", "0.001"],
    "region": ["12", "六一〇一〇二"],
    "by_dims": ["nope"],
    "head": ["zz", "sha256:"],
    "encoding": ["latin-1"],
    "status": ["closed"],
    "fmt": ["xml"],
    "port": ["x", "-1", "99999"],
    "since": ["2026-02-30", "last week"],
    "due": ["2026-02-30", "soon", "2026-12-01"],
    "programs": ["nope", "temporary", "", "dibao,dibao"],
    "in_effect_on": ["2026-02-30", "june"],
}

#: Texts no command should choke on (ids, reasons, comments, names): refused or taken.
FREE_TEXT = ["", "../../../etc/passwd", "=cmd|' /C calc'!A0", "王" * 2000, "\t-@+"]


def plausible(cmd: Command, p: Param, place: Place) -> str | None:
    """A value that passes the command line's own checks (None: leave the option out)."""
    if p.flag:
        return None
    if p.kind is Path:
        return str(place.new_file if p.name in OUTPUTS else place.input_file)
    if isinstance(p.kind, type) and issubclass(p.kind, Enum):
        return str(next(iter(p.kind)).value)
    if p.name in place.ids:
        return place.ids[p.name]
    if not p.required:
        return None
    return PLAUSIBLE.get(p.name, "X1")


def typed_bad(p: Param, place: Place) -> list[str]:
    """Values of ``p`` a command must refuse (exit 1 or 2)."""
    if p.kind is Path:
        folder, missing = place.folder / "a-folder", place.folder / "no-such-folder" / "f.csv"
        if p.name in OUTPUTS:
            return [str(folder), str(missing), str(place.ids["store_file"]), "/dev/null"]
        return [str(folder), str(place.folder / "missing.csv"), str(place.empty), str(place.junk)]
    if isinstance(p.kind, type) and issubclass(p.kind, Enum):
        return ["nope"]
    if p.kind is int:
        return TYPED_BAD.get(p.name, ["x"])
    return TYPED_BAD.get(p.name, [])


def argv(cmd: Command, values: dict[str, str | None]) -> list[str]:
    args: list[str] = [*cmd.path]
    for p in cmd.params:
        value = values.get(p.name)
        if value is None:
            continue
        args += [value] if p.argument else [p.opts[0], value]
    return args


# -- running one --------------------------------------------------------------------------------


def run(db: str, args: list[str], env: dict[str, str] | None = None) -> Result:
    env = {"AIDLEDGER_TODAY": TEST_TODAY.isoformat(), **(env or {})}
    return CliRunner().invoke(app, ["--db", db, *args], env=env, catch_exceptions=True)


def problem(result: Result, codes: tuple[int, ...], says: str = "") -> str | None:
    """What is wrong with how a command ended, or None."""
    output = result.stdout + result.stderr
    if any(t in output for t in TRACEBACK):
        return f"a traceback: {output[-300:]!r}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"ended by {type(result.exception).__name__}: {result.exception}"
    if result.exit_code not in codes:
        return f"exit {result.exit_code}, not {codes}: {output[-300:]!r}"
    if result.exit_code == 1:
        lines = result.stderr.strip().splitlines()
        if not lines or not lines[0].startswith("error: "):
            return f"no 'error: ' line on stderr: {result.stderr[-300:]!r}"
        if says and (len(lines) != 1 or says not in lines[0]):
            return f"not one line saying {says!r}: {result.stderr[-300:]!r}"
    return None


def report(problems: list[str]) -> str:
    return f"{len(problems)} command(s) ended badly:\n" + "\n".join(problems)


# -- bad stores -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SQLite stores to copy: plain, encrypted (and its key), older schema, newer schema."""
    folder = tmp_path_factory.mktemp("stores")
    made = {}
    for name, key in (("plain", None), ("encrypted", KEY)):
        path = folder / f"{name}.db"
        init_store(Settings(database_url=str(path), cipher_key=key, today=TEST_TODAY)).close()
        made[name] = path
    older = folder / "older.db"
    sqlite3.connect(older).close()
    alembic.upgrade(alembic_config(StoreURL.parse(str(older))), "0008")
    made["older"] = older
    newer = folder / "newer.db"
    shutil.copy(made["plain"], newer)
    conn = sqlite3.connect(newer)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    conn.close()  # the last connection closed moves the WAL into the file that is copied
    made["newer"] = newer
    return made


KEY = AESCipher.create_key(16)


@dataclass(frozen=True)
class BadStore:
    """Where --db points, the environment, and what the refusal says."""

    db: str
    env: dict[str, str]
    says: str
    init_makes_it: bool = False  # init's job: there is room for a store, or an old one


def bad_store(kind: str, folder: Path, stores: dict[str, Path]) -> BadStore:
    def copy(name: str) -> str:
        path = folder / f"{name}-copy.db"
        shutil.copy(stores[name], path)
        return str(path)

    if kind == "missing":
        return BadStore(str(folder / "no-folder" / "aidledger.db"), {}, "aidledger")
    if kind == "text file":
        (folder / "notes.txt").write_text("names and accounts\n", encoding="utf-8")
        return BadStore(str(folder / "notes.txt"), {}, "not an aidledger store")
    if kind == "empty file":
        (folder / "empty.db").touch()
        return BadStore(str(folder / "empty.db"), {}, "run aidledger init", init_makes_it=True)
    if kind == "folder":
        return BadStore(str(folder), {}, "is a folder, not a store")
    if kind == "another application":
        with sqlite3.connect(folder / "crm.db") as conn:
            conn.execute("CREATE TABLE customers (name TEXT)")
        return BadStore(str(folder / "crm.db"), {}, "tables of something else")
    if kind == "older schema":
        return BadStore(copy("older"), {}, "run aidledger init to upgrade", init_makes_it=True)
    if kind == "newer schema":
        return BadStore(copy("newer"), {}, "does not know")
    if kind == "malformed key":
        return BadStore(copy("plain"), {"AIDLEDGER_CIPHER_KEY": "abc"}, "is malformed")
    if kind == "key on a clear store":
        return BadStore(copy("plain"), {"AIDLEDGER_CIPHER_KEY": KEY}, "not encrypted")
    if kind == "no key":
        return BadStore(copy("encrypted"), {}, "encrypted: set AIDLEDGER_CIPHER_KEY")
    if kind == "wrong key":
        other = AESCipher.create_key(16)
        return BadStore(copy("encrypted"), {"AIDLEDGER_CIPHER_KEY": other}, "not this store's key")
    if kind == "unreachable":
        return BadStore(f"postgresql://postgres@127.0.0.1:{free_port()}/aidledger", {}, "connect")
    if kind == "missing database":
        return BadStore(_pg_url("aidl_no_such_store"), {}, "the database does not exist")
    if kind == "unknown URL":
        return BadStore("mysql://db/aidledger", {}, "unsupported database URL")
    if kind == "no name":
        return BadStore("", {}, "no store named: give --db FILE")
    raise AssertionError(kind)


BAD_STORES = [
    "missing",
    "text file",
    "empty file",
    "folder",
    "another application",
    "older schema",
    "newer schema",
    "malformed key",
    "key on a clear store",
    "no key",
    "wrong key",
    "unreachable",
    pytest.param("missing database", marks=pytest.mark.postgres),
    "unknown URL",
    "no name",
]


def contents(folder: Path) -> dict[str, bytes]:
    """The folder's files (SQLite's -wal and -shm aside: any reader of a store makes them)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<folder>"
        for p in sorted(folder.rglob("*"))
        if not p.name.endswith(("-wal", "-shm"))
    }


@pytest.mark.parametrize("kind", BAD_STORES)
def test_every_command_on_a_bad_store_says_what_to_do(
    kind: str, tmp_path: Path, stores: dict[str, Path], request: pytest.FixtureRequest
) -> None:
    if kind == "missing database":
        request.getfixturevalue("pg_template")  # skipped when PostgreSQL is unreachable
    work = tmp_path / "work"
    work.mkdir()
    place = Place(tmp_path, {})
    bad = bad_store(kind, work, stores)
    before = contents(work)
    problems = []
    for cmd in COMMANDS:
        if cmd.path in NEVER_ENDS | OWN_STORE:
            continue
        db, env = bad.db, bad.env
        if cmd.path == ("init",) and bad.init_makes_it:
            continue  # below, on a copy of its own
        values = {p.name: plausible(cmd, p, place) for p in cmd.params}
        result = run(db, argv(cmd, values), env)
        if (found := problem(result, (1,), bad.says)) is not None:
            problems.append(f"{cmd}: {found}")
    assert not problems, report(problems)
    assert contents(work) == before, "a refusal changes nothing, creates nothing"
    if bad.init_makes_it:
        shutil.rmtree(work)
        work.mkdir()
        result = run(bad_store(kind, work, stores).db, ["init"], bad.env)
        assert result.exit_code == 0 and "store ready" in result.stdout, result.output


def test_bad_settings_are_usage_errors_for_every_command(tmp_path: Path) -> None:
    problems = []
    for setting, value in (("AIDLEDGER_BATCH_EVENTS", "many"), ("AIDLEDGER_TIMEZONE", "Mars/Base")):
        for cmd in COMMANDS:
            values = {p.name: plausible(cmd, p, Place(tmp_path, {})) for p in cmd.params}
            result = run(str(tmp_path / "x.db"), argv(cmd, values), {setting: value})
            if (found := problem(result, (2,))) is not None or setting not in result.stderr:
                problems.append(f"{cmd} with {setting}={value}: {found or result.stderr!r}")
    assert not problems, report(problems)


# -- bad values, on a good store ------------------------------------------------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Place:
    """A store with a month paid: an approved run, a held payment and its finding, a case."""
    folder = tmp_path_factory.mktemp("good")
    store = folder / "aidledger.db"
    svc = init_store(Settings(database_url=str(store), today=TEST_TODAY))
    try:
        with_staff(svc)
        load(svc, "cases", FIXTURES / "cases.csv")
        load(svc, "deaths", FIXTURES / "deaths.csv")
        run_id = svc.payouts.prepare(Period.parse("2026-06"), program=None, by=FINANCE).run_id
        assert run_id is not None
        svc.payouts.approve(run_id, by=FINANCE_APPROVER)
        ((payment_id,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
        ((finding_id,),) = svc.db.query("SELECT finding_id FROM findings LIMIT 1")
    finally:
        svc.close()
    (folder / "a-folder").mkdir()
    (folder / "empty.csv").touch()
    (folder / "junk.bin").write_bytes(bytes(range(256)) * 8)
    return Place(
        folder,
        {
            "store_file": str(store),
            "run_id": run_id,
            "payment_id": payment_id,
            "finding_id": finding_id,
            "case_id": "C001",
        },
    )


def bad_values(cmd: Command, place: Place) -> Iterator[tuple[Param, str]]:
    for p in cmd.params:
        for value in typed_bad(p, place):
            yield p, value


def test_every_parameter_given_a_bad_value_is_refused(good: Place) -> None:
    problems = []
    ran = 0
    for cmd in COMMANDS:
        for p, value in bad_values(cmd, good):
            values = {q.name: plausible(cmd, q, good) for q in cmd.params}
            values[p.name] = value
            result = run(good.ids["store_file"], argv(cmd, values))
            ran += 1
            if (found := problem(result, (1, 2))) is not None:
                problems.append(f"{cmd} {p.opts[0]} {value[:40]!r}: {found}")
    assert not problems, report(problems)
    assert ran > 80
    assert not list(good.folder.glob(".*.part")), "no partial file left"
    assert sorted(p.name for p in (good.folder / "a-folder").iterdir()) == []


def test_free_text_never_ends_in_a_traceback(good: Place, tmp_path: Path) -> None:
    store = tmp_path / "aidledger.db"
    shutil.copy(good.ids["store_file"], store)
    place = Place(good.folder, {**good.ids, "store_file": str(store)})
    problems = []
    for cmd in COMMANDS:
        if cmd.path in NEVER_ENDS:
            continue
        for p in cmd.params:
            if p.kind is not str or p.name in TYPED_BAD or (p.name in PLAUSIBLE and not p.required):
                continue
            for value in FREE_TEXT:
                values = {q.name: plausible(cmd, q, place) for q in cmd.params}
                values[p.name] = value
                result = run(str(store), argv(cmd, values))
                if (found := problem(result, (0, 1, 2))) is not None:
                    problems.append(f"{cmd} {p.opts[0]} {value[:40]!r}: {found}")
    assert not problems, report(problems)


# -- in a real process --------------------------------------------------------------------------


def process(db: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = cli_process(db, *args, env={"AIDLEDGER_TODAY": TEST_TODAY.isoformat(), **(env or {})})
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("case", "code", "says"),
    [
        ("missing store", 1, "error: no store at SQLite file"),
        ("text file", 1, "is not an aidledger store (not an SQLite database)"),
        ("export to a folder", 1, "is a folder: name the file to write"),
        ("unreachable", 1, "cannot connect to PostgreSQL postgres@127.0.0.1"),
        ("malformed key", 1, "AIDLEDGER_CIPHER_KEY is malformed"),
        ("bad period", 2, "Usage: "),
        ("bad port", 2, "Usage: "),
    ],
)
def test_a_real_process_ends_with_exit_code_and_no_traceback(
    case: str, code: int, says: str, good: Place, tmp_path: Path
) -> None:
    store = good.ids["store_file"]
    text = tmp_path / "notes.txt"
    text.write_text("not a store\n", encoding="utf-8")
    args: dict[str, tuple[str, ...]] = {
        "missing store": (str(tmp_path / "typo.db"), "payout", "list"),
        "text file": (str(text), "findings", "--period", "2026-06"),
        "export to a folder": (
            store,
            *("payout", "export", good.ids["run_id"], "--format", "csv"),
            *("--out", str(tmp_path), "--by", FINANCE),
        ),
        "unreachable": (f"postgresql://postgres@127.0.0.1:{free_port()}/x", "verify"),
        "malformed key": (store, "payout", "list"),
        "bad period": (store, "payout", "prepare", "--period", "2026-13", "--by", FINANCE),
        "bad port": (store, "serve", "--port", "99999"),
    }
    env = {"AIDLEDGER_CIPHER_KEY": "abc"} if case == "malformed key" else {}
    returncode, out, err = process(*args[case], env=env)
    assert returncode == code, err
    assert not any(t in out + err for t in TRACEBACK), err
    assert says in err
    if code == 1:
        assert len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"], "nothing created"


def test_init_in_a_real_process_never_creates_a_folder(tmp_path: Path) -> None:
    returncode, _, err = process(str(tmp_path / "new" / "aidledger.db"), "init")
    assert returncode == 1 and err.startswith("error: folder ") and "never creates" in err
    assert list(tmp_path.iterdir()) == []


def test_output_closed_by_its_reader_ends_quietly(good: Place) -> None:
    proc = cli_process(good.ids["store_file"], "config", "show")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert err == "", err
