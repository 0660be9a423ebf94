"""Complaints (举报投诉): record, assign, comment, refer, answer, resolve, reopen; list; history.

Every act gets the complaint, gathers what its duties need (the actor as they stand today, the
people and account of its case for 回避, who decided or approved its case), lets the aggregate
(`ledger.complaint.Complaint`) check and record, and saves. Resolving a fraud or favouritism
complaint as (partly) substantiated raises a ``complaint_substantiated`` finding in the same
save, and the complaint keeps its id; resolving it so again reopens that finding if it was
resolved meanwhile.

Who complained is never returned by anything here: the listing reads the read model (which
does not have it), and the history leaves out `ledger.complaint.PRIVATE_FIELDS`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.case import CaseDecision, case_aggregate_id
from ledger.complaint import (
    FINDING_TYPE,
    PRIVATE_FIELDS,
    Complaint,
    ComplaintState,
    Subject,
    check_complainant,
    check_one_subject,
    complaint_aggregate_id,
    complaint_id,
    complaint_state,
    due_date,
    raises_finding,
)
from ledger.duties import Actor
from ledger.errors import NotFound
from ledger.events import LedgerEvent
from ledger.history import event_record
from ledger.ids import parse_region_code
from ledger.payment import (
    Finding,
    Parties,
    Payment,
    PayoutRun,
    finding_aggregate_id,
    finding_id,
    payment_aggregate_id,
    run_aggregate_id,
)
from ledger.period import Period
from ledger.service import LedgerService
from projections.complaints import list_complaints, next_complaint_number
from projections.registers import load_cases


class Complaints(LedgerService):
    """The complaints register and its workflow."""

    # -- recording ----------------------------------------------------------------------------

    def open(
        self,
        *,
        channel: str,
        category: str,
        summary: str,
        case_id: str | None = None,
        payment_id: str | None = None,
        region: str | None = None,
        anonymous: bool = False,
        complainant: str | None = None,
        phone: str | None = None,
        by: str | Actor,
    ) -> ComplaintState:
        """Record a complaint received today (caseworker); its reply is due after its
        category's ``complaint_days``."""
        self.sync()
        actor = self.actor(by)
        check_one_subject(case_id, payment_id, region)
        person = check_complainant(anonymous, complainant, phone)
        subject = self._subject(case_id, payment_id, region)
        days = self.config.complaints.days_for(category)
        n = next_complaint_number(self.db, self.today)
        while self._get(complaint_id(self.today, n)) is not None:  # a read model behind the log
            n += 1
        complaint = Complaint.receive(
            actor,
            cid=complaint_id(self.today, n),
            channel=channel,
            category=category,
            summary=summary,
            subject=subject,
            parties=self._parties(subject),
            complainant=person,
            received_on=self.today,
            due=due_date(self.today, days),
        )
        self.app.save(complaint)
        self.sync()
        return complaint.state

    def assign(self, cid: str, *, to: str, by: str | Actor) -> ComplaintState:
        """A supervisor assigns the complaint to a staff member."""
        self.sync()
        complaint = self._complaint(cid)
        subject = _subject_of(complaint.state)
        complaint.assign(
            self.actor(by),
            to=self.actor(to),
            parties=self._parties(subject),
            deciders=self._deciders(subject),
            on=self.today,
        )
        return self._save(complaint)

    def comment(self, cid: str, *, text: str, by: str | Actor) -> ComplaintState:
        self.sync()
        complaint = self._complaint(cid)
        complaint.comment(self.actor(by), text=text, on=self.today)
        return self._save(complaint)

    def refer(self, cid: str, *, to: str, reason: str, by: str | Actor) -> ComplaintState:
        """Pass the complaint to another body (caseworker or supervisor)."""
        self.sync()
        complaint = self._complaint(cid)
        complaint.refer(
            self.actor(by),
            to=to,
            reason=reason,
            parties=self._parties(_subject_of(complaint.state)),
            on=self.today,
        )
        return self._save(complaint)

    def respond(self, cid: str, *, reply: str, by: str | Actor) -> ComplaintState:
        """Record the reply given to the complainant: it stops the reply's clock."""
        self.sync()
        complaint = self._complaint(cid)
        complaint.respond(
            self.actor(by),
            reply=reply,
            parties=self._parties(_subject_of(complaint.state)),
            on=self.today,
        )
        return self._save(complaint)

    def resolve(self, cid: str, *, outcome: str, detail: str, by: str | Actor) -> ComplaintState:
        """Resolve with an outcome (supervisor, not a decider of its case); a substantiated
        fraud or favouritism complaint raises (or reopens) its finding."""
        self.sync()
        actor = self.actor(by)
        complaint = self._complaint(cid)
        state = complaint.state
        subject = _subject_of(state)
        fid = finding_id(FINDING_TYPE, cid) if raises_finding(state.category, outcome) else None
        complaint.resolve(
            actor,
            outcome=outcome,
            detail=detail,
            parties=self._parties(subject),
            deciders=self._deciders(subject),
            finding_id=fid,
            on=self.today,
        )
        finding = self._finding_for(complaint.state, fid, actor) if fid else None
        # One save: the resolution and its finding are recorded together or not at all.
        self.app.save(complaint, *([finding] if finding is not None else []))
        self.sync()
        return complaint.state

    def reopen(self, cid: str, *, reason: str, by: str | Actor) -> ComplaintState:
        """Reopen a resolved complaint (supervisor): a new reply is due after its category's
        ``complaint_days`` from today."""
        self.sync()
        complaint = self._complaint(cid)
        days = self.config.complaints.days_for(complaint.state.category)
        complaint.reopen(
            self.actor(by), reason=reason, due=due_date(self.today, days), on=self.today
        )
        return self._save(complaint)

    # -- reading -----------------------------------------------------------------------------

    def list(
        self, *, status: str = "open", overdue: bool = False, as_of: date | None = None
    ) -> list[dict[str, Any]]:
        """Complaints with their days overdue as of ``as_of`` (default today); never who
        complained."""
        return list_complaints(self.db, as_of=as_of or self.today, status=status, overdue=overdue)

    def history(
        self, cid: str, *, as_of: date, known_at: date | None, timezone: str
    ) -> dict[str, Any]:
        """Every event of a complaint (recorded by the end of ``known_at``, when given) and
        its state as it stood on ``as_of``; who complained is never in it."""
        from projections.trail import end_of_day

        events: list[LedgerEvent] = list(self.app.events.get(complaint_aggregate_id(cid)))  # type: ignore[arg-type]
        if not events:
            raise NotFound(f"no complaint {cid!r} (aidledger complaints lists them)")
        if known_at is not None:
            moment = end_of_day(known_at, timezone)
            events = [e for e in events if e.timestamp <= moment]
        state = complaint_state(events, as_of) if events else None
        directory = self.directory()
        records = []
        for e in events:
            record = public_record(e)
            record["by_name"] = directory.name_of(record["by"])
            records.append(record)
        return {
            "complaint_id": cid,
            "as_of": as_of.isoformat(),
            "known_at": known_at.isoformat() if known_at else None,
            "state": state_document(state, as_of),
            "events": records,
        }

    # -- what the duties need ---------------------------------------------------------------

    def _subject(self, case_id: str | None, payment_id: str | None, region: str | None) -> Subject:
        """The case, payment or region a complaint is about, as the read models have it."""
        if case_id:
            found = load_cases(self.db, [case_id]).get(case_id)
            if found is None:
                raise NotFound(f"no case {case_id!r}")
            state = found[0]
            program = self.config.programs.get(state.program)
            return Subject(
                case_id=case_id,
                region_code=state.region_code,
                program=state.program,
                department=program.department if program else None,
            )
        if payment_id:
            rows = self.db.query(
                "SELECT case_id, region_code, program, department FROM payments "
                "WHERE payment_id = ?",
                (payment_id,),
            )
            if not rows:
                raise NotFound(f"no payment {payment_id!r}")
            case, region_code, program_code, department = rows[0]
            return Subject(case, payment_id, region_code, program_code, department)
        if region:
            return Subject(region_code=parse_region_code(region))
        return Subject()

    def _parties(self, subject: Subject) -> Parties:
        """The people and account of the complaint's case and payment (for 回避)."""
        parties = self.case_parties(subject.case_id) if subject.case_id else Parties()
        if subject.payment_id:
            payment: Payment = self.app.repository.get(payment_aggregate_id(subject.payment_id))
            parties = parties.plus(Parties.of_payment(payment.instructed))
        return parties

    def _deciders(self, subject: Subject) -> set[str]:
        """Who decided or approved the complaint's case (every decision of it), and who
        prepared or approved its payment's run."""
        out: set[str] = set()
        if subject.case_id:
            for e in self.app.events.get(case_aggregate_id(subject.case_id)):
                if isinstance(e, CaseDecision):
                    out |= {e.decided_by, e.approved_by}
        if subject.payment_id:
            payment: Payment = self.app.repository.get(payment_aggregate_id(subject.payment_id))
            run: PayoutRun = self.app.repository.get(run_aggregate_id(payment.run_id))
            out |= {*run.preparers, run.approved_by or ""}
        return out - {""}

    def _finding_for(self, state: ComplaintState, fid: str, actor: Actor) -> Finding | None:
        """The finding a substantiated complaint raises: new, reopened if it was resolved, or
        None when it is open already (nothing to record)."""
        try:
            finding: Finding = self.app.repository.get(finding_aggregate_id(fid))
        except AggregateNotFoundError:
            return Finding.new(
                by=actor.staff_id,
                finding_id=fid,
                type=FINDING_TYPE,
                period=str(Period.of(self.today)),
                program=state.program,
                department=state.department,
                region_code=state.region_code,
                case_id=state.case_id,
                payment_id=state.payment_id,
                amount=None,
                detail=(
                    f"complaint {state.complaint_id} ({state.category}) resolved "
                    f"{state.outcome} on {self.today.isoformat()}: act on it "
                    f"(aidledger complaint history {state.complaint_id})"
                ),
            )
        if finding.status == "resolved":
            finding.reopen(
                by=actor.staff_id,
                detail=f"complaint {state.complaint_id} resolved {state.outcome} again",
            )
            return finding
        return None

    def _complaint(self, cid: str) -> Complaint:
        complaint = self._get(cid)
        if complaint is None:
            raise NotFound(f"no complaint {cid!r} (aidledger complaints lists them)")
        return complaint

    def _get(self, cid: str) -> Complaint | None:
        try:
            return self.app.repository.get(complaint_aggregate_id(cid))
        except AggregateNotFoundError:
            return None

    def _save(self, complaint: Complaint) -> ComplaintState:
        self.app.save(complaint)
        self.sync()
        return complaint.state


