"""The console's pages over a store (SQLite and PostgreSQL): runs, findings, case timelines,
recoveries, reports, the 公示 print view, staff and logins, the access log, health. Every
POST carries the session's CSRF token and redirects (303) once done, or shows the rule's
message with its status; every page escapes what it shows and carries no script."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from ledger.period import Period
from tests.builders import (
    ADMIN,
    APPROVER,
    AUDITOR,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    FINANCE_APPROVER_2,
    SUPERVISOR,
    As,
    Site,
    case_rows,
    csrf_of,
    fixture_row,
    head,
    load,
    password_of,
    shown,
    totp_secret,
)
from tests.conftest import FIXTURES

PERIOD = "2026-06"
SCRIPT = "<script>alert(1)</script>"
SQL = "'); DROP TABLE payments;--"


@pytest.fixture
def june(site: Site) -> dict[str, str]:
    """The fixture's cases and deaths, and June's run prepared: its id, its held payment
    (C003 died on 2026-04-12: a critical hold) and that hold's finding."""
    with site.services() as svc:
        load(svc, "cases", FIXTURES / "cases.csv")
        load(svc, "deaths", FIXTURES / "deaths.csv")
        uri = svc.logins.enrol_totp(FINANCE_APPROVER_2, by=ADMIN)
        site.secrets[FINANCE_APPROVER_2] = totp_secret(uri)
        run = svc.payouts.prepare(Period.parse(PERIOD), program=None, by=FINANCE)
        ((held, finding),) = svc.db.query(
            "SELECT p.payment_id, f.finding_id FROM payments p "
            "JOIN findings f ON f.payment_id = p.payment_id WHERE p.held <> ''"
        )
    return {"run": run.run_id or "", "held": held, "finding": finding}


def events(site: Site) -> int:
    with site.services() as svc:
        return head(svc)


def nav_of(html: str) -> list[str]:
    (bar,) = re.findall(r'<nav class="sections".*?</nav>', html, flags=re.S)
    return re.findall(r'href="([^"]+)"', bar)


# -- the layout ---------------------------------------------------------------------------------


def test_the_navigation_bar_shows_only_the_sections_the_roles_use(site: Site) -> None:
    expected = {
        FINANCE: ["/runs", "/findings", "/cases", "/applications", "/complaints", "/recoveries",
                  "/reports", "/movements", "/notice", "/health"],
        CASEWORKER: ["/findings", "/cases", "/applications", "/reviews", "/complaints",
                     "/movements", "/notice", "/health"],
        AUDITOR: ["/runs", "/findings", "/cases", "/applications", "/reviews", "/complaints",
                  "/recoveries", "/reports", "/movements", "/notice", "/access-log", "/health"],
        ADMIN: ["/staff", "/access-log", "/health"],
    }  # fmt: skip
    for staff_id, sections in expected.items():
        home = As(site, staff_id).get("/")
        assert home.status_code == 200
        assert nav_of(home.text) == sections, staff_id


def test_every_page_is_chinese_server_rendered_and_without_script(
    site: Site, june: dict[str, str]
) -> None:
    auditor = As(site, AUDITOR)
    pages = [
        "/",
        "/runs",
        f"/runs/{june['run']}",
        "/findings",
        f"/findings?period={PERIOD}&reason=audit",
        f"/findings/{june['finding']}",
        "/cases",
        "/cases?case_id=C001&reason=audit",
        "/recoveries",
        "/reports",
        f"/reports?period={PERIOD}",
        "/notice",
        f"/notice?period={PERIOD}&region=610102",
        f"/notice?stage=exits&period={PERIOD}&region=610102",
        "/notice?stage=pre-approval&as_of=2026-06-15&region=610102",
        "/applications",
        "/applications?status=approved&region=6101",
        "/complaints",
        "/complaints?status=all&overdue=1",
        "/reviews",
        "/reviews?as_of=2027-03-15&region=610102",
        "/movements",
        f"/movements?period={PERIOD}&by=program",
        "/access-log",
        "/health",
    ]
    for url in pages:
        page = auditor.client.get(url)
        assert page.status_code == 200, (url, shown(page.text)[:300])
        assert '<html lang="zh-CN">' in page.text and "<script" not in page.text, url
        assert "script-src" not in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        for form in re.findall(r'<form method="post".*?</form>', page.text, flags=re.S):
            assert 'name="csrf_token" value="' in form, (url, form)
    anonymous = site.client()
    for url in pages:
        assert anonymous.get(url).headers["location"] == "/login", url


