"""How a command ends when it cannot do what was asked: one line on stderr saying what to do,
exit 1 (2 for a usage error), never a Python traceback.

`RefusingGroup` is the command line's top group, so this holds for every command and for
everything a command does, inside `common.services` or not. `refusal` is the list of what a
person can cause or meet, each with its line:

- an ``AidLedgerError`` (input refused, a duty, a store missing, not a store, at another
  schema, a wrong or malformed cipher key, an export target): its own message;
- a lost race: another command wrote at the same moment (a unique key of the event log or a
  read model taken, a serialisation failure or deadlock, SQLite's write lock held by another):
  every record has an id derived from what it is, so nothing is recorded twice, and running
  the command again completes or confirms the work;
- the store gone in the middle of the work;
- a file that cannot be read or written (``OSError``: permissions, a folder, a full disk);
- stdout closed by its reader (``| head``): exit 1 quietly, as other tools do.

Anything else is a bug in aidledger and keeps its traceback.
"""

from __future__ import annotations

import io
import os
import sqlite3
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from aidledger.cli.common import fail
from ledger.errors import AidLedgerError

#: What the loser of a race is told (two prepares of one period, two imports of one file).
LOST_RACE = (
    "another command was writing to the store at the same moment and came first: this one "
    "stopped. Nothing is recorded twice: run it again (once the other is done) to complete "
    "its work or to see that it is done"
)


def refusal(e: BaseException, store: str = "the store") -> str | None:
    """The line a person sees for ``e``, or None when ``e`` is a bug (it keeps its traceback).

    ``store`` names the store for messages about it (never with a password)."""
    if isinstance(e, AidLedgerError):
        return str(e)
    # Here, not on import: `aidledger --help` starts without the database drivers.
    import psycopg
    from eventsourcing.persistence import PersistenceError, RecordConflictError

    from ledger.store import one_line

    cause = _driver_error(e)
    if _lost_race(cause) or (cause is e and isinstance(e, RecordConflictError)):
        return LOST_RACE
    if isinstance(cause, sqlite3.OperationalError):
        return f"{store} could not be read or written: {one_line(str(cause))}"
    if isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
        return (
            f"the connection to {store} was lost ({type(cause).__name__}): check the database "
            "is running, then run this command again (nothing is recorded twice)"
        )
    if isinstance(e, PersistenceError) and cause is e:
        return f"{store} failed ({type(e).__name__}: {one_line(str(e))}): run the command again"
    if isinstance(e, OSError):
        if e.filename is not None:
            return f"{e.filename}: {e.strerror or one_line(str(e))}"
        return one_line(str(e)) or type(e).__name__
    return None


def _driver_error(e: BaseException) -> BaseException:
    """The database driver's exception under the eventsourcing library's wrapping, or ``e``."""
    import psycopg
    from eventsourcing.persistence import PersistenceError

    if isinstance(e, PersistenceError) and isinstance(e.__cause__, sqlite3.Error | psycopg.Error):
        return e.__cause__
    return e


def _lost_race(e: BaseException) -> bool:
    """A unique key taken by another transaction, or PostgreSQL rolling one back (a
    serialisation failure or a deadlock): another command got there first."""
    import psycopg

    if isinstance(e, psycopg.errors.UniqueViolation | psycopg.errors.TransactionRollback):
        return True
    if isinstance(e, sqlite3.OperationalError):
        # SQLite's lock: another transaction writing. Either this one waited for longer than
        # the timeout, or (SQLite does not wait where waiting could deadlock) it had read
        # and then found another's write in the way of its own.
        return getattr(e, "sqlite_errorname", "").startswith("SQLITE_BUSY")
    return isinstance(e, sqlite3.IntegrityError) and "UNIQUE" in str(e)


class RefusingGroup(TyperGroup):
    """The top command group: whatever a command raises that `refusal` knows becomes its line
    on stderr and exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # an ending already chosen, or a usage error (exit 2)
        except BrokenPipeError:
            _quiet_stdout()  # the reader went away (`| head`): nothing to say, to no one
            raise typer.Exit(1) from None
        except Exception as e:
            line = refusal(e, _store_name(ctx))
            if line is None:
                raise
            fail(line, code=2 if _usage(e) else 1)


def _usage(e: BaseException) -> bool:
    """A refusal that is a usage error (exit 2): a view asked for without its reason."""
    from ledger.access import ReasonRequired

    return isinstance(e, ReasonRequired)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail once more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a file descriptor (a test's captured output)


def _store_name(ctx: Any) -> str:
    from ledger.store import StoreURL

    settings = ctx.obj
    try:
        return StoreURL.parse(settings.database_url).describe()
    except (AttributeError, AidLedgerError):
        return "the store"
