"""The money trail of one case: every decision and every event about its money, in the order
recorded, and what the case was due, sent and owed month by month.

``aidledger case history`` answers "why was this person paid this, and who approved it" from
here. The events are read from the log (the read models only say which aggregates belong to the
case: its payments, their runs, its findings and recoveries, its deaths), so what is shown is
what was recorded. ``known_at`` keeps only what had been recorded by the end of that day (in the
bureau's time zone): the history, the state and the money as the ledger knew them then.

Derived records, not stored events: ``PaymentHeld`` (a payment instructed with a hold: its
reason and finding), ``RunApproved`` / ``PaymentCancelled`` / ``PaymentExported`` (the run's
approval, cancellation and export files, shown on each payment of the case they concern), and
``BankResult`` (executed, returned or rejected, with the bank file's name).

A grant of one-off relief (临时救助) has a trail too, under its grant_id: its ``GrantApproved``
in place of a case's decisions, its ``one_off`` payment and what became of it. The money table
keeps one-off and supplement payments on rows of their own (``kind``): what a decision of its
own made due, apart from what the month's entitlement made due.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger.access import Viewer
from ledger.applications import Application, application_aggregate_id
from ledger.case import Case, CaseDecision, CaseState, current_state, state_as_of
from ledger.errors import NotFound
from ledger.events import LedgerEvent, event_type_name
from ledger.grant import GRANT_COLUMNS, ReliefGrant, grant_aggregate_id
from ledger.history import edge, state_record
from ledger.ids import derived_id
from ledger.masking import masked_history, sight
from ledger.money import format_fen
from ledger.payment import (
    ONE_TIME_KINDS,
    Payment,
    PayoutRun,
    Recovery,
    finding_aggregate_id,
    payment_aggregate_id,
    recovery_aggregate_id,
    run_aggregate_id,
)
from ledger.period import Period
from ledger.programs import ProgramsConfig
from ledger.registry import DeathReport, death_aggregate_id
from ledger.review import CaseReview, ReviewTerms
from ledger.service import LedgerService
from ledger.store import (
    Database,
    LedgerApp,
    events_table,
    param_chunks,
    rows_where_in,
    select_events_of,
)
from projections.applications import application_of_case
from projections.registers import staff_names
from projections.reviews import first_config_day, review_ids_of_case

#: Events of a run that concern each of its payments (not the batches that built it).
_RUN_TOPICS = (
    PayoutRun.Approved.TOPIC,
    PayoutRun.ReleasesApproved.TOPIC,
    PayoutRun.Exported.TOPIC,
    PayoutRun.Cancelled.TOPIC,
)

#: The fields a case decision changes, by event type (``changes: {field: [before, after]}``).
_CHANGED_FIELDS: dict[type[Any], tuple[str, ...]] = {
    Case.MonthlyAmountChanged: ("monthly_amount", "household_size"),
    Case.AccountChanged: ("bank_account", "account_name"),
    Case.DetailsCorrected: ("name", "id_number", "region_code"),
    Case.Terminated: ("effective_to",),
    Case.Reinstated: ("effective_to",),
    Case.Reviewed: ("decided_by", "approved_by"),
}

#: Columns of the ``money`` table, in order.
MONEY_FIELDS = (
    "period",
    "program",
    "kind",
    "due",
    "instructed",
    "held",
    "sent",
    "executed",
    "returned",
    "recovery_owed",
    "recovery_collected",
    "outstanding",
)


def end_of_day(day: date, timezone: str) -> datetime:
    """The last moment of ``day`` in the bureau's time zone, as UTC: "known at the end of it"."""
    local = datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC) - timedelta(microseconds=1)