# -- runs -----------------------------------------------------------------------------------------


def test_a_run_is_approved_and_a_critical_hold_released_by_four_eyes(
    site: Site, june: dict[str, str]
) -> None:
    approver, approver_2 = As(site, FINANCE_APPROVER), As(site, FINANCE_APPROVER_2)
    supervisor = As(site, SUPERVISOR)
    run, held = june["run"], june["held"]
    page = approver.get(f"/runs/{run}")
    assert "与上月比较" in page.text and held in page.text and "放行" in page.text
    assert f'action="/runs/{run}/approve"' in page.text
    done = approver.post(f"/runs/{run}/approve")
    assert (done.status_code, done.headers["location"]) == (303, f"/runs/{run}")
    after = approver.get(f"/runs/{run}")
    assert f"{run} 已批准：共 5 笔，可支付 4 笔" in shown(after.text)
    assert "已批准" not in shown(approver.get(f"/runs/{run}").text).split("批准：")[0], "once"
    release = f"/payments/{held}/release"
    first = approver.post(release, reason="a namesake in the death feed", run_id=run)
    assert first.status_code == 303
    assert "第一次放行" in shown(approver.get(f"/runs/{run}").text)
    refused = approver_2.post(release, reason="me too", run_id=run)
    assert refused.status_code == 403 and "supervisor" in shown(refused.text)
    assert held in refused.text, "the run's page again, with the rule's message"
    assert supervisor.post(release, reason="visited: alive", run_id=run).status_code == 303
    assert f"{held} 已放行" in shown(supervisor.get(f"/runs/{run}").text)
    again = approver.post(f"/runs/{run}/approve")
    assert again.status_code == 403 and "released" in shown(again.text)
    assert approver_2.post(f"/runs/{run}/approve").status_code == 303
    assert "已批准放行后的 1 笔支付" in shown(approver_2.get(f"/runs/{run}").text)


def test_refused_posts_say_the_rule_and_record_nothing(site: Site, june: dict[str, str]) -> None:
    caseworker, auditor, finance = As(site, CASEWORKER), As(site, AUDITOR), As(site, FINANCE)
    run = june["run"]
    before = events(site)
    approval = caseworker.post(f"/runs/{run}/approve")
    assert approval.status_code == 403
    assert f"{CASEWORKER} may not approve a payout run" in shown(approval.text)
    for url, form in (
        (f"/runs/{run}/approve", {}),
        (f"/runs/{run}/cancel", {"reason": "wrong month"}),
        (f"/payments/{june['held']}/release", {"reason": "alive", "run_id": run}),
        (f"/findings/{june['finding']}/assign", {"to": FINANCE_APPROVER}),
        (f"/findings/{june['finding']}/resolve", {"reason": "corrected"}),
    ):
        assert auditor.post(url, **form).status_code == 403, url
    no_reason = finance.post(f"/runs/{run}/cancel", reason="")
    assert no_reason.status_code == 422, "a cancellation says why"
    assert events(site) == before
    done = finance.post(f"/runs/{run}/cancel", reason="prepared before the raise")
    assert (done.status_code, done.headers["location"]) == (303, f"/runs/{run}")
    assert "已作废" in shown(finance.get(f"/runs/{run}").text)