def _subject_of(state: ComplaintState) -> Subject:
    return Subject(
        state.case_id, state.payment_id, state.region_code, state.program, state.department
    )


def public_record(event: LedgerEvent) -> dict[str, Any]:
    """An event of a complaint as shown: its fields, never who complained (for the opening:
    whether the complainant was anonymous, or left a name and phone not shown)."""
    record = event_record(event)
    for name in PRIVATE_FIELDS:
        record.pop(name, None)
    if isinstance(event, Complaint.Opened):
        record["complainant"] = "anonymous" if event.anonymous else "given (not shown)"
    return record


#: The fields of a complaint's state, as its history shows them.
STATE_FIELDS = (
    "complaint_id",
    "channel",
    "category",
    "status",
    "case_id",
    "payment_id",
    "region_code",
    "program",
    "department",
    "anonymous",
    "summary",
    "received_on",
    "opened_by",
    "due",
    "assigned_to",
    "referred_to",
    "responded_on",
    "outcome",
    "resolved_on",
    "resolved_by",
    "finding_id",
    "comments",
)


def state_document(state: ComplaintState | None, as_of: date) -> dict[str, Any] | None:
    """A complaint's state as JSON-ready data, with its days overdue as of ``as_of``."""
    if state is None:
        return None
    out: dict[str, Any] = {}
    for name in STATE_FIELDS:
        value = getattr(state, name)
        out[name] = value.isoformat() if isinstance(value, date) else value
    out["days_overdue"] = state.days_overdue(as_of)
    return out
