"""The console's sections: runs, findings, case timelines, recoveries, reports, the 公示
notice, staff and logins, the access log.

Each page asks the services the command line asks (``payout list``/``show``/``approve``/
``release``/``cancel``, ``findings``, ``finding assign|comment|resolve``, ``case history``,
``recoveries``, ``report payouts``/``notice``, ``staff password``/``totp``, ``access-log``),
as the logged-in staff member; no rule lives here. What a page shows of a case's personal
data the services have masked by the caller's role and recorded in the access log.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from console.flash import Flash
from ledger.errors import InvalidValue, NotFound
from ledger.masking import masked, sight
from ledger.money import format_fen
from ledger.period import Period, parse_date

if TYPE_CHECKING:
    from console.pages import Pages, Visit


def sections(pages: Pages) -> list[Any]:
    """Every section's routes, over ``pages``' layout and forms."""
    from console.casework import ApplicationPages, ComplaintPages, MovementPages, ReviewPages

    return [
        RunPages(pages),
        FindingPages(pages),
        CasePages(pages),
        ApplicationPages(pages),
        ReviewPages(pages),
        ComplaintPages(pages),
        RecoveryPages(pages),
        ReportPages(pages),
        MovementPages(pages),
        StaffPages(pages),
        AccessLogPages(pages),
    ]


def text(form: FormData, name: str) -> str:
    """A form field as text, stripped ('' when absent)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def period_of(value: str) -> str:
    return str(Period.parse(value))


def day_of(value: str) -> date | None:
    return parse_date(value) if value else None


# -- runs ------------------------------------------------------------------------------------