def test_a_post_without_a_session_or_its_csrf_token_or_as_another_is_refused(
    site: Site, june: dict[str, str]
) -> None:
    approver, auditor = As(site, FINANCE_APPROVER), As(site, AUDITOR)
    url = f"/runs/{june['run']}/approve"
    before = events(site)
    assert site.client().post(url, data={"csrf_token": "x"}).status_code == 401
    for token in ({}, {"csrf_token": ""}, {"csrf_token": "wrong"},
                  {"csrf_token": csrf_of(auditor.client)}):  # fmt: skip
        refused = approver.client.post(url, data=token)
        assert refused.status_code == 403 and "CSRF" in refused.text
    named = approver.post(url, by=FINANCE_APPROVER_2)
    assert named.status_code == 403 and "may not act as S008" in shown(named.text)
    assert events(site) == before
    with site.services() as svc:
        assert svc.payouts.review.list_runs(PERIOD)[0]["status"] == "prepared"
    assert approver.post(url, by=FINANCE_APPROVER).status_code == 303


# -- findings ------------------------------------------------------------------------------------


def test_the_findings_queue_filters_and_its_workflow(site: Site, june: dict[str, str]) -> None:
    supervisor, auditor = As(site, SUPERVISOR), As(site, AUDITOR)
    fid = june["finding"]
    without = supervisor.get("/findings", period=PERIOD)
    assert without.status_code == 422 and "say why" in shown(without.text)
    assert 'name="reason"' in without.text, "the form, to give the reason"
    listed = supervisor.get("/findings", period=PERIOD, reason="weekly review")
    assert fid in listed.text and "paid_after_death" in listed.text
    for filters, found in (
        ({"severity": "critical"}, True),
        ({"severity": "low"}, False),
        ({"type": "paid_after_death"}, True),
        ({"region": "610103"}, False),
        ({"region": "610102002"}, True),
        ({"status": "resolved"}, False),
    ):
        page = supervisor.get("/findings", period=PERIOD, reason="review", **filters)
        assert (fid in page.text) is found, filters
    assert supervisor.post(f"/findings/{fid}/assign", to=FINANCE_APPROVER).status_code == 303
    assert "已分派给 S005" in shown(supervisor.get(f"/findings/{fid}").text)
    assert auditor.post(f"/findings/{fid}/comment", text="death record checked").status_code == 303
    empty = auditor.post(f"/findings/{fid}/comment", text="")
    assert empty.status_code == 422 and fid in empty.text
    resolved = supervisor.post(f"/findings/{fid}/resolve", reason="false_positive", comment="alive")
    assert resolved.status_code == 303
    page = shown(supervisor.get(f"/findings/{fid}").text)
    assert "FindingAssigned" in page and "death record checked" in page
    assert "resolved（false_positive）" in page
    assert supervisor.get("/findings/F-NONE").status_code == 404


def test_text_typed_or_imported_is_shown_escaped_and_breaks_nothing(
    site: Site, june: dict[str, str], tmp_path: Path
) -> None:
    staff = (FIXTURES / "staff.csv").read_text(encoding="utf-8").replace("吴秀英", SCRIPT)
    with site.services() as svc:
        renamed = fixture_row("C001").replace("王秀兰", SCRIPT)
        load(svc, "cases", case_rows(tmp_path, "names.csv", renamed))
        (tmp_path / "staff.csv").write_text(staff, encoding="utf-8")
        load(svc, "staff", tmp_path / "staff.csv")
    auditor, supervisor = As(site, AUDITOR), As(site, SUPERVISOR)
    approver = As(site, FINANCE_APPROVER)
    fid = june["finding"]
    for text in (SCRIPT, SQL):
        assert auditor.post(f"/findings/{fid}/comment", text=text).status_code == 303
    release = f"/payments/{june['held']}/release"
    assert approver.post(release, reason=SCRIPT, run_id=june["run"]).status_code == 303
    assert supervisor.get("/cases", case_id="C001", reason=SQL).status_code == 200
    assert supervisor.get("/cases", case_id="C001", reason=SCRIPT).status_code == 200
    for page in (
        auditor.get(f"/findings/{fid}"),
        supervisor.get("/cases", case_id="C001", reason="audit"),
        supervisor.get("/cases", case_id="C001", reason="audit", known_at="2099-12-31"),
        auditor.get("/access-log"),
        auditor.get("/findings", period=PERIOD, reason=SCRIPT),
        As(site, ADMIN).get("/staff"),
        As(site, APPROVER).get("/"),
    ):
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&#39;); DROP TABLE payments;--" in auditor.get(f"/findings/{fid}").text
    with site.services() as svc:
        assert svc.db.query("SELECT COUNT(*) FROM payments")[0][0] > 0
    assert auditor.get(f"/runs/{june['run']}").status_code == 200