@dataclass
class Trail:
    """Every event of a case and of its money, and the facts needed to show them."""

    case_events: list[LedgerEvent]
    payments: dict[str, list[LedgerEvent]] = field(default_factory=dict)
    runs: dict[str, list[LedgerEvent]] = field(default_factory=dict)
    findings: list[list[LedgerEvent]] = field(default_factory=list)
    recoveries: list[list[LedgerEvent]] = field(default_factory=list)
    deaths: list[list[LedgerEvent]] = field(default_factory=list)
    file_names: dict[str, str] = field(default_factory=dict)
    staff_names: dict[str, str] = field(default_factory=dict)
    #: The steps of the application that led to the case (`application_of_case`).
    application: list[LedgerEvent] = field(default_factory=list)
    #: The case's periodic reviews (each its own aggregate of one event), in day order.
    reviews: list[LedgerEvent] = field(default_factory=list)
    #: The day the store was created (when reviews began here, by default).
    store_began: date | None = None

    def known_at(self, moment: datetime | None) -> Trail:
        """The trail as it stood at ``moment``: only the events recorded by then."""
        if moment is None:
            return self

        def cut(events: Sequence[LedgerEvent]) -> list[LedgerEvent]:
            return [e for e in events if e.timestamp <= moment]

        def cut_all(groups: Iterable[Sequence[LedgerEvent]]) -> list[list[LedgerEvent]]:
            return [kept for g in groups if (kept := cut(g))]

        return replace(
            self,
            case_events=cut(self.case_events),
            payments={k: kept for k, v in self.payments.items() if (kept := cut(v))},
            runs={k: kept for k, v in self.runs.items() if (kept := cut(v))},
            findings=cut_all(self.findings),
            recoveries=cut_all(self.recoveries),
            deaths=cut_all(self.deaths),
            application=cut(self.application),
            reviews=cut(self.reviews),
        )


def load_trail(app: LedgerApp, db: Database, case_id: str) -> Trail | None:
    """Read a case's trail: its events, and those of its payments, their runs (only the
    events that concern payments), its findings, recoveries and deaths. None: no such case.
    A grant's id gives the grant's trail (its ``GrantApproved`` as its decisions)."""
    case_events = cast(list[LedgerEvent], list(app.events.get(derived_id("case", case_id))))
    if not case_events:
        case_events = cast(list[LedgerEvent], list(app.events.get(grant_aggregate_id(case_id))))
    if not case_events:
        return None
    trail = Trail(case_events)
    payment_ids = [
        r[0] for r in db.query("SELECT payment_id FROM payments WHERE case_id = ?", (case_id,))
    ]
    found = select_events_of(app, db, [payment_aggregate_id(p) for p in payment_ids])
    for events in found.values():
        trail.payments[events[0].payment_id] = events
    run_ids = sorted(
        {e.run_id for events in found.values() for e in events if hasattr(e, "run_id")}
    )
    trail.runs = _run_events(app, db, run_ids)
    finding_ids = [
        r[0] for r in db.query("SELECT finding_id FROM findings WHERE case_id = ?", (case_id,))
    ]
    trail.findings = list(
        select_events_of(app, db, [finding_aggregate_id(f) for f in finding_ids]).values()
    )
    recovery_ids = [
        r[0] for r in db.query("SELECT recovery_id FROM recoveries WHERE case_id = ?", (case_id,))
    ]
    trail.recoveries = list(
        select_events_of(app, db, [recovery_aggregate_id(r) for r in recovery_ids]).values()
    )
    runs_of = {
        str(e.run_id)
        for events in [*found.values(), *trail.recoveries]
        for e in events
        if hasattr(e, "run_id")
    }
    trail.runs = _run_events(app, db, sorted(runs_of))
    people = sorted({str(e.id_number) for e in case_events if hasattr(e, "id_number")})
    trail.deaths = list(select_events_of(app, db, [death_aggregate_id(p) for p in people]).values())
    files = {
        e.file_id for events in found.values() for e in events if isinstance(e, Payment.BankResult)
    }
    for fid, name in rows_where_in(
        db, "SELECT file_id, filename FROM bank_files", "file_id", files
    ):
        trail.file_names[fid] = name
    review_ids = [UUID(r) for r in review_ids_of_case(db, case_id)]
    trail.reviews = [e for events in select_events_of(app, db, review_ids).values() for e in events]
    trail.reviews.sort(key=lambda e: getattr(e, "reviewed_on", date.min))
    trail.store_began = first_config_day(db)
    opened = case_events[0]
    if isinstance(opened, Case.Approved):
        application = application_of_case(db, case_id, opened.program)
        if application is not None:
            aggregate = application_aggregate_id(application["application_id"])
            trail.application = cast(list[LedgerEvent], list(app.events.get(aggregate)))
    trail.staff_names = staff_names(db, {e.by for e in _every_event(trail)})
    return trail


