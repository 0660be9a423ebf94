"""The console's review and caseload pages (SQLite and PostgreSQL): the cases due for review
(the numbers of ``reviews due``), the month's movements (those of ``report movements``, with
CSV and XLSX), each for the roles that read them and refused to the others; and the case
timeline's link to the application that led to the case."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

from eligibility.caseload import MOVEMENT_FIELDS, Caseload
from eligibility.reviewing import Reviews
from ledger.period import Period
from ledger.programs import shipped_config_path
from tests.builders import (
    ADMIN,
    APPROVER,
    AUDITOR,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    SUPERVISOR,
    As,
    Site,
    case_rows,
    load,
    shown,
    write_file,
)
from tests.conftest import FIXTURES

#: Reviews counted from 2025: the fixture's cases fall due a year after they started.
SINCE_2025 = '\n[reviews]\nfrom = "2025-01-01"\n'
STEPS = "application_id,case_id,program,step,date,staff_id,outcome,detail"
REGION = "610102001001"
APPLICANT = "61010219650505010X"


def body_rows(html: str) -> list[list[str]]:
    """The words of each row of a page's table body."""
    return [shown(row).split() for row in html.split("<tbody>")[1].split("</tr>")[:-1]]


def with_cases(site: Site, tmp_path: Path) -> None:
    """The fixture's cases, under the shipped config with reviews counted from 2025."""
    config = tmp_path / "programs.toml"
    config.write_text(shipped_config_path().read_text(encoding="utf-8") + SINCE_2025, "utf-8")
    with site.services() as svc:
        load(svc, "cases", FIXTURES / "cases.csv")
        svc.configs.apply(config, effective_from=date(2026, 1, 1), by=ADMIN)


# -- reviews due ----------------------------------------------------------------------------------


def test_reviews_due_shows_what_reviews_due_says_to_its_readers_only(
    site: Site, tmp_path: Path
) -> None:
    with_cases(site, tmp_path)
    with site.services() as svc:
        due = svc.service(Reviews).due(date(2027, 3, 15))
    assert [(d.case_id, d.days_overdue) for d in due] == [
        ("C001", 73), ("C003", 73), ("C002", 42), ("C005", 14)
    ]  # fmt: skip
    for staff_id in (CASEWORKER, APPROVER, SUPERVISOR, AUDITOR):
        page = As(site, staff_id).get("/reviews", as_of="2027-03-15")
        assert page.status_code == 200, (staff_id, shown(page.text)[:300])
        text = shown(page.text)
        assert "截至 2027-03-15 到期：4 个" in text
        listed = [(cells[0], int(cells[-1])) for cells in body_rows(page.text)]
        assert listed == [(d.case_id, d.days_overdue) for d in due], staff_id
        assert 'href="/cases?case_id=C001"' in page.text
    caseworker = As(site, CASEWORKER)
    village = caseworker.get("/reviews", as_of="2027-03-15", region="610102003")
    assert "到期：1 个" in shown(village.text) and "C005" in village.text
    assert "C001" not in village.text
    earlier = shown(caseworker.get("/reviews", as_of="2026-06-30").text)
    assert "没有到期的个案" in earlier
    assert caseworker.get("/reviews", region="61x").status_code == 422
    assert caseworker.get("/reviews", as_of="2027-02-30").status_code == 422
    for staff_id in (FINANCE, FINANCE_APPROVER, ADMIN):
        refused = As(site, staff_id).get("/reviews", as_of="2027-03-15")
        assert refused.status_code == 403, staff_id
        assert "may not list the cases due for review" in shown(refused.text)
        assert "C001" not in refused.text


# -- movements ----------------------------------------------------------------------------------


