"""The console's casework sections: applications (the list and one application's history),
and complaints (the queue and the intake form).

As in `console.sections`, each page asks the services the command line asks (``application
history``, ``complaints``, ``complaint open``) as the logged-in staff member, and no rule
lives here. An application's history shows its applicant's name and id number masked for
everyone: the case's timeline (recorded in the access log) is where they are seen in clear.
Who complained is never shown, as on the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from console.flash import Flash
from console.sections import day_of, text
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
            region = v.param("region")
            if region and not (region.isascii() and region.isdigit()):
                raise InvalidValue("地区代码只能是数字 (the region: a code or its first digits)")
            rows = list_applications(v.ws.db, status=v.param("status") or None, region=region)
            return {"rows": rows}

        return await self.pages.show(request, "applications.html", work)

    async def history(self, request: Request) -> Response:
        from eligibility.applications import Steps, application_events, history_document

        application_id = request.path_params["application_id"]

        def work(v: Visit) -> dict[str, Any]:
            events = application_events(v.ws.service(Steps), application_id)
            if not events:
                raise NotFound(f"no application {application_id!r}")
            db = v.ws.db
            names = dict(db.sealer.open_rows(db.query("SELECT staff_id, name FROM staff"), (1,)))
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