# -- case timelines --------------------------------------------------------------------------------


def test_a_case_timeline_is_logged_and_masked_by_role(site: Site, june: dict[str, str]) -> None:
    auditor, caseworker = As(site, AUDITOR), As(site, CASEWORKER)
    finance, admin = As(site, FINANCE), As(site, ADMIN)
    refused = auditor.get("/cases", case_id="C003")
    assert refused.status_code == 422 and "say why" in shown(refused.text)
    assert "陈桂芳" not in refused.text
    assert "没有访问记录" in auditor.get("/access-log").text, "a refused view is not logged"
    clear = auditor.get("/cases", case_id="C003", reason="complaint 12", as_of="2026-06-30")
    text = shown(clear.text)
    assert "陈桂芳" in text and "610102193505050050" in text and "PaymentHeld" in text
    assert "2026-06-30 的状态" in text
    assert "陈桂芳" in caseworker.get("/cases", case_id="C003").text
    for masked_for in (finance, admin):
        page = shown(masked_for.get("/cases", case_id="C003").text)
        assert "陈*芳" in page and "610102********0050" in page
        assert "610102193505050050" not in page.split("PaymentInstructed")[0]
    assert "陈桂芳" in finance.get("/cases", case_id="C003").text, "finance: its payments"
    assert "陈桂芳" not in admin.get("/cases", case_id="C003").text
    before = auditor.get("/cases", case_id="C003", reason="x", known_at="2000-01-01")
    assert "当日不在保" in before.text and "CaseApproved" not in before.text
    log = shown(auditor.get("/access-log", case="C003").text)
    assert log.count("case_history") == 7 and "complaint 12" in log and "console" in log
    assert auditor.get("/cases", case_id="C999", reason="x").status_code == 404


# -- recoveries, reports, the notice ---------------------------------------------------------------


def test_reports_are_shown_and_downloaded_as_csv_and_xlsx(site: Site, june: dict[str, str]) -> None:
    from openpyxl import load_workbook

    from projections.reports import payouts_report

    As(site, FINANCE_APPROVER).post(f"/runs/{june['run']}/approve")
    finance = As(site, FINANCE)
    page = finance.get("/reports", period=PERIOD)
    assert page.status_code == 200 and "civil_affairs" in page.text
    csv = finance.client.get(f"/reports/payouts.csv?period={PERIOD}&by=program")
    assert csv.headers["content-disposition"] == f'attachment; filename="payouts-{PERIOD}.csv"'
    with site.services() as svc:
        rows = payouts_report(svc.db, PERIOD, ["program"])
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(rows[0]) and len(lines) == len(rows) + 1
    xlsx = finance.client.get(f"/reports/payouts.xlsx?period={PERIOD}")
    book = load_workbook(io.BytesIO(xlsx.content))
    amounts = [r[-1] for r in book.active.iter_rows(min_row=4, values_only=True)]
    assert sum(amounts) == pytest.approx(4911.00) and all(not isinstance(a, str) for a in amounts)
    assert finance.get("/reports", period="2026-13").status_code == 422


