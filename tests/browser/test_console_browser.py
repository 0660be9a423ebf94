"""The console as its users see it, in headless Chromium: a finance approver approves a run a
colleague prepared; a supervisor gives a critical hold its second release; an auditor reads a
case's timeline as known at two dates; the 公示 notice prints (print style sheet, the
browser's own print path)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.browser.conftest import (
    Console,
    log_in,
    submit,
    today_in_bureau,
    yesterday_in_bureau,
)
from tests.builders import (
    AUDITOR,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    FINANCE_APPROVER_2,
    SUPERVISOR,
)

pytestmark = pytest.mark.browser


def by_css(browser: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, selector)


def all_css(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def test_a_finance_approver_reviews_and_approves_a_run_prepared_by_a_colleague(
    browser: Any, console: Console
) -> None:
    log_in(browser, console, FINANCE_APPROVER)
    browser.get(f"{console.url}/runs")
    submit(browser, by_css(browser, f"a[href='/runs/{console.run_id}']"))
    assert f"编制：{FINANCE}" in by_css(browser, "main").text, "prepared by a colleague"
    assert console.held in by_css(browser, "main").text, "the held payment is shown"
    submit(browser, by_css(browser, f"form[action='/runs/{console.run_id}/approve'] button"))
    main = by_css(browser, "main").text
    assert f"批准：{FINANCE_APPROVER}" in main, main[:1500]
    assert f"{console.run_id} 已批准" in by_css(browser, "[role=status]").text


def test_a_supervisor_releases_a_critical_hold_after_a_first_release(
    driver_factory: Any, console: Console
) -> None:
    reason = "公安核实：人仍在世"
    first = driver_factory()
    log_in(first, console, FINANCE_APPROVER_2)
    first.get(f"{console.url}/runs/{console.run_id}")
    form = f"form[action='/payments/{console.held}/release']"
    by_css(first, f"{form} input[name='reason']").send_keys(reason)
    submit(first, by_css(first, f"{form} button"))
    said = by_css(first, "main").text
    assert f"已记录对 {console.held} 的第一次放行" in said, said[:1500]
    assert all_css(first, form), "still held: a supervisor must release it a second time"

    second = driver_factory()
    log_in(second, console, SUPERVISOR)
    second.get(f"{console.url}/runs/{console.run_id}")
    by_css(second, f"{form} input[name='reason']").send_keys("复核无误")
    submit(second, by_css(second, f"{form} button"))
    assert f"{console.held} 已放行" in by_css(second, "[role=status]").text
    assert not all_css(second, form), "released: no longer held"
    assert console.held not in by_css(second, "main").text.split("暂停的支付")[-1]


def test_an_auditor_opens_a_case_timeline_at_two_known_at_dates(
    browser: Any, console: Console
) -> None:
    log_in(browser, console, AUDITOR)

    def timeline(known_at: str) -> str:
        browser.get(f"{console.url}/cases")
        by_css(browser, "input[name='case_id']").send_keys("C001")
        by_css(browser, "input[name='reason']").send_keys("年度审计抽查")
        browser.execute_script(
            "document.querySelector(\"input[name='known_at']\").value = arguments[0]", known_at
        )
        submit(browser, by_css(browser, "form[action='/cases'] button"))
        return str(by_css(browser, "main").text)

    before = timeline(yesterday_in_bureau(console.settings))
    now = timeline(today_in_bureau(console.settings))
    assert f"截至 {yesterday_in_bureau(console.settings)} 所知" in before
    assert "当日不在保" in before, "nothing was known of C001 before it was imported"
    assert "CaseOpened" in now or "Decision" in now or "dibao" in now, now[:1500]
    assert "当日不在保" not in now
    assert "610102195001010011" in now, "an auditor with a reason sees the case in clear"


def test_the_notice_prints_only_its_sheet(browser: Any, console: Console) -> None:
    log_in(browser, console, CASEWORKER)
    browser.get(f"{console.url}/notice?period=2026-06&region=610102")
    sheet = by_css(browser, "article.notice-sheet")
    assert sheet.is_displayed() and by_css(browser, "header").is_displayed()
    title = by_css(browser, "h1.notice-title").text
    assert title

    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not by_css(browser, "header").is_displayed(), "the page header is not printed"
        assert not by_css(browser, "div.no-print").is_displayed(), "nor the form and hints"
        assert sheet.is_displayed() and by_css(browser, "h1.notice-title").text == title
        border = browser.execute_script(
            "return getComputedStyle(document.querySelector('.notice-sheet td')).borderTopStyle"
        )
        assert border == "solid"
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    assert browser.execute_script("return typeof window.print") == "function"
    from selenium.webdriver.common.print_page_options import PrintOptions

    options = PrintOptions()
    options.page_height, options.page_width = 29.7, 21.0  # A4, as the style sheet asks
    pdf = base64.b64decode(browser.print_page(options))
    assert pdf.startswith(b"%PDF-"), "printed through the browser's print path"
    assert b"/Type /Page" in pdf or b"/Type/Page" in pdf
