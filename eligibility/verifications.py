"""Verification requests to other departments (核查): ask, record the answer, list.

``aidledger verification request --case C --department D --due DATE --by STAFF`` asks a
department to verify something about a case; ``verification answer REQ --detail TEXT``
records what it said. A request unanswered after its due day raises a
``verification_overdue`` finding (`reconciliation.service`: reconcile, and the daily job);
the answer closes that finding. The duties are the aggregate's
(`ledger.verification.VerificationRequest`); this service gathers what they need, then saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.duties import Actor
from ledger.errors import NotFound
from ledger.payment import Finding, finding_aggregate_id, finding_id
from ledger.service import LedgerService
from ledger.verification import (
    OVERDUE_FINDING,
    VERIFYING_DEPARTMENTS,
    CaseFacts,
    VerificationRefused,
    VerificationRequest,
    request_aggregate_id,
    request_id,
)
from projections.complaints import list_verifications
from projections.registers import load_cases


@dataclass(frozen=True)
class Requested:
    request_id: str
    case_id: str
    department: str
    due: date
    new: bool  # False: the same request was made today already (nothing recorded)


@dataclass(frozen=True)
class Answered:
    request_id: str
    closed_finding: str | None  # the verification_overdue finding the answer closed


class Verifications(LedgerService):
    """Requests to other departments about cases, and their answers."""

    def departments(self) -> list[str]:
        """The departments a request may go to: the verifying ones and the paying ones."""
        return sorted({*VERIFYING_DEPARTMENTS, *self.config.departments})

    def request(self, *, case_id: str, department: str, due: date, by: str | Actor) -> Requested:
        """Ask ``department`` to verify something about a case, due by ``due`` (caseworker).
        The same request again on the same day records nothing."""
        self.sync()
        actor = self.actor(by)
        found = load_cases(self.db, [case_id]).get(case_id)
        if found is None:
            raise NotFound(f"no case {case_id!r}")
        state = found[0]
        rid = request_id(case_id, department, self.today)
        existing = self._get(rid)
        if existing is not None:
            if existing.requested.due != due:
                raise VerificationRefused(
                    f"{rid}: {department} was asked about case {case_id} today already, due "
                    f"{existing.requested.due.isoformat()}: nothing recorded (one request a "
                    "day per case and department)"
                )
            return Requested(rid, case_id, department, due, new=False)
        request = VerificationRequest.ask(
            actor,
            case=CaseFacts(case_id, state.program, state.region_code),
            department=department,
            known_departments=self.departments(),
            parties=self.case_parties(case_id),
            requested_on=self.today,
            due=due,
        )
        self.app.save(request)
        self.sync()
        return Requested(rid, case_id, department, due, new=True)

    def answer(self, rid: str, *, detail: str, by: str | Actor) -> Answered:
        """Record a department's answer (caseworker); it closes the request's
        ``verification_overdue`` finding, if one is open."""
        self.sync()
        actor = self.actor(by)
        request = self._get(rid)
        if request is None:
            raise NotFound(f"no verification request {rid!r} (aidledger verifications lists them)")
        request.answer(
            actor,
            detail=detail,
            parties=self.case_parties(request.requested.case_id),
            on=self.today,
        )
        closed = None
        finding = self._finding(finding_id(OVERDUE_FINDING, rid))
        if finding is not None and finding.status != "resolved":
            finding.close(
                by=actor.staff_id,
                comment=f"verification request {rid} answered on {self.today.isoformat()}",
            )
            closed = finding.finding_id
        # One save: the answer and the finding it closes are recorded together or not at all.
        self.app.save(request, *([finding] if closed else []))
        self.sync()
        return Answered(rid, closed)

    def list(
        self, *, overdue: bool = False, case_id: str | None = None, as_of: date | None = None
    ) -> list[dict[str, Any]]:
        """Requests with their status and days overdue as of ``as_of`` (default today)."""
        return list_verifications(
            self.db, as_of=as_of or self.today, overdue=overdue, case_id=case_id
        )

    def _get(self, rid: str) -> VerificationRequest | None:
        try:
            return self.app.repository.get(request_aggregate_id(rid))
        except AggregateNotFoundError:
            return None

    def _finding(self, fid: str) -> Finding | None:
        try:
            return self.app.repository.get(finding_aggregate_id(fid))
        except AggregateNotFoundError:
            return None
