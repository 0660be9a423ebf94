"""The console's casework sections: applications (the list and one application's history),
the cases due for review, the caseload's movements (增减变动, with CSV and XLSX), and
complaints (the queue and the intake form).

As in `console.sections`, each page asks the services the command line asks (``application
history``, ``reviews due``, ``report movements``, ``complaints``, ``complaint open``) as the
logged-in staff member, and no rule lives here. An application's history shows its
applicant's name and id number masked for everyone: the case's timeline (recorded in the
access log) is where they are seen in clear. Who complained is never shown, as on the
command line. Reviews due and movements carry no personal data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from console.flash import Flash
from console.sections import CSV, XLSX, csv_bytes, day_of, period_of, text
from ledger.errors import InvalidValue, NotFound
from ledger.masking import masked

if TYPE_CHECKING:
    from console.pages import Pages, Visit

#: The complaint statuses the queue filters by (``open``: every one but resolved).
COMPLAINT_STATUSES = (
    "open", "received", "assigned", "referred", "responded", "resolved", "reopened", "all"
)  # fmt: skip


class ApplicationPages:
    """Applications for assistance: the list (by status and region) and one application's
    steps, as of a day and as known at a day."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/applications", self.list_page, methods=["GET"]),
            Route("/applications/{application_id}", self.history, methods=["GET"]),
        ]

    async def list_page(self, request: Request) -> Response:
        from projections.applications import list_applications

        def work(v: Visit) -> dict[str, Any]:
            region = region_prefix(v.param("region"))
            rows = list_applications(v.ws.db, status=v.param("status") or None, region=region)
            return {"rows": rows}

        return await self.pages.show(request, "applications.html", work)

    async def history(self, request: Request) -> Response:
        from eligibility.applications import (
            Steps,
            application_events,
            history_document,
            names_of_staff_in,
        )

        application_id = request.path_params["application_id"]

        def work(v: Visit) -> dict[str, Any]:
            events = application_events(v.ws.service(Steps), application_id)
            if not events:
                raise NotFound(f"no application {application_id!r}")
            db = v.ws.db
            names = names_of_staff_in(db, events)
            doc = history_document(
                application_id,
                events,
                as_of=day_of(v.param("as_of")) or v.ws.today,
                known_at=day_of(v.param("known_at")),
                timezone=v.ws.settings.timezone,
                notice_days=v.ws.config.chain.notice_days,
                staff_names=names,
            )
            return {"application": masked(doc, False)}

        return await self.pages.show(request, "application.html", work)


def region_prefix(value: str) -> str:
    """A region filter: a code or its first digits ('' for all)."""
    if value and not (value.isascii() and value.isdigit()):
        raise InvalidValue("地区代码只能是数字 (the region: a code or its first digits)")
    return value