class RunPages:
    """The runs: the list, one run (its changes against last month, its held payments), and
    its approval, cancellation and the release of a held payment."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/runs", self.list_page, methods=["GET"]),
            Route("/runs/{run_id}", self.run_page, methods=["GET"]),
            Route("/runs/{run_id}/approve", self.approve, methods=["POST"]),
            Route("/runs/{run_id}/cancel", self.cancel, methods=["POST"]),
            Route("/payments/{payment_id}/release", self.release, methods=["POST"]),
        ]

    async def list_page(self, request: Request) -> Response:
        def work(v: Visit) -> dict[str, Any]:
            period = v.param("period")
            month = period_of(period) if period else None
            return {"runs": v.ws.payouts.review.list_runs(month)}

        return await self.pages.show(request, "runs.html", work)

    async def run_page(
        self, request: Request, error: str | None = None, status: int = 200
    ) -> Response:
        return await self._run(request, request.path_params["run_id"], error, status)

    async def _run(self, request: Request, run_id: str, error: str | None, status: int) -> Response:
        def work(v: Visit) -> dict[str, Any]:
            return {"run": v.ws.payouts.review.show(run_id, viewer=v.me)}

        return await self.pages.show(request, "run.html", work, error=error, status=status)

    async def approve(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            a = v.ws.payouts.approve(
                run_id, by=v.staff_id, override_reason=text(form, "override_reason") or None
            )
            if a.releases:
                said = (
                    f"已批准放行后的 {a.payable.payments} 笔支付，金额 "
                    f"{format_fen(a.payable.amount)} 元：下次导出银行文件时写入"
                )
            else:
                total = a.payable.payments + a.held.payments
                said = (
                    f"{run_id} 已批准：共 {total} 笔，可支付 {a.payable.payments} 笔，金额 "
                    f"{format_fen(a.payable.amount)} 元；暂停 {a.held.payments} 笔"
                )
            return f"/runs/{run_id}", Flash(said)

        return await self.pages.act(request, work, again=self.run_page)

    async def cancel(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            v.ws.payouts.cancel(run_id, by=v.staff_id, reason=text(form, "reason"))
            return f"/runs/{run_id}", Flash(f"{run_id} 已作废：其中的支付均已取消")

        return await self.pages.act(request, work, again=self.run_page)

    async def release(self, request: Request) -> Response:
        payment_id = request.path_params["payment_id"]

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            payment = v.ws.payouts.release(payment_id, by=v.staff_id, reason=text(form, "reason"))
            if payment.held:
                said = (
                    f"已记录对 {payment_id} 的第一次放行；该暂停（{'、'.join(payment.held)}）"
                    "为严重级别，还需另一位监督人员第二次放行"
                )
            else:
                said = f"{payment_id} 已放行"
            return f"/runs/{payment.run_id}", Flash(said)

        async def again(request: Request, error: str, status: int) -> Response:
            run_id = text(await request.form(), "run_id")
            if not run_id:
                return self.pages.render("error.html", status, error=error)
            return await self._run(request, run_id, error, status)

        return await self.pages.act(request, work, again=again)


# -- findings --------------------------------------------------------------------------------


class FindingPages:
    """The findings queue (by type, severity, region, status) and one finding with its
    workflow: assign, comment, resolve."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/findings", self.queue, methods=["GET"]),
            Route("/findings/{finding_id}", self.finding_page, methods=["GET"]),
            Route("/findings/{finding_id}/assign", self.assign, methods=["POST"]),
            Route("/findings/{finding_id}/comment", self.comment, methods=["POST"]),
            Route("/findings/{finding_id}/resolve", self.resolve, methods=["POST"]),
        ]

    async def queue(self, request: Request) -> Response:
        from reconciliation.checks import OPERATIONAL_SEVERITY, SEVERITY

        def work(v: Visit) -> dict[str, Any]:
            context: dict[str, Any] = {
                "types": sorted({*SEVERITY, *OPERATIONAL_SEVERITY}),
                "severities": ("critical", "high", "medium", "low"),
            }
            period = v.param("period")
            if not period:
                return context
            context["rows"] = v.ws.reconciliation.findings(
                period=period_of(period),
                viewer=v.viewer(v.param("reason")),
                type_=v.param("type") or None,
                status=v.param("status") or "open",
                region=v.param("region") or None,
                severity=v.param("severity") or None,
            )
            return context

        return await self.pages.show(request, "findings.html", work)

    async def finding_page(
        self, request: Request, error: str | None = None, status: int = 200
    ) -> Response:
        from ledger.payment import RESOLUTIONS
        from reconciliation.service import finding_record

        fid = request.path_params["finding_id"]

        def work(v: Visit) -> dict[str, Any]:
            row = finding_record(v.ws.db, fid)
            if row is None:
                raise NotFound(f"no finding {fid!r}")
            clear = sight(v.me, row["region_code"]).payment
            return {
                "finding": masked(row, clear),
                "events": masked(v.ws.reconciliation.history(fid), clear),
                "resolutions": RESOLUTIONS,
            }

        return await self.pages.show(request, "finding.html", work, error=error, status=status)

    async def assign(self, request: Request) -> Response:
        fid = request.path_params["finding_id"]

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            to = text(form, "to")
            v.ws.reconciliation.assign(fid, to=to, by=v.staff_id)
            return f"/findings/{fid}", Flash(f"已分派给 {to}")

        return await self.pages.act(request, work, again=self.finding_page)

    async def comment(self, request: Request) -> Response:
        fid = request.path_params["finding_id"]

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            v.ws.reconciliation.comment(fid, text=text(form, "text"), by=v.staff_id)
            return f"/findings/{fid}", Flash("评论已记录")

        return await self.pages.act(request, work, again=self.finding_page)

    async def resolve(self, request: Request) -> Response:
        fid = request.path_params["finding_id"]

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            resolution = text(form, "reason")
            v.ws.reconciliation.resolve(
                fid, resolution=resolution, comment=text(form, "comment"), by=v.staff_id
            )
            return f"/findings/{fid}", Flash(f"已处理（{resolution}）")

        return await self.pages.act(request, work, again=self.finding_page)


# -- case timelines --------------------------------------------------------------------------


class CasePages:
    """A case's timeline: its decisions and money, as of a day, as known at a day."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/cases", self.timeline, methods=["GET"])]

    async def timeline(self, request: Request) -> Response:
        from projections.trail import MONEY_FIELDS

        def work(v: Visit) -> dict[str, Any]:
            case_id = v.param("case_id")
            if not case_id:
                return {}
            doc = v.ws.history.history(
                case_id,
                as_of=day_of(v.param("as_of")) or v.ws.today,
                known_at=day_of(v.param("known_at")),
                viewer=v.viewer(v.param("reason")),
            )
            return {
                "case": doc,
                "money_fields": MONEY_FIELDS,
                "application": application_of(doc["events"]),
            }

        return await self.pages.show(request, "case.html", work)


def application_of(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The application that led to the case, from its steps among the timeline's records
    (`projections.trail`): its id, its steps known, and the last of them; None without."""
    steps = [r for r in records if r.get("application_id")]
    if not steps:
        return None
    last = max(steps, key=lambda r: (r.get("effective_from") or "", r["recorded_at"]))
    return {
        "application_id": steps[0]["application_id"],
        "steps": len(steps),
        "last_step": last.get("step"),
        "last_on": last.get("effective_from"),
    }


