"""What every service over one ledger holds, and the check every staff action needs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext

from ledger.errors import NotAuthorised
from ledger.programs import ProgramsConfig
from ledger.store import Database, LedgerApp


class LedgerService:
    """The event store, the read-model database, the programs config, and ``sync``.

    ``sync`` brings the read models up to the head of the log; ``follow``, when given, keeps
    them caught up from a second process during a long write (see `aidledger.wiring`).
    """

    def __init__(
        self,
        app: LedgerApp,
        db: Database,
        config: ProgramsConfig,
        sync: Callable[[], object],
        *,
        batch_events: int = 2000,
        follow: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        self.app = app
        self.db = db
        self.config = config
        self.sync = sync
        self.batch_events = batch_events
        self.follow = follow

    def following(self, big: bool) -> AbstractContextManager[None]:
        """The background projector for big work; nothing for small work."""
        return self.follow() if big and self.follow is not None else nullcontext()

    def require_staff(self, staff_id: str, *, also: Iterable[str] = (), hint: str = "") -> None:
        """Refuse an action by someone not in the staff registry (or in ``also``)."""
        if staff_id in set(also):
            return
        if not self.db.query("SELECT 1 FROM staff WHERE staff_id = ?", (staff_id,)):
            raise NotAuthorised(f"{staff_id!r} is not in the staff registry{hint}")


class PhaseClock:
    """Wall-clock seconds of a long job's consecutive phases (validate, write, project, …)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now
