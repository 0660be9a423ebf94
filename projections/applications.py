"""The applications read model: each application as it stands, and each of its steps.

``applications`` (one row per application: its case, program, applicant, status, approval)
and ``application_steps`` (one row per step, in the order recorded). A new case's gate reads
the approved applications of its case (`approved_for_cases`), ``case history`` the one that
led to the case (`application_of_case`), and the pre-approval notice the steps of the
applications whose notice runs on a day (`notice_steps`). The steps themselves, for an
application's history, are read from the event log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from ledger.applications import Application, ApprovedApplication
from ledger.events import LedgerEvent
from ledger.ids import county_of
from ledger.store import Database, Tx, as_date, param_chunks
from projections.runner import ReadModel

_APPLICATION_COLUMNS = (
    "application_id",
    "aggregate_id",
    "version",
    "case_id",
    "program",
    "region_code",
    "county",
    "name",
    "id_number",
    "applied_on",
    "status",
    "last_step",
    "last_on",
    "approved_on",
    "approved_by",
    "source",
)
_STEP_COLUMNS = (
    "application_id",
    "version",
    "step",
    "taken_on",
    "staff_id",
    "outcome",
    "detail",
    "source",
    "recorded_by",
    "recorded_at",
)
#: Where an ``applications`` row holds personal values (sealed with a key: `ledger.sealing`).
_APPLICANT_PERSONAL = tuple(_APPLICATION_COLUMNS.index(c) for c in ("name", "id_number"))
#: The status an ending step gives an application.
_STATUS = {"approve": "approved", "reject": "rejected"}


class ApplicationsModel(ReadModel):
    """``applications`` and ``application_steps`` from the applications' events."""

    name: ClassVar[str] = "applications"
    tables: ClassVar[tuple[str, ...]] = ("applications", "application_steps")
    topics: ClassVar[frozenset[str]] = frozenset(
        {Application.Made.TOPIC, Application.StepTaken.TOPIC}
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        made: list[tuple[Any, ...]] = []
        steps: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for e in events:
            if isinstance(e, Application.Made):
                made.append(
                    (
                        e.application_id,
                        str(e.originator_id),
                        e.originator_version,
                        e.case_id,
                        e.program,
                        e.region_code,
                        county_of(e.region_code),
                        e.name,
                        e.id_number,
                        e.taken_on,
                        "open",
                        "apply",
                        e.taken_on,
                        None,
                        None,
                        e.source,
                    )
                )
                steps.append(_step_row(e, "apply"))
            elif isinstance(e, Application.StepTaken):
                steps.append(_step_row(e, e.step))
                status = _STATUS.get(e.step)
                updates.append(
                    (
                        e.originator_version,
                        e.step,
                        e.taken_on,
                        status,
                        e.taken_on if e.step == "approve" else None,
                        e.staff_id if e.step == "approve" else None,
                        e.source,
                        e.application_id,
                    )
                )
        marks = ", ".join("?" * len(_APPLICATION_COLUMNS))
        tx.executemany(
            f"INSERT INTO applications ({', '.join(_APPLICATION_COLUMNS)}) VALUES ({marks})",
            tx.sealer.seal_rows(made, _APPLICANT_PERSONAL),
        )
        tx.executemany(
            f"INSERT INTO application_steps ({', '.join(_STEP_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_STEP_COLUMNS))})",
            steps,
        )
        # In log order, after the inserts: a page may hold an application and its steps.
        tx.executemany(
            "UPDATE applications SET version = ?, last_step = ?, last_on = ?, "
            "status = COALESCE(?, status), approved_on = COALESCE(?, approved_on), "
            "approved_by = COALESCE(?, approved_by), source = ? WHERE application_id = ?",
            updates,
        )


def _step_row(e: Application.Made | Application.StepTaken, step: str) -> tuple[Any, ...]:
    return (
        e.application_id,
        e.originator_version,
        step,
        e.taken_on,
        e.staff_id,
        e.outcome,
        e.detail,
        e.source,
        e.by,
        e.timestamp.isoformat(),
    )


def approved_for_cases(
    db: Database, case_ids: Sequence[str]
) -> dict[tuple[str, str], list[ApprovedApplication]]:
    """The approved applications of these cases, by (case_id, program), each with the staff
    who took its steps (a query per 500 cases)."""
    found: dict[str, ApprovedApplication] = {}
    for chunk in param_chunks(sorted(set(case_ids))):
        marks = ", ".join("?" * len(chunk))
        rows = db.query(
            "SELECT a.application_id, a.case_id, a.program, a.region_code, a.id_number, "
            "a.approved_on, a.approved_by, s.staff_id FROM applications a "
            "JOIN application_steps s ON s.application_id = a.application_id "
            f"WHERE a.status = 'approved' AND a.case_id IN ({marks}) "
            "ORDER BY a.application_id, s.version",
            chunk,
        )
        staff: dict[str, set[str]] = {}
        for app_id, case_id, program, region, id_number, on, by, staff_id in rows:
            staff.setdefault(app_id, set()).add(staff_id)
            found[app_id] = ApprovedApplication(
                app_id,
                case_id,
                program,
                region,
                db.sealer.open(id_number),
                as_date(on),  # type: ignore[arg-type]
                by,
                frozenset(staff[app_id]),
            )
    out: dict[tuple[str, str], list[ApprovedApplication]] = {}
    for a in found.values():
        out.setdefault((a.case_id, a.program), []).append(a)
    return out


def application_of_case(db: Database, case_id: str, program: str) -> dict[str, Any] | None:
    """The application that led to a case: its latest approved one for the case's program
    (else its latest), as ``case history`` shows it; None if it has none."""
    rows = db.query(
        "SELECT application_id, status, applied_on, approved_on, approved_by, version "
        "FROM applications WHERE case_id = ? AND program = ? "
        "ORDER BY CASE WHEN status = 'approved' THEN 0 ELSE 1 END, approved_on DESC, "
        "applied_on DESC LIMIT 1",
        (case_id, program),
    )
    if not rows:
        return None
    app_id, status, applied, approved_on, approved_by, steps = rows[0]
    return {
        "application_id": app_id,
        "status": status,
        "applied_on": _iso(applied),
        "approved_on": _iso(approved_on),
        "approved_by": approved_by,
        "steps": int(steps),
    }


def _iso(value: Any) -> str | None:
    day = as_date(value)
    return day.isoformat() if day is not None else None


@dataclass(frozen=True)
class NoticeStep:
    """A step of an application found by `notice_steps`, with its application's applicant."""

    application_id: str
    case_id: str
    program: str
    region_code: str
    name: str
    id_number: str
    step: str
    taken_on: date
    staff_id: str
    outcome: str
    detail: str


def notice_steps(db: Database, region: str, since: date, until: date) -> list[NoticeStep]:
    """The steps, up to ``until``, of the applications of ``region`` (a prefix) with a notice
    dated from ``since`` to ``until``: those whose notice may run on ``until``. In recorded
    order per application (dates never go back within one)."""
    rows = db.query(
        "SELECT a.application_id, a.case_id, a.program, a.region_code, a.name, a.id_number, "
        "s.step, s.taken_on, s.staff_id, s.outcome, s.detail FROM applications a "
        "JOIN application_steps s ON s.application_id = a.application_id "
        "WHERE a.region_code LIKE ? AND s.taken_on <= ? AND a.application_id IN ("
        "SELECT application_id FROM application_steps WHERE step = 'notice' "
        "AND taken_on >= ? AND taken_on <= ?) "
        "ORDER BY a.region_code, a.application_id, s.version",
        (f"{region}%", until, since, until),
    )
    out = []
    for app_id, case_id, program, region, name, id_number, step, on, by, outcome, detail in rows:
        day = as_date(on)
        if day is not None:
            out.append(
                NoticeStep(
                    app_id,
                    case_id,
                    program,
                    region,
                    db.sealer.open(name),
                    db.sealer.open(id_number),
                    step,
                    day,
                    by,
                    outcome,
                    detail,
                )
            )
    return out


#: The columns of the applications list: no name or id number (those are the history's).
APPLICATION_LIST_FIELDS = tuple(
    c
    for c in _APPLICATION_COLUMNS
    if c not in ("aggregate_id", "version", "county", "name", "id_number", "source")
)


def list_applications(
    db: Database, *, status: str | None = None, region: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Applications, latest step first: ``status`` (open, approved, rejected…) and a region
    code or its first digits narrow them; at most ``limit``. Never a name or an id number."""
    where: list[str] = []
    params: list[Any] = []
    if status:
        where.append("status = ?")
        params.append(status)
    if region:
        where.append("region_code LIKE ?")
        params.append(region + "%")
    sql = (
        f"SELECT {', '.join(APPLICATION_LIST_FIELDS)} FROM applications"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY last_on DESC, application_id LIMIT ?"
    )
    rows = db.query(sql, (*params, limit))
    return [
        {
            f: _iso(v) if f.endswith("_on") else v
            for f, v in zip(APPLICATION_LIST_FIELDS, r, strict=True)
        }
        for r in rows
    ]
