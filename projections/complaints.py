"""Read models of verification requests and complaints, and every query of them (one home).

``verification_requests``: each request with its due day and, once answered, when and by
whom (the answer's text stays in the event log). ``complaints``: each complaint as it stands
(`ledger.complaint.ComplaintState`), never who complained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from ledger.complaint import CATEGORIES, Complaint
from ledger.complaint import days_overdue as complaint_days_overdue
from ledger.events import LedgerEvent
from ledger.period import Period
from ledger.store import Database, Tx, as_date
from ledger.verification import OpenRequest, VerificationRequest
from ledger.verification import days_overdue as request_days_overdue
from projections.runner import ReadModel

# -- verification requests ----------------------------------------------------------------------

_REQUEST_COLUMNS = (
    "request_id",
    "case_id",
    "program",
    "region_code",
    "department",
    "requested_on",
    "requested_by",
    "due",
    "recorded_at",
)


class VerificationsModel(ReadModel):
    """``verification_requests``."""

    name: ClassVar[str] = "verifications"
    tables: ClassVar[tuple[str, ...]] = ("verification_requests",)
    topics: ClassVar[frozenset[str]] = frozenset(
        {VerificationRequest.Requested.TOPIC, VerificationRequest.Answered.TOPIC}
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        for e in events:  # few, and an answer may follow its request in one page
            if isinstance(e, VerificationRequest.Requested):
                tx.execute(
                    f"INSERT INTO verification_requests ({', '.join(_REQUEST_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_REQUEST_COLUMNS))})",
                    (
                        e.request_id,
                        e.case_id,
                        e.program,
                        e.region_code,
                        e.department,
                        e.requested_on,
                        e.by,
                        e.due,
                        e.timestamp.isoformat(),
                    ),
                )
            elif isinstance(e, VerificationRequest.Answered):
                tx.execute(
                    "UPDATE verification_requests SET answered_on = ?, answered_by = ? "
                    "WHERE request_id = ?",
                    (e.answered_on, e.by, e.request_id),
                )


#: Columns of ``aidledger verifications`` (and its JSON), in order.
VERIFICATION_FIELDS = (
    "request_id",
    "case_id",
    "program",
    "region_code",
    "department",
    "requested_on",
    "requested_by",
    "due",
    "status",
    "answered_on",
    "answered_by",
    "days_overdue",
    "finding_id",
)


def list_verifications(
    db: Database, *, as_of: date, overdue: bool = False, case_id: str | None = None
) -> list[dict[str, Any]]:
    """Requests, oldest due first: ``status`` open or answered, days overdue as of ``as_of``,
    and the ``verification_overdue`` finding raised about each (if any)."""
    from ledger.payment import finding_id

    sql = (
        "SELECT request_id, case_id, program, region_code, department, requested_on, "
        "requested_by, due, answered_on, answered_by FROM verification_requests"
    )
    where: list[str] = []
    params: list[Any] = []
    if overdue:
        where.append("answered_on IS NULL AND due < ?")
        params.append(as_of)
    if case_id:
        where.append("case_id = ?")
        params.append(case_id)
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.query(sql + " ORDER BY due, request_id", params)
    raised = _findings_of(db, "verification_overdue")
    out = []
    for rid, case, program, region, dept, asked_on, asked_by, due, ans_on, ans_by in rows:
        due_day, answered = _day(due), as_date(ans_on)
        fid = finding_id("verification_overdue", rid)
        out.append(
            {
                "request_id": rid,
                "case_id": case,
                "program": program,
                "region_code": region,
                "department": dept,
                "requested_on": _iso(asked_on),
                "requested_by": asked_by,
                "due": due_day.isoformat(),
                "status": "open" if answered is None else "answered",
                "answered_on": _iso(ans_on),
                "answered_by": ans_by,
                "days_overdue": request_days_overdue(due_day, answered, as_of),
                "finding_id": fid if fid in raised else None,
            }
        )
    return out


def open_requests(
    db: Database, *, due_before: date, period: Period | None = None
) -> list[OpenRequest]:
    """Unanswered requests due before ``due_before`` (only those due in ``period``, when
    given)."""
    sql = (
        "SELECT request_id, case_id, program, region_code, department, requested_on, due "
        "FROM verification_requests WHERE answered_on IS NULL AND due < ?"
    )
    params: list[Any] = [due_before]
    if period is not None:
        sql += " AND due >= ? AND due <= ?"
        params += [period.first_day, period.last_day]
    out = []
    for rid, case, program, region, dept, asked_on, due in db.query(sql + " ORDER BY due", params):
        out.append(OpenRequest(rid, case, program, region, dept, _day(asked_on), _day(due)))
    return out


# -- complaints ------------------------------------------------------------------------------------

_COMPLAINT_COLUMNS = (
    "complaint_id",
    "channel",
    "category",
    "status",
    "case_id",
    "payment_id",
    "region_code",
    "program",
    "department",
    "summary",
    "anonymous",
    "received_on",
    "due",
    "opened_by",
    "updated_at",
)


class ComplaintsModel(ReadModel):
    """``complaints``: each complaint as it stands (never who complained)."""

    name: ClassVar[str] = "complaints"
    tables: ClassVar[tuple[str, ...]] = ("complaints",)
    topics: ClassVar[frozenset[str]] = frozenset(
        {
            Complaint.Opened.TOPIC,
            Complaint.Assigned.TOPIC,
            Complaint.Commented.TOPIC,
            Complaint.Referred.TOPIC,
            Complaint.Responded.TOPIC,
            Complaint.Resolved.TOPIC,
            Complaint.Reopened.TOPIC,
        }
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        for e in events:  # few; acts update the row their complaint's opening made
            at = e.timestamp.isoformat()
            if isinstance(e, Complaint.Opened):
                tx.execute(
                    f"INSERT INTO complaints ({', '.join(_COMPLAINT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_COMPLAINT_COLUMNS))})",
                    (
                        e.complaint_id,
                        e.channel,
                        e.category,
                        "received",
                        e.case_id,
                        e.payment_id,
                        e.region_code,
                        e.program,
                        e.department,
                        e.summary,
                        int(e.anonymous),
                        e.received_on,
                        e.due,
                        e.by,
                        at,
                    ),
                )
                continue
            if isinstance(e, Complaint.Commented):
                tx.execute(
                    "UPDATE complaints SET comments = comments + 1, updated_at = ? "
                    "WHERE complaint_id = ?",
                    (at, e.complaint_id),
                )
                continue
            if not isinstance(e, Complaint.Act):
                continue
            sets, values = _complaint_update(e)
            tx.execute(
                f"UPDATE complaints SET {', '.join(f'{c} = ?' for c in sets)}, updated_at = ? "
                "WHERE complaint_id = ?",
                (*values, at, e.complaint_id),
            )


def _complaint_update(e: Complaint.Act) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The columns an act changes, and their values (as `Complaint.Act.apply_state` does)."""
    if isinstance(e, Complaint.Assigned):
        return ("status", "assigned_to"), ("assigned", e.assignee)
    if isinstance(e, Complaint.Referred):
        return ("status", "referred_to"), ("referred", e.referred_to)
    if isinstance(e, Complaint.Responded):
        return ("status", "responded_on"), ("responded", e.on)
    if isinstance(e, Complaint.Resolved):
        columns = ("status", "outcome", "resolved_on", "resolved_by")
        values: tuple[Any, ...] = ("resolved", e.outcome, e.on, e.by)
        if e.finding_id:
            return (*columns, "finding_id"), (*values, e.finding_id)
        return columns, values
    if isinstance(e, Complaint.Reopened):
        return (
            ("status", "due", "responded_on", "outcome", "resolved_on", "resolved_by"),
            ("reopened", e.due, None, None, None, None),
        )
    raise TypeError(f"no update for {type(e).__name__}")  # a new act needs its columns here