# -- recoveries ------------------------------------------------------------------------------


class RecoveryPages:
    """The recoveries register (追回)."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/recoveries", self.register, methods=["GET"])]

    async def register(self, request: Request) -> Response:
        def work(v: Visit) -> dict[str, Any]:
            rows = v.ws.recoveries.list(
                case_id=v.param("case") or None, status=v.param("status") or "open"
            )
            return {"rows": rows}

        return await self.pages.show(request, "recoveries.html", work)


# -- reports and the 公示 notice --------------------------------------------------------------


def csv_bytes(fields: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    """A CSV for people (cells through `ledger.outputs.csv_cell`), UTF-8 with a BOM."""
    from ledger.outputs import write_csv

    out = io.StringIO()
    write_csv(out, fields, ([r.get(f) for f in fields] for r in rows))
    return out.getvalue().encode("utf-8-sig")


CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportPages:
    """Payouts by program, department and region for a period (with CSV and XLSX), and the
    print view of the 公示 notice (names and id numbers masked, as it is published)."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/reports", self.report, methods=["GET"]),
            Route("/reports/payouts.csv", self.payouts_csv, methods=["GET"]),
            Route("/reports/payouts.xlsx", self.payouts_xlsx, methods=["GET"]),
            Route("/notice", self.notice, methods=["GET"]),
            Route("/notice.csv", self.notice_csv, methods=["GET"]),
            Route("/notice.xlsx", self.notice_xlsx, methods=["GET"]),
        ]

    @staticmethod
    def _payouts(v: Visit) -> tuple[str, list[str], list[dict[str, Any]]]:
        from projections.reports import parse_dimensions, payouts_report

        period = period_of(v.param("period"))
        chosen = v.request.query_params.getlist("by")
        dims = parse_dimensions(",".join(chosen) if chosen else "program,department,region")
        return period, dims, payouts_report(v.ws.db, period, dims)

    async def report(self, request: Request) -> Response:
        from projections.reports import DIMENSIONS

        def work(v: Visit) -> dict[str, Any]:
            context: dict[str, Any] = {"dimensions": list(DIMENSIONS)}
            if not v.param("period"):
                context["chosen"] = ["program", "department", "region"]
                return context
            _, dims, rows = self._payouts(v)
            return {**context, "chosen": dims, "rows": rows, "query": v.request.url.query}

        return await self.pages.show(request, "reports.html", work)

    async def payouts_csv(self, request: Request) -> Response:
        from projections.reports import REPORT_FIELDS

        def work(v: Visit) -> tuple[str, str, bytes]:
            period, _, rows = self._payouts(v)
            fields = list(rows[0]) if rows else list(REPORT_FIELDS)
            return f"payouts-{period}.csv", CSV, csv_bytes(fields, rows)

        return await self.pages.download(request, work)

    async def payouts_xlsx(self, request: Request) -> Response:
        from ledger.spreadsheet import Sheet, xlsx_bytes
        from projections.reports import REPORT_FIELDS

        def work(v: Visit) -> tuple[str, str, bytes]:
            period, _, rows = self._payouts(v)
            fields = list(rows[0]) if rows else list(REPORT_FIELDS)
            title = f"payouts {period}"
            sheet = Sheet(title, fields, rows, heading=(title,))
            return f"payouts-{period}.xlsx", XLSX, xlsx_bytes([sheet])

        return await self.pages.download(request, work)

    @staticmethod
    def _notice(v: Visit) -> Any:
        from ledger.ids import parse_region_code
        from projections.reports import notice_document

        region = v.param("region")
        if not region:
            raise InvalidValue("地区代码必填（6 位或 12 位）: give the region code")
        code = parse_region_code(region)
        stage = v.param("stage") or "payees"
        month = Period.parse(v.param("period")) if v.param("period") else Period.of(v.ws.today)
        if stage == "pre-approval":
            from eligibility.notices import pre_approval_notice

            return pre_approval_notice(
                v.ws.db, v.ws.config, code, day_of(v.param("as_of")) or v.ws.today
            )
        if stage == "exits":
            from eligibility.notices import exits_notice

            return exits_notice(v.ws.db, v.ws.config, code, month, v.ws.today)
        if stage != "payees":
            raise InvalidValue(f"no notice stage {stage!r}: payees, pre-approval or exits")
        return notice_document(v.ws.db, v.ws.config, str(month), code, v.ws.today)

    async def notice(self, request: Request) -> Response:
        def work(v: Visit) -> dict[str, Any]:
            if not v.param("region"):
                return {}
            notice = self._notice(v)
            return {
                "notice": notice,
                "fields": notice.fields,
                "labels": notice.labels,
                "query": v.request.url.query,
            }

        return await self.pages.show(request, "notice.html", work)

    async def notice_csv(self, request: Request) -> Response:
        def work(v: Visit) -> tuple[str, str, bytes]:
            notice = self._notice(v)
            rows = [
                {notice.labels[f]: r.get(f) for f in notice.fields}
                for r in [*notice.rows, *notice.totals]
            ]
            fields = [notice.labels[f] for f in notice.fields]
            return f"notice-{notice.region}.csv", CSV, csv_bytes(fields, rows)

        return await self.pages.download(request, work)

    async def notice_xlsx(self, request: Request) -> Response:
        from ledger.spreadsheet import Sheet, xlsx_bytes

        def work(v: Visit) -> tuple[str, str, bytes]:
            notice = self._notice(v)
            sheet = Sheet(
                "公示",
                notice.fields,
                [*notice.rows, *notice.totals],
                heading=notice.heading,
                labels=notice.labels,
            )
            return f"notice-{notice.region}.xlsx", XLSX, xlsx_bytes([sheet])

        return await self.pages.download(request, work)


