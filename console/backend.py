"""What the console asks of the store, and the options the composition root gives it.

The composition root (`aidledger.serve`) lends each request a `Workspace` — the same services
the command line opens (`aidledger.wiring.Services` is one) — for the length of the request,
through a ``borrow`` callable. When the store cannot be reached, ``borrow`` raises
`ledger.errors.StoreError` and the request answers 503.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from aidledger.settings import Settings
    from disbursement.recoveries import Recoveries
    from disbursement.runs import Payouts
    from ledger.authentication import Logins
    from ledger.config_store import Configs
    from ledger.imports import Importer
    from ledger.programs import ProgramsConfig
    from ledger.service import LedgerService
    from ledger.store import Database
    from projections.access import AccessLog
    from projections.trail import CaseHistory
    from reconciliation.bank import BankImports
    from reconciliation.service import Reconciliation

S = TypeVar("S", bound="LedgerService")


class Workspace(Protocol):
    """The services of one store, used by one request at a time: those the command line
    uses, with the read-model database and the programs config in force (for the reports)."""

    @property
    def logins(self) -> Logins: ...

    @property
    def payouts(self) -> Payouts: ...

    @property
    def reconciliation(self) -> Reconciliation: ...

    @property
    def bank(self) -> BankImports: ...

    @property
    def recoveries(self) -> Recoveries: ...

    @property
    def history(self) -> CaseHistory: ...

    @property
    def access(self) -> AccessLog: ...

    @property
    def db(self) -> Database: ...

    @property
    def config(self) -> ProgramsConfig: ...

    @property
    def today(self) -> date: ...

    @property
    def importer(self) -> Importer: ...

    @property
    def configs(self) -> Configs: ...

    @property
    def settings(self) -> Settings: ...

    def service(self, cls: type[S]) -> S:
        """A service of ``cls`` over this store (those without a property here)."""
        ...


#: Lends a request the store's services for a ``with`` block.
Borrow = Callable[[], AbstractContextManager[Workspace]]

#: The server's health: its status code and ``/healthz``'s answer.
Health = Callable[[], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Options:
    """The server's settings the console needs (from `aidledger.settings.Settings`)."""

    #: Seconds a session cookie lives (the session itself ends at its expiry in the store).
    session_seconds: int = 8 * 3600
    #: Believe ``X-Forwarded-Proto: https`` from a proxy in front that ends TLS.
    trust_forwarded_proto: bool = False
    #: The largest request body accepted (bytes): the console's forms and JSON are small.
    max_body_bytes: int = 64 * 1024
    #: The largest file sent to the API to import or apply (bytes): `Settings.max_input_bytes`.
    max_upload_bytes: int = 4 * 2**30