def _every_event(trail: Trail) -> Iterator[LedgerEvent]:
    yield from trail.case_events
    for events in (*trail.payments.values(), *trail.runs.values()):
        yield from events
    for events in (*trail.findings, *trail.recoveries, *trail.deaths):
        yield from events
    yield from trail.application
    yield from trail.reviews


def _run_events(
    app: LedgerApp, db: Database, run_ids: Sequence[str]
) -> dict[str, list[LedgerEvent]]:
    """The events of runs that concern each payment (approval, export, cancellation): a run of a
    province has hundreds of batch events no payment needs."""
    from eventsourcing.persistence import StoredEvent

    out: dict[str, list[LedgerEvent]] = {}
    ids = {run_aggregate_id(r): r for r in run_ids}
    sqlite = db.dialect == "sqlite"
    for chunk in param_chunks(list(ids)):
        params: list[Any] = [u.hex if sqlite else u for u in chunk]
        rows = db.query(
            "SELECT originator_id, originator_version, topic, state "
            f"FROM {events_table(db.dialect)} "
            f"WHERE originator_id IN ({', '.join('?' * len(chunk))}) "
            f"AND topic IN ({', '.join('?' * len(_RUN_TOPICS))}) "
            "ORDER BY originator_id, originator_version",
            [*params, *_RUN_TOPICS],
        )
        for oid, version, topic, state in rows:
            uid = UUID(oid) if isinstance(oid, str) else oid
            event = app.mapper.to_domain_event(
                StoredEvent(
                    originator_id=uid, originator_version=version, topic=topic, state=bytes(state)
                )
            )
            out.setdefault(ids[uid], []).append(cast(LedgerEvent, event))
    return out


class CaseHistory(LedgerService):
    """``case history`` as a staff member sees it: masked by their role (`ledger.masking`),
    recorded in the access log (`ledger.access`) before it is answered."""

    #: The bureau's time zone (``--known-at`` is the end of a day there).
    timezone: str = "Asia/Shanghai"

    def history(
        self, case_id: str, *, as_of: date, known_at: date | None, viewer: Viewer
    ) -> dict[str, Any]:
        """The document of ``case history --format json`` (`history_document`) as ``viewer``
        sees it; `NotFound` for a case the ledger does not have (nothing recorded then)."""
        trail = load_trail(self.app, self.db, case_id)
        if trail is None:
            raise NotFound(f"no case {case_id!r}")
        doc = history_document(
            case_id,
            trail,
            as_of=as_of,
            known_at=known_at,
            timezone=self.timezone,
            config=self.config,
        )
        now = current_state(trail.case_events)
        seen = sight(viewer.actor, now.region_code if now else None, reason=viewer.reason)
        self.record_view(viewer, kind="case_history", subject=case_id, case_ids=(case_id,))
        return masked_history(doc, seen)


# -- the records shown ----------------------------------------------------------------------


def history_document(
    case_id: str,
    trail: Trail,
    *,
    as_of: date,
    known_at: date | None,
    timezone: str,
    config: ProgramsConfig,
) -> dict[str, Any]:
    """The JSON document of ``aidledger case history``."""
    moment = end_of_day(known_at, timezone) if known_at is not None else None
    known = trail.known_at(moment)
    grant = _grant_of(known.case_events)
    if grant is not None:
        state = _grant_state(grant, as_of)
    else:
        case_state = state_as_of(known.case_events, as_of) if known.case_events else None
        state = state_record(case_state)
        if state is not None and case_state is not None:
            state["next_review_due"] = edge(
                "next_review_due", next_review_due_of(case_state, known, config, as_of)
            )
    records = sorted(case_records(known) + money_records(known), key=lambda r: r["recorded_at"])
    for r in records:
        r["by_name"] = trail.staff_names.get(r["by"])
    return {
        "case_id": case_id,
        "as_of": as_of.isoformat(),
        "known_at": known_at.isoformat() if known_at else None,
        "state": state,
        "events": records,
        "money": money_table(known, config, as_of),
    }