# -- staff and logins ------------------------------------------------------------------------


class StaffPages:
    """Staff and their logins (admins): who has a password, a temporary one, a TOTP; a new
    temporary password or TOTP, shown once."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/staff", self.staff_page, methods=["GET"]),
            Route("/staff/{staff_id}/password", self.password, methods=["POST"]),
            Route("/staff/{staff_id}/totp", self.totp, methods=["POST"]),
        ]

    async def staff_page(
        self, request: Request, error: str | None = None, status: int = 200
    ) -> Response:
        def work(v: Visit) -> dict[str, Any]:
            return {"staff": v.ws.logins.staff_logins(by=v.staff_id)}

        return await self.pages.show(request, "staff.html", work, error=error, status=status)

    async def password(self, request: Request) -> Response:
        staff_id = request.path_params["staff_id"]

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            password = v.ws.logins.set_temporary_password(staff_id, by=v.staff_id)
            said = f"已为 {staff_id} 设置临时密码（仅显示这一次；首次登录时须修改）："
            return "/staff", Flash(said, secret=password)

        return await self.pages.act(request, work, again=self.staff_page)

    async def totp(self, request: Request) -> Response:
        staff_id = request.path_params["staff_id"]

        def work(v: Visit, form: FormData) -> tuple[str, Flash]:
            uri = v.ws.logins.enrol_totp(staff_id, by=v.staff_id)
            said = (
                f"已为 {staff_id} 登记动态验证码（仅显示这一次，请当面交给本人，"
                "用身份验证器应用扫描或输入）："
            )
            return "/staff", Flash(said, secret=uri)

        return await self.pages.act(request, work, again=self.staff_page)


# -- the access log --------------------------------------------------------------------------


class AccessLogPages:
    """Who looked at whose personal data, when and why (auditors, supervisors, admins)."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/access-log", self.log, methods=["GET"])]

    async def log(self, request: Request) -> Response:
        def work(v: Visit) -> dict[str, Any]:
            rows = v.ws.access.entries(
                v.me,
                case_id=v.param("case") or None,
                staff_id=v.param("staff") or None,
                since=day_of(v.param("since")),
            )
            return {"rows": rows}

        return await self.pages.show(request, "access_log.html", work)