#: Columns of ``aidledger complaints`` (and its JSON), in order.
COMPLAINT_FIELDS = (
    "complaint_id",
    "received_on",
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
    "opened_by",
    "assigned_to",
    "referred_to",
    "due",
    "responded_on",
    "days_overdue",
    "outcome",
    "resolved_on",
    "resolved_by",
    "finding_id",
    "comments",
)

#: The statuses `list_complaints` takes: each of `ledger.complaint.STATUSES`, ``open`` (all
#: but resolved) and ``all``.
NOT_RESOLVED = "status <> 'resolved'"


def list_complaints(
    db: Database, *, as_of: date, status: str = "open", overdue: bool = False
) -> list[dict[str, Any]]:
    """Complaints, oldest due first, with days overdue as of ``as_of`` (without a reply past
    the due day); ``overdue``: only those."""
    sql = (
        "SELECT complaint_id, received_on, channel, category, status, case_id, payment_id, "
        "region_code, program, department, anonymous, summary, opened_by, assigned_to, "
        "referred_to, due, responded_on, outcome, resolved_on, resolved_by, finding_id, "
        "comments FROM complaints"
    )
    where: list[str] = []
    params: list[Any] = []
    if status == "open":
        where.append(NOT_RESOLVED)
    elif status != "all":
        where.append("status = ?")
        params.append(status)
    if overdue:
        where.append(f"{NOT_RESOLVED} AND responded_on IS NULL AND due < ?")
        params.append(as_of)
    if where:
        sql += " WHERE " + " AND ".join(where)
    out = []
    for row in db.query(sql + " ORDER BY due, complaint_id", params):
        record = dict(zip([f for f in COMPLAINT_FIELDS if f != "days_overdue"], row, strict=True))
        due = _day(record["due"])
        replied = record["status"] == "resolved" or record["responded_on"] is not None
        record["days_overdue"] = complaint_days_overdue(due, replied, as_of)
        record["anonymous"] = bool(record["anonymous"])
        for day in ("received_on", "due", "responded_on", "resolved_on"):
            record[day] = _iso(record[day])
        out.append({f: record[f] for f in COMPLAINT_FIELDS})
    return out