def next_review_due_of(
    state: CaseState, trail: Trail, config: ProgramsConfig, as_of: date
) -> date | None:
    """When the case falls due for review after the reviews known and made by ``as_of``
    (`eligibility.reviews`; None for a program not reviewed)."""
    done = [
        e for e in trail.reviews if isinstance(e, CaseReview.Recorded) and e.reviewed_on <= as_of
    ]
    last = max(done, key=lambda e: e.reviewed_on) if done else None
    return ReviewTerms.of(config, trail.store_began).due_of(
        state.program,
        state.start,
        last.reviewed_on if last else None,
        last.next_review_months if last else None,
    )


def _grant_of(events: Sequence[LedgerEvent]) -> ReliefGrant.Approved | None:
    return next((e for e in events if isinstance(e, ReliefGrant.Approved)), None)


def _grant_state(grant: ReliefGrant.Approved, as_of: date) -> dict[str, Any] | None:
    """A grant as its file's row said it, once decided (None before ``decided_on``)."""
    if grant.decided_on > as_of:
        return None
    return {name: edge(name, getattr(grant, name)) for name in GRANT_COLUMNS}


def _record(event: LedgerEvent, type_: str | None = None, **fields: Any) -> dict[str, Any]:
    payload = {
        k: edge(k, v)
        for k, v in event.model_dump().items()
        if k not in ("originator_id", "originator_version", "originator_topic", "timestamp", "by")
    }
    if "type" in payload:
        payload["finding_type"] = payload.pop("type")
    if isinstance(payload.get("changes"), dict):
        payload["changes"] = {
            f: [edge(f, before), edge(f, after)]
            for f, (before, after) in payload["changes"].items()
        }
    record: dict[str, Any] = {
        "type": type_ or event_type_name(event),
        "by": event.by,
        "recorded_at": event.timestamp.isoformat(),
        "effective_from": payload.pop("effective_from", None),
        "period": payload.pop("period", None),
        "source": payload.pop("source", None),
    }
    record.update(payload)
    record.update({k: edge(k, v) for k, v in fields.items()})
    return record


def case_records(trail: Trail) -> list[dict[str, Any]]:
    """The case's decisions, each change with its fields before and after, and deaths reported
    for its beneficiary."""
    out = []
    state: CaseState | None = None
    for e in trail.case_events:
        before = state
        if isinstance(e, Case.Approved):
            state = e.initial_state()
            out.append(_record(e))
            continue
        if isinstance(e, ReliefGrant.Approved):
            out.append(_record(e, effective_from=e.decided_on))
            continue
        changed = _CHANGED_FIELDS.get(type(e), ())
        record = _record(e)
        if before is not None and changed:
            after = replace(before)
            if isinstance(e, CaseDecision):
                e.apply_state(after)
            record["changes"] = {
                f: [edge(f, getattr(before, f)), edge(f, getattr(after, f))]
                for f in changed
                if getattr(before, f) != getattr(after, f)
            }
            state = after
        out.append(record)
    for events in trail.deaths:
        for e in events:
            if isinstance(e, DeathReport.Reported | DeathReport.Corrected):
                out.append(
                    _record(e, "DeathReported" if isinstance(e, DeathReport.Reported) else None)
                )
    for e in trail.reviews:
        if isinstance(e, CaseReview.Recorded):
            out.append(_record(e, "ReviewRecorded", effective_from=e.reviewed_on))
    for e in trail.application:
        # The steps of the application that led to the case, each on the day it was taken.
        step = "apply" if isinstance(e, Application.Made) else getattr(e, "step", None)
        out.append(_record(e, step=step, effective_from=getattr(e, "taken_on", None)))
    return out


def money_records(trail: Trail) -> list[dict[str, Any]]:
    """Every event about the case's money, derived records included (see the module)."""
    out: list[dict[str, Any]] = []
    for pid, events in trail.payments.items():
        run_ids: set[str] = set()
        for e in events:
            if isinstance(e, Payment.Instructed | Payment.Reinstructed):
                run_ids.add(e.run_id)
                out.append(
                    _record(
                        e,
                        "PaymentInstructed",
                        bank_account=e.creditor_account,
                    )
                )
                for hold in e.held:
                    out.append(
                        _record(
                            e,
                            "PaymentHeld",
                            reason=hold,
                            finding_id=_finding_of(hold, e.case_id, e.period),
                        )
                    )
            elif isinstance(e, Payment.BankResult) and not isinstance(e, Payment.StatusReported):
                out.append(_bank_result(e, trail.file_names))
            else:
                out.append(_record(e))
        out += _run_records(pid, events, run_ids, trail.runs)
    for events in trail.findings:
        out += [_record(e) for e in events]
    for events in trail.recoveries:
        out += [_record(e) for e in events]
    return out


