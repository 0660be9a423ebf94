"""The rest of the command line through the API: the commands acting or looking as a staff
member that the console has no page for — the decision chain's, reviews', comparisons' and the
bank's files, reverts, reconcile and compare, recoveries, verifications, supplements and
refunds, and the views of findings, applications, reviews due and movements.

Each route calls the same service method as its command with ``by`` the caller's staff id and
answers what the command's ``--format json`` prints (or what its printing needs), so that the
command says the same whether it ran on the store or through the server. Files are uploaded as
`Api.upload` takes them: the caller authenticated before a byte is read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from console.api import TEXT, ReasonBody, parsed, query, query_date
from console.auth import Caller
from console.backend import Workspace
from ledger.access import MAX_REASON
from ledger.errors import InvalidValue

if TYPE_CHECKING:
    from console.api import Api


class DayBody(BaseModel):
    """``reconcile`` and ``compare``: the month, and the day checked as of (default today)."""

    model_config = ConfigDict(extra="forbid")

    period: str = Field(min_length=1, max_length=16)
    as_of: str | None = Field(default=None, max_length=16)


class EndDeceasedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: str = Field(min_length=1, max_length=16)
    dry_run: bool = False


class SupplementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(min_length=1, max_length=16)
    programs: list[str] = Field(min_length=1, max_length=32)
    amount: str = Field(min_length=1, max_length=32)
    per: Literal["person", "case"]
    in_effect_on: str = Field(min_length=1, max_length=16)
    reason: str = TEXT


class CollectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str = Field(min_length=1, max_length=32)
    reason: str = TEXT


class VerificationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str = Field(min_length=1, max_length=64)
    department: str = Field(min_length=1, max_length=64)
    due: str = Field(min_length=1, max_length=16)


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detail: str = Field(min_length=1, max_length=4 * MAX_REASON)


def _day(value: str | None, ws: Workspace) -> Any:
    from ledger.period import parse_date

    return ws.today if value is None else parse_date(value)


class CommandRoutes:
    """The routes of the commands above, through `Api`'s ``read``, ``act`` and ``upload``."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def routes(self) -> list[BaseRoute]:
        # Listed before `Api`'s ``/imports/{kind}``: these kinds are not the importer's.
        return [
            Route("/imports/steps", self.import_steps, methods=["POST"]),
            Route("/imports/reviews", self.import_reviews, methods=["POST"]),
            Route("/imports/comparison", self.import_comparison, methods=["POST"]),
            Route("/imports/bank", self.bank_import, methods=["POST"]),
            Route("/reverts/{import_id}", self.revert, methods=["POST"]),
            Route("/cases/end-deceased", self.end_deceased, methods=["POST"]),
            Route("/runs/supplement", self.supplement, methods=["POST"]),
            Route("/payments/{payment_id}/refund", self.refund, methods=["POST"]),
            Route("/reconcile", self.reconcile, methods=["POST"]),
            Route("/compare", self.compare, methods=["POST"]),
            Route("/recoveries/{recovery_id}/collect", self.collect, methods=["POST"]),
            Route("/recoveries/{recovery_id}/waive", self.waive, methods=["POST"]),
            Route("/verifications", self.verification_request, methods=["POST"]),
            Route("/verifications/{request_id}/answer", self.verification_answer, methods=["POST"]),
            Route("/findings/{finding_id}/history", self.finding_history, methods=["GET"]),
            Route(
                "/applications/{application_id}/history",
                self.application_history,
                methods=["GET"],
            ),
            Route("/reviews/due", self.reviews_due, methods=["GET"]),
            Route("/reports/movements", self.movements, methods=["GET"]),
        ]

    # -- files -------------------------------------------------------------------------------

    async def import_steps(self, request: Request) -> Response:
        """``import steps FILE``: the summary as ``--format json``."""
        from console.answers import summary_doc
        from eligibility.applications import Steps

        def work(ws: Workspace, caller: Caller, path: Path) -> dict[str, Any]:
            steps = ws.service(Steps)
            steps.max_input_bytes = ws.settings.max_input_bytes
            return summary_doc(steps.import_file(path, by=caller.staff_id))

        return await self.api.upload(request, work)

    async def import_reviews(self, request: Request) -> Response:
        """``import reviews FILE``: the summary as ``--format json``."""
        from console.answers import summary_doc
        from eligibility.reviewing import Reviews

        def work(ws: Workspace, caller: Caller, path: Path) -> dict[str, Any]:
            reviews = ws.service(Reviews)
            reviews.max_input_bytes = ws.settings.max_input_bytes
            return summary_doc(reviews.import_file(path, by=caller.staff_id))

        return await self.api.upload(request, work)

    async def import_comparison(self, request: Request) -> Response:
        """``import comparison FILE --source S`` (``?source=``): the summary."""
        from console.answers import summary_doc
        from eligibility.comparison_import import ComparisonImporter
        from ledger.comparison_terms import SOURCES

        source = query(request, "source")
        if source not in SOURCES:
            raise InvalidValue(f"give ?source= one of {', '.join(SOURCES)}")

        def work(ws: Workspace, caller: Caller, path: Path) -> dict[str, Any]:
            importer = ws.service(ComparisonImporter)
            importer.max_input_bytes = ws.settings.max_input_bytes
            return summary_doc(
                importer.import_comparison(path, source=str(source), by=caller.staff_id)
            )

        return await self.api.upload(request, work)

    async def bank_import(self, request: Request) -> Response:
        """``bank import FILE [--profile]`` (``?profile=``): the summary as ``--format json``."""

        def work(ws: Workspace, caller: Caller, path: Path) -> dict[str, Any]:
            s = ws.bank.import_file(path, profile=query(request, "profile"), by=caller.staff_id)
            return dict(s.__dict__)

        return await self.api.upload(request, work)

    # -- acts --------------------------------------------------------------------------------

    async def revert(self, request: Request) -> Response:
        """``import revert IMPORT_ID --reason`` (``{reason}``)."""
        from eligibility.revert import Reverter

        ref = request.path_params["import_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ReasonBody, data)
            r = ws.service(Reverter).revert(ref, by=caller.staff_id, reason=body.reason)
            return dict(r.__dict__)

        return await self.api.act(request, work)

    async def end_deceased(self, request: Request) -> Response:
        """``cases end-deceased --as-of [--dry-run]`` (``{as_of, dry_run?}``): as
        ``--format json``."""
        from console.answers import end_deceased_doc
        from eligibility.deceased import Deceased

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(EndDeceasedBody, data)
            day = _day(body.as_of, ws)
            r = ws.service(Deceased).end_deceased(
                as_of=day, by=caller.staff_id, dry_run=body.dry_run
            )
            return end_deceased_doc(r)

        return await self.api.act(request, work)

    async def supplement(self, request: Request) -> Response:
        """``payout supplement`` (``{period, programs, amount, per, in_effect_on, reason}``):
        every field of what the prepare did (`console.answers.prepared_doc`)."""
        from console.answers import prepared_doc
        from ledger.money import parse_fen
        from ledger.payment import SupplementTerms
        from ledger.period import Period, parse_date

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(SupplementBody, data)
            terms = SupplementTerms(
                programs=tuple(p.strip() for p in body.programs if p.strip()),
                amount=parse_fen(body.amount),
                per=body.per,
                in_effect_on=parse_date(body.in_effect_on),
                reason=body.reason.strip(),
            )
            r = ws.payouts.prepare_supplement(Period.parse(body.period), terms, by=caller.staff_id)
            return prepared_doc(r)

        return await self.api.act(request, work)

    async def refund(self, request: Request) -> Response:
        """``payout refund PAYMENT --reason`` (``{reason}``)."""
        pid = request.path_params["payment_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ReasonBody, data)
            ws.payouts.refund(pid, by=caller.staff_id, reason=body.reason)
            return {"payment_id": pid, "refunded_by": caller.staff_id}

        return await self.api.act(request, work)

    async def reconcile(self, request: Request) -> Response:
        """``reconcile --period [--as-of]`` (``{period, as_of?}``): as ``--format json``."""
        return await self._month(request, lambda ws: ws.reconciliation.reconcile)

    async def compare(self, request: Request) -> Response:
        """``compare --period [--as-of]`` (``{period, as_of?}``): as ``--format json``."""
        from eligibility.comparisons import Comparisons

        return await self._month(request, lambda ws: ws.service(Comparisons).compare)

    async def _month(self, request: Request, act: Callable[[Workspace], Any]) -> Response:
        """A month's checks, ``act(ws)(period, as_of=…, by=…)``: its result as JSON."""
        from ledger.period import Period

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(DayBody, data)
            r = act(ws)(Period.parse(body.period), as_of=_day(body.as_of, ws), by=caller.staff_id)
            return dict(r.__dict__)

        return await self.api.act(request, work)

    async def collect(self, request: Request) -> Response:
        """``recovery collect R --amount --reason`` (``{amount, reason}``): what is left."""
        from ledger.money import format_fen, parse_fen

        rid = request.path_params["recovery_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(CollectBody, data)
            amount = parse_fen(body.amount)
            r = ws.recoveries.collect(rid, amount=amount, by=caller.staff_id, reason=body.reason)
            return {
                "recovery_id": rid,
                "collected": format_fen(amount),
                "outstanding": format_fen(r.outstanding),
                "status": r.status,
            }

        return await self.api.act(request, work)

    async def waive(self, request: Request) -> Response:
        """``recovery waive R --reason`` (``{reason}``)."""
        rid = request.path_params["recovery_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(ReasonBody, data)
            ws.recoveries.waive(rid, by=caller.staff_id, reason=body.reason)
            return {"recovery_id": rid, "waived_by": caller.staff_id}

        return await self.api.act(request, work)

    async def verification_request(self, request: Request) -> Response:
        """``verification request --case --department --due`` (``{case, department, due}``)."""
        from eligibility.verifications import Verifications
        from ledger.period import parse_date

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(VerificationBody, data)
            r = ws.service(Verifications).request(
                case_id=body.case,
                department=body.department,
                due=parse_date(body.due),
                by=caller.staff_id,
            )
            return {
                "request_id": r.request_id,
                "case_id": r.case_id,
                "department": r.department,
                "due": r.due.isoformat(),
                "new": r.new,
            }

        return await self.api.act(request, work)

    async def verification_answer(self, request: Request) -> Response:
        """``verification answer REQ --detail`` (``{detail}``)."""
        from eligibility.verifications import Verifications

        rid = request.path_params["request_id"]

        def work(ws: Workspace, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
            body = parsed(AnswerBody, data)
            a = ws.service(Verifications).answer(rid, detail=body.detail, by=caller.staff_id)
            return {"request_id": a.request_id, "closed_finding": a.closed_finding}

        return await self.api.act(request, work)

    # -- views -------------------------------------------------------------------------------

    async def finding_history(self, request: Request) -> Response:
        """``finding history F``: every event of a finding."""
        from ledger.errors import NotFound

        fid = request.path_params["finding_id"]

        def work(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
            events = ws.reconciliation.history(fid)
            if not events:
                raise NotFound(f"no finding {fid!r}")
            return events

        return await self.api.read(request, work)

    async def application_history(self, request: Request) -> Response:
        """``application history A --format json --by CALLER`` with ``as_of``, ``known_at``
        and ``reason``: masked, and recorded in the access log."""
        from eligibility.applications import ApplicationHistory

        aid = request.path_params["application_id"]

        def work(ws: Workspace, caller: Caller) -> dict[str, Any]:
            service = ws.service(ApplicationHistory)
            service.timezone = ws.settings.timezone
            viewer = service.viewer(
                caller.staff_id, reason=query(request, "reason") or "", channel="api"
            )
            return service.history(
                aid,
                as_of=query_date(request, "as_of") or ws.today,
                known_at=query_date(request, "known_at"),
                viewer=viewer,
            )

        return await self.api.read(request, work)

    async def reviews_due(self, request: Request) -> Response:
        """``reviews due [--as-of] --format json``."""
        from console.answers import due_rows
        from eligibility.reviewing import Reviews

        def work(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
            day = query_date(request, "as_of") or ws.today
            return due_rows(ws.service(Reviews).due(day))

        return await self.api.read(request, work)

    async def movements(self, request: Request) -> Response:
        """``report movements --period [--by] [--as-known-now] --format json``."""
        from eligibility.caseload import Caseload, parse_movement_dimensions
        from ledger.period import Period

        def work(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
            period = query(request, "period")
            if period is None:
                raise InvalidValue("give the period: ?period=YYYY-MM")
            dims = parse_movement_dimensions(query(request, "by") or "program,region")
            caseload = ws.service(Caseload)
            caseload.timezone = ws.settings.timezone
            known_now = query(request, "as_known_now") in ("1", "true", "yes")
            return caseload.movements(Period.parse(period), dims, as_known_now=known_now)

        return await self.api.read(request, work)