def test_movements_show_and_download_what_report_movements_says(site: Site, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    with_cases(site, tmp_path)
    with site.services() as svc:
        expected = svc.service(Caseload).movements(
            Period.parse("2026-12"), ["program"], as_known_now=True
        )
    by_program = {r["program"]: r for r in expected}
    assert (by_program["disability_living"]["start"], by_program["disability_living"]["end"]) == (
        1,
        0,
    )  # C004 ends 2026-12-31
    query = {"period": "2026-12", "by": "program", "known_now": "1"}
    for staff_id in (CASEWORKER, APPROVER, FINANCE, FINANCE_APPROVER, SUPERVISOR, AUDITOR):
        page = As(site, staff_id).get("/movements", **query)
        assert page.status_code == 200, (staff_id, shown(page.text)[:300])
    finance = As(site, FINANCE)
    page = finance.get("/movements", **query)
    assert [(r[1], [int(n) for n in r[-6:]]) for r in body_rows(page.text)] == [
        (r["program"], [r[f] for f in MOVEMENT_FIELDS[4:]]) for r in expected
    ]
    assert "/movements.csv?period=2026-12" in page.text
    csv = finance.client.get("/movements.csv", params=query)
    assert csv.headers["content-disposition"] == 'attachment; filename="movements-2026-12.csv"'
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(MOVEMENT_FIELDS) and len(lines) == len(expected) + 1
    assert lines[-1].split(",")[1] == "all" and lines[-1].split(",")[-1] == str(expected[-1]["end"])
    xlsx = finance.client.get("/movements.xlsx", params=query)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    table = [r for r in sheet.iter_rows(values_only=True) if r and r[0] == "2026-12"]
    assert [list(r[4:10]) for r in table] == [
        [r[f] for f in MOVEMENT_FIELDS[4:]] for r in expected
    ], "counts as numbers, as the report says"
    # As the ledger knew it when the month began and ended: the same service, the same rows.
    with site.services() as svc:
        then = svc.service(Caseload).movements(Period.parse("2026-12"), ["program", "region"])
    known_then = body_rows(finance.get("/movements", period="2026-12").text)
    assert [[int(n) for n in r[-6:]] for r in known_then] == [
        [r[f] for f in MOVEMENT_FIELDS[4:]] for r in then
    ]
    assert finance.get("/movements", period="2026-13").status_code == 422
    both = [("period", "2026-12"), ("by", "region"), ("by", "village")]
    assert finance.client.get("/movements", params=both).status_code == 422
    refused = As(site, ADMIN).get("/movements", **query)
    assert refused.status_code == 403 and "may not read the caseload movements" in shown(
        refused.text
    )
    assert As(site, ADMIN).client.get("/movements.csv", params=query).status_code == 403


# -- the case timeline's application --------------------------------------------------------------


def test_the_case_timeline_links_the_application_that_led_to_the_case(
    site: Site, tmp_path: Path
) -> None:
    with site.services() as svc:
        from eligibility.applications import Steps

        steps = svc.service(Steps)
        chain = write_file(
            tmp_path,
            "a1.csv",
            f"{STEPS},region_code,name,id_number",
            f"A1,C100,dibao,apply,2026-11-02,S001,,申请,{REGION},刘桂英,{APPLICANT}",
            "A1,C100,dibao,verify,2026-11-03,S001,pass,核对通过,,,",
            "A1,C100,dibao,visit,2026-11-05,S001,pass,入户,,,",
            "A1,C100,dibao,review,2026-11-09,S001,pass,民主评议,,,",
            "A1,C100,dibao,township,2026-11-12,S001,pass,乡镇审核,,,",
            "A1,C100,dibao,notice,2026-11-20,S001,,公示,,,",
        )
        steps.import_file(chain, by=CASEWORKER)
        approve = write_file(
            tmp_path, "a1-ok.csv", STEPS, f"A1,C100,dibao,approve,2026-11-27,{APPROVER},,同意"
        )
        steps.import_file(approve, by=APPROVER)
        load(svc, "cases", FIXTURES / "cases.csv")
        new_case = (
            f"C100,dibao,{REGION},刘桂英,{APPLICANT},2,1200.00,2026-12-01,,"
            f"6228480000000000999,刘桂英,S001,{APPROVER}"
        )
        load(svc, "cases", case_rows(tmp_path, "c100.csv", new_case))
    caseworker = As(site, CASEWORKER)
    page = caseworker.get("/cases", case_id="C100")
    assert page.status_code == 200, shown(page.text)[:300]
    assert 'href="/applications/A1"' in page.text
    assert "由申请 A1 而来：已知 7 个步骤，最后一步 approve（2026-11-27）" in shown(page.text)
    assert caseworker.get("/applications/A1").status_code == 200, "the link leads to its page"
    before = caseworker.get("/cases", case_id="C100", known_at="2000-01-01")
    assert 'href="/applications/A1"' not in before.text and "没有申请记录" in before.text
    without = caseworker.get("/cases", case_id="C001")
    assert "没有申请记录" in without.text and "/applications/" not in without.text
    masked = shown(As(site, FINANCE).get("/cases", case_id="C100").text)
    assert "刘*英" in masked and APPLICANT not in masked and "A1" in masked