def _finding_of(hold: str, case_id: str, period: str) -> str:
    from ledger.payment import finding_id

    return finding_id(hold, case_id, period)


def _bank_result(e: Payment.BankResult, files: Mapping[str, str]) -> dict[str, Any]:
    status = {
        Payment.Executed: "executed",
        Payment.Returned: "returned",
        Payment.Rejected: "rejected",
    }.get(type(e), "reported")
    booked = getattr(e, "booking_date", None) or getattr(e, "reported_on", None)
    return _record(
        e,
        "BankResult",
        status=status,
        amount=getattr(e, "amount", None),
        booked_on=booked,
        reason_code=getattr(e, "reason_code", None),
        file_name=files.get(e.file_id),
    )


def _run_record(e: LedgerEvent, type_: str, **fields: Any) -> dict[str, Any]:
    """A run's event shown on one of its payments: the run's own totals named as the run's."""
    record = _record(e, type_, **fields)
    for key in ("payments", "amount", "held", "held_amount", "digest"):
        if key in record:
            record[f"run_{key}"] = record.pop(key)
    return record


def _run_records(
    pid: str,
    payment_events: Sequence[LedgerEvent],
    run_ids: set[str],
    runs: Mapping[str, Sequence[LedgerEvent]],
) -> list[dict[str, Any]]:
    """The approvals, cancellations and exports of the runs that held the payment, as they
    concern it (a payment released after approval: its own approval and file)."""
    released_after = any(
        isinstance(e, Payment.Released) and e.needs_approval for e in payment_events
    )
    my_batch: int | None = None if released_after else 1
    out = []
    for run_id in sorted(run_ids):
        for e in runs.get(run_id, []):
            if isinstance(e, PayoutRun.ReleasesApproved) and pid in e.payment_ids:
                my_batch = e.batch
                out.append(_run_record(e, "RunApproved", payment_id=pid, batch=e.batch))
            elif isinstance(e, PayoutRun.Approved) and not released_after:
                out.append(_run_record(e, "RunApproved", payment_id=pid))
            elif isinstance(e, PayoutRun.Cancelled):
                out.append(_run_record(e, "PaymentCancelled", payment_id=pid))
            elif (
                isinstance(e, PayoutRun.Exported)
                and my_batch is not None
                and e.first_batch <= my_batch <= e.batch
            ):
                out.append(
                    _run_record(
                        e,
                        "PaymentExported",
                        payment_id=pid,
                        file_name=e.filename,
                        file_sha256=e.sha256,
                    )
                )
    return out


# -- the money table ---------------------------------------------------------------------------


def money_kind(kind: str) -> str:
    """The money table's ``kind`` of a payment's kind: ``monthly`` (regular, arrears and
    reissues of the month's entitlement), or the one-time kind (one_off, supplement)."""
    return kind if kind in ONE_TIME_KINDS else "monthly"


@dataclass
class _Month:
    due: int = 0
    instructed: int = 0
    held: int = 0
    sent: int = 0
    executed: int = 0
    returned: int = 0
    recovery_owed: int = 0
    recovery_collected: int = 0
    recovery_waived: int = 0