def test_the_notice_prints_masked_with_its_totals(site: Site, june: dict[str, str]) -> None:
    As(site, FINANCE_APPROVER).post(f"/runs/{june['run']}/approve")
    caseworker = As(site, CASEWORKER)
    page = caseworker.get("/notice", period=PERIOD, region="610102")
    text = shown(page.text)
    assert "2026年6月社会救助资金发放公示" in text and "合计" in text
    assert "王*兰" in text and "王秀兰" not in text and "610102195001010011" not in text
    assert 'href="/static/console.css"' in page.text
    css = site.client().get("/static/console.css").text
    assert "@media print" in css
    assert caseworker.client.get(f"/notice.xlsx?period={PERIOD}&region=610102").is_success
    assert caseworker.get("/notice", period=PERIOD, region="12").status_code == 422


def test_recoveries_are_listed(site: Site, june: dict[str, str]) -> None:
    finance = As(site, FINANCE)
    page = finance.get("/recoveries", status="all")
    assert page.status_code == 200 and "没有符合条件的追回记录" in page.text
    assert finance.get("/recoveries", status="lost").status_code == 422


# -- staff and logins, the access log, health --------------------------------------------


def test_an_admin_sets_a_temporary_password_shown_once(site: Site) -> None:
    admin = As(site, ADMIN)
    page = admin.get("/staff")
    assert "林小红" in page.text and "未登记（该角色必须）" in page.text  # S008
    done = admin.post(f"/staff/{APPROVER}/password")
    assert (done.status_code, done.headers["location"]) == (303, "/staff")
    first = admin.get("/staff")
    (password,) = re.findall(r'<code class="secret">([^<]+)</code>', first.text)
    assert "临时，待本人修改" in first.text
    assert "secret" not in admin.get("/staff").text.split("<main>")[1].split("<h1>")[0], "once"
    answer = site.login(site.client(), APPROVER, password=password)
    assert answer.json()["must_change_password"] is True
    assert site.login(site.client(), APPROVER, password=password_of(APPROVER)).status_code == 401
    enrolled = admin.post(f"/staff/{FINANCE_APPROVER_2}/totp")
    assert enrolled.status_code == 303
    (uri,) = re.findall(r'<code class="secret">([^<]+)</code>', admin.get("/staff").text)
    assert uri.startswith("otpauth://totp/aidledger:S008?secret=")
    # The sealed message is the session's: another session cannot read it.
    other = As(site, ADMIN)
    sealed = done.cookies.get("aidledger_flash") or ""
    other.client.cookies.set("aidledger_flash", sealed)
    assert 'class="secret"' not in other.get("/staff").text


def test_only_admins_see_the_logins_and_a_refused_act_is_shown(site: Site) -> None:
    for staff_id in (FINANCE, AUDITOR, SUPERVISOR):
        page = As(site, staff_id).get("/staff")
        assert page.status_code == 403 and "list the staff's logins" in shown(page.text)
    assert As(site, AUDITOR).post(f"/staff/{FINANCE}/password").status_code == 403
    admin = As(site, ADMIN)
    nobody = admin.post("/staff/NOBODY/password")
    assert nobody.status_code == 403 and "not in the staff registry" in shown(nobody.text)
    assert "林小红" in nobody.text, "the staff page again, with the refusal"


def test_the_access_log_page_is_for_its_readers(site: Site, june: dict[str, str]) -> None:
    As(site, CASEWORKER).get("/cases", case_id="C001")
    auditor = As(site, AUDITOR)
    page = shown(auditor.get("/access-log", staff=CASEWORKER).text)
    assert "C001" in page and "case_history" in page
    assert "没有访问记录" in auditor.get("/access-log", since="2099-01-01").text
    refused = As(site, FINANCE).get("/access-log")
    assert refused.status_code == 403 and "read the access log" in shown(refused.text)


def test_the_health_page_says_the_store_answers(site: Site) -> None:
    page = As(site, CASEWORKER).get("/health")
    assert page.status_code == 200 and "正常" in page.text and "/healthz" in page.text
