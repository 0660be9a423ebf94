"""The console's casework pages (SQLite and PostgreSQL): applications (list, one
application's steps with its applicant masked), the notices by stage, and complaints (the
queue, the intake form: CSRF, the caller as the one who records, never who complained)."""

from __future__ import annotations

from pathlib import Path

from tests.builders import (
    APPROVER,
    AUDITOR,
    CASEWORKER,
    FINANCE,
    As,
    Site,
    csrf_of,
    head,
    shown,
)
from tests.test_applications import (
    APPLICANT_ID,
    STEPS,
    WITH_APPLICANT,
    approval,
    import_steps,
    line_to_notice,
    write_file,
)


def with_applications(site: Site, tmp_path: Path) -> None:
    """A1 approved; A2 in its notice."""
    with site.services() as svc:
        import_steps(svc, write_file(tmp_path, "a1.csv", WITH_APPLICANT, *line_to_notice("A1")))
        import_steps(svc, write_file(tmp_path, "a1-ok.csv", STEPS, approval("A1")), APPROVER)
        a2 = line_to_notice("A2", "C101", notice="2026-12-10")
        import_steps(svc, write_file(tmp_path, "a2.csv", WITH_APPLICANT, *a2))


def test_the_applications_list_shows_no_applicant_and_filters_by_status(
    site: Site, tmp_path: Path
) -> None:
    with_applications(site, tmp_path)
    caseworker = As(site, CASEWORKER)
    every = caseworker.get("/applications")
    assert every.status_code == 200
    assert "A1" in every.text and "A2" in every.text
    assert "刘桂英" not in every.text and APPLICANT_ID not in every.text
    approved = caseworker.get("/applications", status="approved")
    assert "/applications/A1" in approved.text and "/applications/A2" not in approved.text
    assert caseworker.get("/applications", region="61x").status_code == 422


def test_an_applications_steps_as_known_at_a_date_with_its_applicant_masked(
    site: Site, tmp_path: Path
) -> None:
    with_applications(site, tmp_path)
    auditor = As(site, AUDITOR)
    page = auditor.get("/applications/A1")
    assert page.status_code == 200, shown(page.text)[:500]
    text = shown(page.text)
    assert "township" in text and "approve" in text and APPROVER in text
    assert "刘桂英" not in page.text and APPLICANT_ID not in page.text
    assert "刘*英" in text, "masked as on the 公示 notice"
    earlier = auditor.get("/applications/A1", known_at="2020-01-01")
    assert "当日尚未申请" in earlier.text and "township" not in shown(earlier.text)
    assert auditor.get("/applications/A9").status_code == 404


def test_the_notice_by_stage_before_approval_and_of_exits(site: Site, tmp_path: Path) -> None:
    with_applications(site, tmp_path)
    caseworker = As(site, CASEWORKER)
    pre = caseworker.get("/notice", stage="pre-approval", as_of="2026-12-12", region="610102")
    assert pre.status_code == 200
    assert "刘*英" in pre.text and "刘桂英" not in pre.text, "A2's notice runs on that day"
    exits = caseworker.get("/notice", stage="exits", period="2026-12", region="610102")
    assert exits.status_code == 200 and "notice-sheet" in exits.text
    assert caseworker.get("/notice", stage="later", region="610102").status_code == 422
    csv = caseworker.client.get("/notice.csv?stage=pre-approval&as_of=2026-12-12&region=610102")
    assert csv.is_success and "刘*英" in csv.content.decode("utf-8-sig")


def test_a_caseworker_records_a_complaint_and_the_queue_never_shows_who(site: Site) -> None:
    caseworker = As(site, CASEWORKER)
    form = caseworker.get("/complaints")
    assert 'action="/complaints"' in form.text and 'name="complainant"' in form.text
    before = events(site)
    body = {
        "channel": "hotline",
        "category": "fraud",
        "summary": "死亡后仍在领取",
        "region": "610102001001",
        "complainant": "赵举报",
        "phone": "13800000000",
    }
    missing = caseworker.client.post("/complaints", data=body)
    assert missing.status_code == 403, "no CSRF token: refused"
    forged = caseworker.client.post("/complaints", data={**body, "csrf_token": "forged"})
    assert forged.status_code == 403
    other = caseworker.client.post(
        "/complaints", data={**body, "by": APPROVER, "csrf_token": csrf_of(caseworker.client)}
    )
    assert other.status_code == 403
    assert events(site) == before

    done = caseworker.client.post(
        "/complaints", data={**body, "csrf_token": csrf_of(caseworker.client)}
    )
    assert done.status_code == 303 and done.headers["location"] == "/complaints"
    queue = caseworker.client.get("/complaints")
    assert "已登记投诉 CP-" in queue.text and "死亡后仍在领取" in queue.text
    assert "赵举报" not in queue.text and "13800000000" not in queue.text
    with site.services() as svc:
        ((opened_by,),) = svc.db.query("SELECT opened_by FROM complaints")
    assert opened_by == CASEWORKER


def test_a_complaint_refused_shows_the_form_again_with_the_reason(site: Site) -> None:
    finance = As(site, FINANCE)
    assert 'name="complainant"' not in finance.get("/complaints").text, "not offered"
    before = events(site)
    refused = finance.client.post(
        "/complaints",
        data={
            "channel": "hotline",
            "category": "fraud",
            "summary": "x",
            "anonymous": "1",
            "csrf_token": csrf_of(finance.client),
        },
    )
    assert refused.status_code == 403 and "caseworker" in refused.text
    assert events(site) == before


def events(site: Site) -> int:
    with site.services() as svc:
        return head(svc)