def money_table(trail: Trail, config: ProgramsConfig, as_of: date) -> list[dict[str, Any]]:
    """One row per program and period the case was due or paid (see README, "The money
    trail"): ``outstanding`` = due − sent + recovered (collected or waived): above zero, still
    owed to the beneficiary; below, owed back to the bureau."""
    from disbursement.entitlements import EventTimeline, entitled

    months: dict[tuple[str, str, str], _Month] = defaultdict(_Month)
    latest = current_state(trail.case_events)
    approved_runs, exported = _run_states(trail.runs)
    for pid, events in trail.payments.items():
        p = _replay(events)
        if p.cancelled or p.run_id not in approved_runs:
            continue
        i = p.instructed
        kind = money_kind(i.kind)
        m = months[(i.period, i.program, kind)]
        if kind != "monthly":
            m.due += i.amount  # due by its own decision (a grant, a supplement), once approved
        results = [e for e in events if isinstance(e, Payment.BankResult)]
        failed = any(isinstance(e, Payment.Returned | Payment.Rejected) for e in results)
        refunded = any(isinstance(e, Payment.Refunded) for e in events)
        batch = _batch(pid, events, approved_runs[p.run_id])
        m.instructed += i.amount
        if p.held or batch is None:
            m.held += i.amount
        sent = not p.held and batch is not None and batch <= exported.get(p.run_id, 0)
        if sent and not (failed or refunded):
            m.sent += i.amount
        for e in results:
            if isinstance(e, Payment.Executed):
                m.executed += e.amount if e.amount is not None else i.amount
            elif isinstance(e, Payment.Returned):
                m.returned += e.amount if e.amount is not None else i.amount
            elif isinstance(e, Payment.Rejected):
                m.returned += i.amount
    for events in trail.recoveries:
        r = _replay_recovery(events)
        if r is None or r.raised.run_id not in approved_runs or r.status == "withdrawn":
            continue
        m = months[(r.raised.period, r.raised.program, "monthly")]
        m.recovery_owed += r.raised.amount
        m.recovery_collected += r.collected
        if r.status == "waived":
            m.recovery_waived += r.raised.amount - r.collected
    if latest is not None:
        program = config.programs.get(latest.program)
        if program is not None:
            timeline = EventTimeline(trail.case_events)
            first = min((Period.parse(p) for p, _, _ in months), default=Period.of(as_of))
            start = max(Period.of(latest.start), first)
            for month in start.months_until(Period.of(as_of).next()):
                due = entitled(timeline, month, program.mid_month)
                if due or (str(month), latest.program, "monthly") in months:
                    months[(str(month), latest.program, "monthly")].due = due
    rows = []
    for (period, code, kind), m in sorted(months.items()):
        outstanding = m.due - m.sent + m.recovery_collected + m.recovery_waived
        rows.append(
            {
                "period": period,
                "program": code,
                "kind": kind,
                **{k: format_fen(getattr(m, k)) for k in MONEY_FIELDS[3:-1]},
                "outstanding": format_fen(outstanding),
            }
        )
    return rows


def _run_states(
    runs: Mapping[str, Sequence[LedgerEvent]],
) -> tuple[dict[str, dict[int, frozenset[str] | None]], dict[str, int]]:
    """Per run not cancelled: its approvals (batch 1 the run's, covering every payment not
    released after it: None; later ones, the payments they name) and the last batch exported."""
    approved: dict[str, dict[int, frozenset[str] | None]] = {}
    exported: dict[str, int] = {}
    for run_id, events in runs.items():
        if any(isinstance(e, PayoutRun.Cancelled) for e in events):
            continue
        batches: dict[int, frozenset[str] | None] = {}
        for e in events:
            if isinstance(e, PayoutRun.Approved):
                batches[1] = None
            elif isinstance(e, PayoutRun.ReleasesApproved):
                batches[e.batch] = frozenset(e.payment_ids)
        if batches:
            approved[run_id] = batches
        last = max((e.batch for e in events if isinstance(e, PayoutRun.Exported)), default=0)
        if last:
            exported[run_id] = last
    return approved, exported


def _batch(
    pid: str, events: Sequence[LedgerEvent], approved: Mapping[int, frozenset[str] | None]
) -> int | None:
    """The approval that covers the payment (1, or that of its release after the run's
    approval), None while it waits for one."""
    if not any(isinstance(e, Payment.Released) and e.needs_approval for e in events):
        return 1 if 1 in approved else None
    return next((b for b, ids in approved.items() if ids is not None and pid in ids), None)


def _replay(events: Iterable[LedgerEvent]) -> Payment:
    aggregate: Any = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return cast(Payment, aggregate)


def _replay_recovery(events: Iterable[LedgerEvent]) -> Recovery | None:
    aggregate: Any = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return cast(Recovery | None, aggregate)
