"""Wiring: from Settings to the ledger application, database, read models and services."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from aidledger.settings import Settings
from ledger.config_store import Configs, load_config
from ledger.period import Clock, utc_now
from ledger.programs import ProgramsConfig
from ledger.sealing import Sealer
from ledger.service import LedgerService
from ledger.store import (
    Database,
    LedgerApp,
    StoreURL,
    check_cipher,
    check_cipher_key,
    check_clock,
    check_read_models_sealed,
    ensure_store,
    ledger_env,
    mark_read_models,
    open_store,
    read_models_sealed_as_keyed,
)
from projections.registers import MODEL_NAMES, all_models
from projections.runner import ReadModel, behind, catch_up, reset

# The services are imported where they are first used: a command that only reads starts
# without the writers, the XML parsers and the bank file schemas.
if TYPE_CHECKING:
    from disbursement.recoveries import Recoveries
    from disbursement.runs import Payouts
    from ledger.authentication import Logins
    from ledger.imports import Importer
    from projections.access import AccessLog
    from projections.trail import CaseHistory
    from reconciliation.bank import BankImports
    from reconciliation.service import Reconciliation

S = TypeVar("S", bound=LedgerService)


@dataclass
class Services:
    """Everything a command needs, opened once per process."""

    settings: Settings
    store: StoreURL
    app: LedgerApp
    db: Database
    config: ProgramsConfig
    #: The clock of logins and sessions (tests move their own).
    clock: Clock = field(default=utc_now)

    @cached_property
    def models(self) -> list[ReadModel]:
        return all_models()

    @property
    def today(self) -> date:
        return self.settings.current_date()

    def sync(self, on_page: object = None) -> int:
        """Bring every read model up to the head of the event log."""
        standing = behind(self.db, MODEL_NAMES)
        if standing is None:
            return 0
        return catch_up(
            self.app,
            self.db,
            self.models,
            page_size=self.settings.page_size,
            on_page=on_page,  # type: ignore[arg-type]
            standing=standing,
        )

    @cached_property
    def importer(self) -> Importer:
        from ledger.imports import Importer

        importer = self._service(Importer)
        importer.max_input_bytes = self.settings.max_input_bytes
        return importer

    @contextmanager
    def follow(self) -> Iterator[None]:
        """Keep the read models caught up from a second process while this one writes.

        On two cores this overlaps a big import's (or run's) projection with its writes; the
        tracking compare-and-set keeps each event applied once whichever process gets it.
        """
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        worker = ctx.Process(target=_follow_log, args=(self.settings, stop), daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join(timeout=600)

    @cached_property
    def payouts(self) -> Payouts:
        from disbursement.runs import Payouts

        return self._service(Payouts)

    @cached_property
    def bank(self) -> BankImports:
        from reconciliation.bank import BankImports

        return self._service(BankImports)

    @cached_property
    def reconciliation(self) -> Reconciliation:
        from reconciliation.service import Reconciliation

        return self._service(Reconciliation)

    @cached_property
    def recoveries(self) -> Recoveries:
        from disbursement.recoveries import Recoveries

        return self._service(Recoveries)

    @cached_property
    def history(self) -> CaseHistory:
        from projections.trail import CaseHistory

        service = self._service(CaseHistory)
        service.timezone = self.settings.timezone
        return service

    @cached_property
    def access(self) -> AccessLog:
        from projections.access import AccessLog

        service = self._service(AccessLog)
        service.timezone = self.settings.timezone
        return service

    @cached_property
    def logins(self) -> Logins:
        from ledger.authentication import Logins
        from ledger.logins import password_hasher

        s = self.settings
        return Logins(
            self.app,
            self.db,
            self.config,
            self.sync,
            today=self.today,
            batch_events=s.batch_events,
            follow=self.follow,
            clock=self.clock,
            hasher=password_hasher(
                time_cost=s.argon2_time_cost,
                memory_kib=s.argon2_memory_kib,
                parallelism=s.argon2_parallelism,
            ),
            session_lifetime=timedelta(minutes=s.session_minutes),
        )

    @cached_property
    def configs(self) -> Configs:
        return self._service(Configs)

    def service(self, cls: type[S]) -> S:
        """A service of ``cls`` over this store (for those without a property here)."""
        return self._service(cls)

    def _service(self, cls: type[S]) -> S:
        return cls(
            self.app,
            self.db,
            self.config,
            self.sync,
            today=self.today,
            batch_events=self.settings.batch_events,
            follow=self.follow,
        )

    def close(self) -> None:
        self.db.close()
        self.app.close()


def _follow_log(settings: Settings, stop: Any) -> None:
    """Child process: catch the read models up until told to stop."""
    svc = open_services(settings)
    parent = multiprocessing.parent_process()
    try:
        # Stop when told, or when the parent is gone (killed without a chance to tell).
        while not stop.is_set() and (parent is None or parent.is_alive()):
            if svc.sync() == 0:
                stop.wait(0.05)
    finally:
        svc.close()


def _open(settings: Settings, *, init: bool) -> tuple[StoreURL, LedgerApp, Database]:
    """The store's application and database. Only ``init`` creates or upgrades a store; any
    other opening refuses one that is missing, not a store, or at another schema."""
    store = StoreURL.parse(settings.database_url)
    check_cipher_key(settings.cipher_key)  # before init makes a store it would then refuse
    if init:
        ensure_store(store)
    db = open_store(store)
    try:
        check_clock(db, settings.today is not None, record=init)
        check_cipher(db, settings.cipher_key, record=init)
        if not init:  # init seals them (`init_store`)
            check_read_models_sealed(db, settings.cipher_key)
        db.sealer = Sealer(settings.cipher_key)
        app = LedgerApp(ledger_env(store, settings.cipher_key))
    except BaseException:
        db.close()
        raise
    return store, app, db


def open_services(settings: Settings) -> Services:
    """Open the store named by the settings, with the programs config in force today.

    The store must exist at the schema this code expects (StoreError otherwise: only
    `init_store` creates or upgrades one)."""
    store, app, db = _open(settings, init=False)
    try:
        standing = behind(db, MODEL_NAMES)
        if standing is not None:
            catch_up(app, db, all_models(), page_size=settings.page_size, standing=standing)
        config = load_config(app, db, settings.current_date())
    except BaseException:
        db.close()
        app.close()
        raise
    return Services(settings=settings, store=store, app=app, db=db, config=config)


def init_store(settings: Settings) -> Services:
    """`aidledger init`: create or upgrade the store, apply the shipped programs config if it
    has none, and open it. Never creates a folder or a PostgreSQL database.

    With a cipher key, read models not yet marked sealed (a store made before they were) are
    emptied and built again from the log, sealed, and then marked; every other opening
    refuses such a store (`check_read_models_sealed`)."""
    _, app, db = _open(settings, init=True)
    try:
        if not read_models_sealed_as_keyed(db, settings.cipher_key):
            # A keyed store whose read models were built in clear: build them again, sealed.
            reset(db, all_models())
        catch_up(app, db, all_models(), page_size=settings.page_size)
        mark_read_models(db, settings.cipher_key)
        shipped = Configs(app, db, _NO_CONFIG, lambda: catch_up(app, db, all_models()))
        shipped.apply_shipped()
    finally:
        db.close()
        app.close()
    return open_services(settings)


#: The config of a service that only applies configs (it reads none).
_NO_CONFIG = ProgramsConfig(programs={}, departments={})
