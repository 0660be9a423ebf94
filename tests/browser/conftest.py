"""The console in a real browser: Debian's Chromium, headless, driven by Selenium through the
system's chromedriver (packages ``chromium`` and ``chromium-driver``; ``.ci/run`` installs
them). With CI=true these tests must run: a missing browser fails them. Elsewhere they are
skipped, saying what to install.

One server (a real one, in a thread) over one SQLite store with the fixture's cases, deaths
and staff, their logins, and June's run prepared by the finance officer, serves every test of
the session; each test logs in afresh in its own browser session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aidledger.settings import Settings
from ledger.period import Period
from tests.builders import (
    ADMIN,
    FINANCE,
    FINANCE_APPROVER_2,
    load,
    make_site,
    password_of,
    totp_code,
    totp_secret,
)
from tests.conftest import FIXTURES, TEST_TODAY

CHROMIUM = os.environ.get("AIDLEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AIDLEDGER_CHROMEDRIVER", "/usr/bin/chromedriver")
#: June's run: C003's beneficiary died in April, so its payment is held (critical).
PERIOD = "2026-06"


def _missing() -> str | None:
    """What is missing to drive a browser, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).exists() or shutil.which(path)):
            return f"{path} (apt-get install {package})"
    return None


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the browser tests must run)")
    pytest.skip(message)


@dataclass
class Console:
    """The server's URL, its store's settings, June's run and held payment, TOTP secrets."""

    url: str
    settings: Settings
    run_id: str
    held: str
    secrets: dict[str, str]
    #: Each staff member's TOTP step last used: a code is accepted once.
    used: dict[str, int]


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    missing = _missing()
    if missing:
        _unavailable(f"no browser to drive: missing {missing}")
    from aidledger.serve import Server

    folder = tmp_path_factory.mktemp("browser")
    settings = Settings(
        database_url=str(folder / "aidledger.db"), batch_events=50, page_size=100, today=TEST_TODAY
    )
    made, svc = make_site(settings)
    try:
        made.secrets[FINANCE_APPROVER_2] = totp_secret(
            svc.logins.enrol_totp(FINANCE_APPROVER_2, by=ADMIN)
        )
        load(svc, "cases", FIXTURES / "cases.csv")
        load(svc, "deaths", FIXTURES / "deaths.csv")
        run = svc.payouts.prepare(Period.parse(PERIOD), program=None, by=FINANCE)
        ((held,),) = svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")
    finally:
        svc.close()
        made.pool.close()
    server = Server(made.settings, port=0).start()
    try:
        yield Console(
            f"http://127.0.0.1:{server.port}",
            made.settings,
            run.run_id or "",
            held,
            made.secrets,
            {},
        )
    finally:
        server.stop()


@pytest.fixture(scope="session")
def driver_factory() -> Iterator[Any]:
    """Starts headless Chromium sessions (each test its own: no cookie carries over); all are
    quit at the end."""
    missing = _missing()
    if missing:
        _unavailable(f"no browser to drive: missing {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    started: list[Any] = []

    def start() -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,900",
            "--lang=zh-CN",
        ):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(20)
        started.append(driver)
        return driver

    yield start
    for driver in started:
        driver.quit()


@pytest.fixture
def browser(driver_factory: Any) -> Any:
    return driver_factory()


def log_in(browser: Any, console: Console, staff_id: str) -> None:
    """Fill the login page as a person would (a fresh TOTP code for those who need one)."""
    from selenium.webdriver.common.by import By

    browser.get(f"{console.url}/login")
    browser.find_element(By.ID, "staff_id").send_keys(staff_id)
    browser.find_element(By.ID, "password").send_keys(password_of(staff_id))
    if staff_id in console.secrets:
        browser.find_element(By.ID, "totp").send_keys(_fresh_code(console, staff_id))
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button"))
    who = browser.find_element(By.CSS_SELECTOR, "header .who").text
    assert staff_id in who, browser.page_source[:2000]


def submit(browser: Any, button: Any) -> None:
    """Click a form's button (or a link) and wait for the page it leads to: a click returns
    before the next page is there. The old page is marked; the new one is not."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_script("window.__left = true")
    button.click()

    def arrived(driver: Any) -> bool:
        try:
            return bool(
                driver.execute_script(
                    "return window.__left === undefined && document.readyState === 'complete'"
                )
            )
        except WebDriverException:  # between two pages
            return False

    WebDriverWait(browser, 15, poll_frequency=0.05).until(arrived)


def _fresh_code(console: Console, staff_id: str) -> str:
    """A TOTP code of a step not used yet by this staff member (waits no more than a step)."""
    import time

    now = datetime.now(UTC)
    step = int(now.timestamp()) // 30
    if console.used.get(staff_id) == step:
        time.sleep(30 - now.timestamp() % 30 + 0.5)
        now = datetime.now(UTC)
        step = int(now.timestamp()) // 30
    console.used[staff_id] = step
    return totp_code(console.secrets[staff_id], now)


def yesterday_in_bureau(settings: Settings) -> str:
    from zoneinfo import ZoneInfo

    return (datetime.now(ZoneInfo(settings.timezone)).date() - timedelta(days=1)).isoformat()


def today_in_bureau(settings: Settings) -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
