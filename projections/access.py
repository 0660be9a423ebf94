"""The access log's read model (``access_log``, ``access_log_cases``) and its listing.

Built from the ``AccessRecorded`` events (`ledger.access`): one row per view, and one row per
case a view showed, so ``aidledger access-log --case C`` finds the case's history views and
the listings that showed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, ClassVar

from ledger.access import AccessRecord, check_may_read_access_log
from ledger.duties import Actor
from ledger.events import LedgerEvent
from ledger.service import LedgerService
from ledger.sessions import stamp
from ledger.store import Tx
from projections.runner import ReadModel
from projections.trail import end_of_day

#: Columns of ``aidledger access-log`` (and its JSON), in order.
ACCESS_FIELDS = (
    "recorded_at",
    "staff_id",
    "channel",
    "kind",
    "subject",
    "cases",
    "reason",
    "access_id",
)


class AccessLogModel(ReadModel):
    """``access_log`` and ``access_log_cases`` from ``AccessRecorded``."""

    name: ClassVar[str] = "access_log"
    tables: ClassVar[tuple[str, ...]] = ("access_log", "access_log_cases")
    topics: ClassVar[frozenset[str]] = frozenset({AccessRecord.Recorded.TOPIC})

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        views = [e for e in events if isinstance(e, AccessRecord.Recorded)]
        tx.executemany(
            "INSERT INTO access_log (access_id, recorded_at, staff_id, channel, kind, subject, "
            "cases, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.originator_id.hex,
                    stamp(e.timestamp),
                    e.by,
                    e.channel,
                    e.kind,
                    e.subject,
                    len(e.case_ids),
                    e.reason,
                )
                for e in views
            ],
        )
        cases = [(e.originator_id.hex, c) for e in views for c in dict.fromkeys(e.case_ids)]
        if cases:
            tx.executemany("INSERT INTO access_log_cases (access_id, case_id) VALUES (?, ?)", cases)


class AccessLog(LedgerService):
    """Reading the access log (auditors, supervisors, admins)."""

    timezone: str = "Asia/Shanghai"

    def entries(
        self,
        reader: Actor | None,
        *,
        case_id: str | None = None,
        staff_id: str | None = None,
        since: date | None = None,
    ) -> list[dict[str, Any]]:
        """Views of personal data, newest first: of one case, by one staff member, since a
        day (from its start in the bureau's time zone). ``reader`` must be one who reads the
        log (`check_may_read_access_log`); None: the store's operator."""
        if reader is not None:
            check_may_read_access_log(reader)
        self.sync()
        sql = f"SELECT {', '.join(f'a.{c}' for c in ACCESS_FIELDS)} FROM access_log a"
        where: list[str] = []
        params: list[Any] = []
        if case_id:
            where.append(
                "a.access_id IN (SELECT access_id FROM access_log_cases WHERE case_id = ?)"
            )
            params.append(case_id)
        if staff_id:
            where.append("a.staff_id = ?")
            params.append(staff_id)
        if since is not None:
            where.append("a.recorded_at > ?")
            params.append(stamp(end_of_day(since - timedelta(days=1), self.timezone)))
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.query(sql + " ORDER BY a.recorded_at DESC, a.access_id", params)
        return [dict(zip(ACCESS_FIELDS, row, strict=True)) | {"cases": int(row[5])} for row in rows]
