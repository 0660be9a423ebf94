"""What every service over one ledger holds: the store, the config, today, and the actor."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from typing import TYPE_CHECKING

from ledger.access import AccessRecord, Channel, Kind, Viewer, check_view_reason
from ledger.duties import Actor, StaffDirectory
from ledger.payment import Parties
from ledger.programs import ProgramsConfig
from ledger.store import Database, EventBatch, LedgerApp

if TYPE_CHECKING:
    from ledger.events import LedgerEvent
    from projections.runner import ReadModel, WrittenThroughBatch


class LedgerService:
    """The event store, the read-model database, the programs config in force, ``today`` and
    ``sync``.

    ``sync`` brings the read models up to the head of the log; ``follow``, when given, keeps
    them caught up from a second process during a long write (see `aidledger.wiring`).
    ``today`` is the date of every act (``AIDLEDGER_TODAY`` sets it for drills and tests).
    """

    def __init__(
        self,
        app: LedgerApp,
        db: Database,
        config: ProgramsConfig,
        sync: Callable[[], object],
        *,
        today: date | None = None,
        batch_events: int = 2000,
        follow: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        self.app = app
        self.db = db
        self.config = config
        self.sync = sync
        self.today = today or date.today()
        self.batch_events = batch_events
        self.follow = follow

    def following(self, big: bool) -> AbstractContextManager[None]:
        """The background projector for big work; nothing for small work."""
        return self.follow() if big and self.follow is not None else nullcontext()

    def written_through(
        self,
        model: type[ReadModel],
        *,
        limit: int | None = None,
        after_flush: Callable[[Sequence[LedgerEvent]], None] | None = None,
    ) -> WrittenThroughBatch:
        """A batch of events that only ``model`` reads, whose transactions write that model's
        rows themselves (`projections.runner.WrittenThroughBatch`) instead of a catch-up
        reading them back from the log and decoding them: for bulk work (a comparison file's
        records, its findings, a review scan's findings). Transactions of ``limit`` events
        (default: the service's), each written on a second thread while the next is built
        (PostgreSQL). The models must have read the log to its head first (`sync`), or the
        catch-up projects them as any other."""
        from projections.registers import all_models
        from projections.runner import WrittenThroughBatch

        models = all_models()
        return WrittenThroughBatch(
            self.app,
            limit or self.batch_events,
            models,
            next(m for m in models if isinstance(m, model)),
            sealer=self.db.sealer,
            after_flush=after_flush,
            overlap=self.db.dialect == "postgresql",
        )

    def findings_written_through(self) -> EventBatch:
        """Findings' events written through to ``findings`` (a comparison or a review scan
        raises hundreds of thousands)."""
        from projections.payouts import FindingsModel

        return self.written_through(FindingsModel)

    def directory(self) -> StaffDirectory:
        """The staff registry through time, with relatives, as the read models hold it."""
        from projections.registers import load_directory

        return load_directory(self.db)

    def actor(self, by: str | Actor, on: date | None = None) -> Actor:
        """The staff member acting (``by``: a staff id), as they stand on ``on`` (default:
        today). In-process jobs pass their own `Actor` (`ledger.duties.SCHEDULER`): a staff id
        typed on a command line can never name one."""
        if isinstance(by, Actor):
            return by
        from projections.registers import load_directory

        return load_directory(self.db, only=by).actor(by, on or self.today)

    def viewer(self, by: str | Actor | None, *, reason: str = "", channel: Channel) -> Viewer:
        """Who looks at personal data (``by``; None: the store's operator, on the command line
        without ``--by``), refused at once if they must give a reason and gave none
        (`ledger.access.check_view_reason`)."""
        if by is None:
            return Viewer(None, reason=" ".join(reason.split()), channel=channel)
        actor = self.actor(by)
        return Viewer(actor, reason=check_view_reason(actor, reason), channel=channel)

    def record_view(
        self, viewer: Viewer, *, kind: Kind, subject: str, case_ids: Sequence[str] = ()
    ) -> None:
        """Record a view of personal data in the access log (`ledger.access`) before it is
        shown; nothing for the store's operator (no ``--by``)."""
        if viewer.actor is None:
            return
        self.app.save(
            AccessRecord.view(
                viewer.actor,
                channel=viewer.channel,
                kind=kind,
                subject=subject,
                case_ids=tuple(case_ids),
                reason=viewer.reason,
            )
        )

    def case_parties(self, case_id: str) -> Parties:
        """The case's people and account as its events say now, with the members of its
        household in effect today (for interest checks)."""
        return _parties_of(self.app, self.db, case_id, self.today)

    def case_deciders(self, case_id: str) -> frozenset[str]:
        """Who decided or approved any decision of the case."""
        from ledger.case import CaseDecision, case_aggregate_id

        out: set[str] = set()
        for e in self.app.events.get(case_aggregate_id(case_id)):
            if isinstance(e, CaseDecision):
                out |= {e.decided_by, e.approved_by}
        return frozenset(out - {""})


def _parties_of(app: LedgerApp, db: Database, case_id: str, today: date) -> Parties:
    from eligibility.households import people_of
    from ledger.case import case_aggregate_id, current_state
    from projections.households import members_of

    state = current_state(app.events.get(case_aggregate_id(case_id)))  # type: ignore[arg-type]
    if state is None:
        return Parties()
    people = people_of(case_id, state.id_number, members_of(db, [case_id]), today)
    return Parties(people, frozenset({state.bank_account}))


class PhaseClock:
    """Wall-clock seconds of a long job's consecutive phases (validate, write, project, …)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now
