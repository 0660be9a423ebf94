"""A command that only reads loads only what it reads with: no database driver of the other
store, no read model when all are at the head of the log, no event classes it never meets."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
import typer

from aidledger.settings import Settings
from aidledger.wiring import Services
from tests.builders import cli_process, load, with_staff
from tests.conftest import FIXTURES

#: In the command's own process: the modules it loaded, on stderr as it exits.
REPORT_MODULES = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('LOADED ' + ' '.join(sorted(sys.modules)) + '\\n'))"
)


def loaded_by(settings: Settings, *args: str) -> set[str]:
    process = cli_process(settings.database_url, *args, before=REPORT_MODULES)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    line = next(x for x in err.decode().splitlines() if x.startswith("LOADED "))
    return set(line.split()[1:])


def test_case_history_loads_no_models_and_no_module_it_does_not_use(
    svc: Services, settings: Settings
) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    case_id = svc.db.query("SELECT case_id FROM cases ORDER BY case_id LIMIT 1")[0][0]
    loaded = loaded_by(settings, "case", "history", case_id, "--format", "json")
    assert "ledger.case" in loaded  # it did read the case's events
    # Every read model at the head: none built, so neither the complaints' nor the
    # comparison's event classes (the case has none) are defined.
    assert not loaded & {"projections.complaints", "projections.comparison", "ledger.complaint"}
    # argon2 is for logging in, HTTP for --server; pydantic-settings loaded asyncio and ssl.
    assert not loaded & {"pydantic_settings", "argon2", "http.client"}
    if svc.db.dialect == "sqlite":
        assert not loaded & {"psycopg", "asyncio", "ssl"}
    else:
        assert "psycopg" in loaded  # the report is the process's own: a PostgreSQL store needs it


@pytest.mark.parametrize("variable", ["AIDLEDGER_BATCH_EVENTS", "aidledger_batch_events"])
def test_settings_are_read_from_the_environment_in_any_case(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "7")
    assert Settings().batch_events == 7
    assert Settings(batch_events=9).batch_events == 9  # a value given wins


def test_a_malformed_setting_in_the_environment_is_refused_by_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("AIDLEDGER_PAGE_SIZE", "0")
    with pytest.raises(ValidationError, match="page_size"):
        Settings()


def _commands(app: typer.Typer) -> Iterator[Callable[..., Any]]:
    for command in app.registered_commands:
        if command.callback is not None:
            yield command.callback
    if app.registered_callback is not None and app.registered_callback.callback is not None:
        yield app.registered_callback.callback
    for group in app.registered_groups:
        if group.typer_instance is not None:
            yield from _commands(group.typer_instance)


def test_no_command_leaves_its_annotations_as_strings_for_typer_to_compile_at_each_start() -> None:
    # typer reads the annotations of every command at every start: strings (a module with
    # ``from __future__ import annotations``) are compiled and evaluated each time.
    from aidledger.cli import app

    commands = list(_commands(app))
    assert len(commands) > 50
    quoted = {
        f"{f.__module__}.{f.__name__}"
        for f in commands
        if any(isinstance(a, str) for a in inspect.get_annotations(f).values())
    }
    assert not quoted


def test_every_event_class_is_built_once_as_written_and_knows_its_aggregate() -> None:
    import aidledger.wiring  # noqa: F401  (every aggregate of a command that opens a store)
    from ledger.events import LedgerAggregate, LedgerEvent, aggregate_of
    from ledger.payment import Payment

    def below(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    # The library redefines an aggregate's event classes under bases of its own unless they
    # derive from the aggregate's base already: the copy has the original's name.
    copies = {
        cls.__qualname__
        for cls in below(LedgerEvent)
        if any(base.__qualname__ == cls.__qualname__ for base in cls.__bases__)
    }
    assert not copies
    assert Payment.Event is LedgerAggregate.Event
    event = Payment.Cancelled(
        originator_id=uuid4(),
        originator_version=2,
        timestamp=datetime.now(UTC),
        by="S004",
        payment_id="P1",
        run_id="R1",
        reason="no longer due",
    )
    assert aggregate_of(event) is Payment