class ReviewPages:
    """The cases due for review (定期核查) by a day, most overdue first: ``reviews due``."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/reviews", self.due, methods=["GET"])]

    async def due(self, request: Request) -> Response:
        from eligibility.reviewing import Reviews

        def work(v: Visit) -> dict[str, Any]:
            as_of = day_of(v.param("as_of")) or v.ws.today
            region = region_prefix(v.param("region"))
            due = v.ws.service(Reviews).due(as_of, reader=v.me)
            rows = [d for d in due if d.region_code.startswith(region)]
            return {"as_of": as_of, "rows": rows}

        return await self.pages.show(request, "reviews.html", work)


class MovementPages:
    """A month's caseload movements (增减变动) by program, department and region, each day
    as the ledger knew it then: ``report movements``, with CSV and XLSX."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/movements", self.report, methods=["GET"]),
            Route("/movements.csv", self.movements_csv, methods=["GET"]),
            Route("/movements.xlsx", self.movements_xlsx, methods=["GET"]),
        ]

    @staticmethod
    def _movements(v: Visit) -> tuple[str, list[str], list[dict[str, Any]]]:
        from eligibility.caseload import Caseload, parse_movement_dimensions
        from ledger.period import Period

        period = period_of(v.param("period"))
        chosen = v.request.query_params.getlist("by")
        dims = parse_movement_dimensions(",".join(chosen) if chosen else "program,region")
        caseload = v.ws.service(Caseload)
        caseload.timezone = v.ws.settings.timezone
        rows = caseload.movements(
            Period.parse(period), dims, as_known_now=v.param("known_now") == "1", reader=v.me
        )
        return period, dims, rows

    async def report(self, request: Request) -> Response:
        from eligibility.caseload import DIMENSIONS

        def work(v: Visit) -> dict[str, Any]:
            context: dict[str, Any] = {"dimensions": list(DIMENSIONS)}
            if not v.param("period"):
                return {**context, "chosen": ["program", "region"]}
            _, dims, rows = self._movements(v)
            return {**context, "chosen": dims, "rows": rows, "query": v.request.url.query}

        return await self.pages.show(request, "movements.html", work)

    async def movements_csv(self, request: Request) -> Response:
        from eligibility.caseload import MOVEMENT_FIELDS

        def work(v: Visit) -> tuple[str, str, bytes]:
            period, _, rows = self._movements(v)
            return f"movements-{period}.csv", CSV, csv_bytes(MOVEMENT_FIELDS, rows)

        return await self.pages.download(request, work)

    async def movements_xlsx(self, request: Request) -> Response:
        from eligibility.caseload import MOVEMENT_FIELDS
        from eligibility.movements import FIELDS
        from ledger.spreadsheet import Sheet, xlsx_bytes

        def work(v: Visit) -> tuple[str, str, bytes]:
            period, _, rows = self._movements(v)
            title = f"movements {period}"
            sheet = Sheet(
                title,
                MOVEMENT_FIELDS,
                rows,
                heading=(title,),
                kinds=dict.fromkeys(FIELDS, "int"),
            )
            return f"movements-{period}.xlsx", XLSX, xlsx_bytes([sheet])

        return await self.pages.download(request, work)


class ComplaintPages:
    """Complaints (举报投诉): the queue, oldest due first, and the intake form."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/complaints", self.queue, methods=["GET"]),
            Route("/complaints", self.open, methods=["POST"]),
        ]

    async def queue(self, request: Request) -> Response:
        return await self._queue(request)

    async def _queue(
        self, request: Request, error: str | None = None, status: int = 200
    ) -> Response:
        from eligibility.complaints import Complaints
        from ledger.complaint import CATEGORIES, CHANNELS

        def work(v: Visit) -> dict[str, Any]:
            chosen = v.param("status") or "open"
            if chosen not in COMPLAINT_STATUSES:
                raise InvalidValue(f"status must be one of {', '.join(COMPLAINT_STATUSES)}")
            rows = v.ws.service(Complaints).list(status=chosen, overdue=v.param("overdue") == "1")
            return {
                "rows": rows,
                "statuses": COMPLAINT_STATUSES,
                "channels": CHANNELS,
                "categories": CATEGORIES,
            }

        return await self.pages.show(request, "complaints.html", work, error=error, status=status)

    async def open(self, request: Request) -> Response:
        """The intake form: a complaint received today, recorded by the caller."""
        from eligibility.complaints import Complaints

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            c = v.ws.service(Complaints).open(
                channel=text(form, "channel"),
                category=text(form, "category"),
                summary=text(form, "summary"),
                case_id=text(form, "case") or None,
                payment_id=text(form, "payment") or None,
                region=text(form, "region") or None,
                anonymous=text(form, "anonymous") == "1",
                complainant=text(form, "complainant") or None,
                phone=text(form, "phone") or None,
                by=v.staff_id,
            )
            said = f"已登记投诉 {c.complaint_id}（{c.category}），答复期限 {c.due}"
            return "/complaints", Flash(said)

        async def again(request: Request, error: str, status: int) -> Response:
            return await self._queue(request, error, status)

        return await self.pages.act(request, work, again=again)