@dataclass(frozen=True)
class ComplaintCounts:
    """Complaints not resolved, and those of them overdue, per category (every category)."""

    open: dict[str, int]
    overdue: dict[str, int]


def complaint_counts(db: Database, as_of: date) -> ComplaintCounts:
    """For the metrics: per category, complaints not resolved and those without a reply past
    their due day as of ``as_of`` (0 for a category without any)."""
    opened = dict.fromkeys(CATEGORIES, 0)
    late = dict.fromkeys(CATEGORIES, 0)
    for category, n, overdue in db.query(
        "SELECT category, COUNT(*), "
        "SUM(CASE WHEN responded_on IS NULL AND due < ? THEN 1 ELSE 0 END) "
        f"FROM complaints WHERE {NOT_RESOLVED} GROUP BY category",
        (as_of,),
    ):
        opened[str(category)] = int(n)
        late[str(category)] = int(overdue or 0)
    return ComplaintCounts(opened, late)


def next_complaint_number(db: Database, received_on: date) -> int:
    """The number of the next complaint received on ``received_on``."""
    rows = db.query("SELECT COUNT(*) FROM complaints WHERE received_on = ?", (received_on,))
    return int(rows[0][0]) + 1


# -- shared ------------------------------------------------------------------------------------


def _findings_of(db: Database, type_: str) -> set[str]:
    return {str(r[0]) for r in db.query("SELECT finding_id FROM findings WHERE type = ?", (type_,))}


def _day(value: Any) -> date:
    """A date of a NOT NULL column."""
    day = as_date(value)
    if day is None:
        raise ValueError("a NOT NULL date column held NULL")
    return day


def _iso(value: Any) -> str | None:
    day = as_date(value)
    return day.isoformat() if day is not None else None
