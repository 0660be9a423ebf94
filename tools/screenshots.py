"""Screenshots of the console's main pages, on the demo's store, for the documentation.

    .venv/bin/python tools/screenshots.py [--out docs/console]

Builds the demo's store (`aidledger demo`, kept in a temporary folder), serves it on a free
port of 127.0.0.1, logs in as the staff member each page is for in headless Chromium (Debian's
``chromium`` and ``chromium-driver``), and writes one PNG per page. Names in the pictures are
the demo's generated ones, masked as the role sees them.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

#: (file, staff member, path, what it shows). The path's {run}, {case} and {finding} are the
#: demo's December run, a case of it and one of its findings.
PAGES = (
    ("login.png", None, "/login", "the login page"),
    ("home.png", "finance_approver", "/", "a finance approver's home"),
    ("runs.png", "finance_approver", "/runs", "the payout runs"),
    ("run.png", "finance_approver", "/runs/{run}", "a run before approval, with its holds"),
    ("findings.png", "supervisor", "/findings?period=2026-12", "the findings queue"),
    ("finding.png", "supervisor", "/findings/{finding}", "one finding and its workflow"),
    (
        "case.png",
        "finance",
        "/cases?case_id={case}&reason=checking+a+held+payment",
        "a case's timeline as finance sees it (the case's personal data masked)",
    ),
    ("applications.png", "caseworker", "/applications", "the applications"),
    ("reviews.png", "caseworker", "/reviews", "the cases due for review"),
    ("complaints.png", "caseworker", "/complaints", "the complaints queue and intake form"),
    ("notice.png", "caseworker", "/notice?period=2026-12&region=610102", "the 公示 notice"),
    ("reports.png", "finance", "/reports?period=2026-12", "the payout report"),
    ("movements.png", "finance", "/movements?period=2026-11&known_now=1", "the caseload movements"),
    ("access-log.png", "auditor", "/access-log", "the access log"),
)
WIDTH, MAX_HEIGHT = 1280, 2000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aidledger-shots-") as folder:
        store = Path(folder) / "demo.db"
        settings, staff, secrets, ids = _demo_store(store)
        from aidledger.serve import Server

        server = Server(settings, port=0).start()
        try:
            url = f"http://127.0.0.1:{server.port}"
            drivers: dict[str | None, Any] = {}  # one browser per role: a TOTP code works once
            try:
                for name, role, path, what in PAGES:
                    if role not in drivers:
                        drivers[role] = _driver(args.chromium, args.chromedriver)
                        if role is not None:
                            _log_in(drivers[role], url, staff[role], secrets.get(staff[role]))
                    drivers[role].get(url + path.format(**ids))
                    _shoot(drivers[role], args.out / name)
                    print(f"{args.out / name}: {what}")
            finally:
                for driver in drivers.values():
                    driver.quit()
        finally:
            server.stop()
    return 0


def _demo_store(store: Path) -> tuple[Any, dict[str, str], dict[str, str], dict[str, str]]:
    """The demo's store, its staff by role, their TOTP secrets, and ids to show."""
    from aidledger.demo import DEMO_LOGINS, TODAY, run_demo
    from aidledger.settings import Settings
    from aidledger.wiring import open_services

    run_demo(Console(file=io.StringIO()), keep=store)
    settings = Settings(database_url=str(store), today=TODAY)
    svc = open_services(settings)
    try:
        staff = {role.replace(" ", "_"): staff_id for staff_id, role in reversed(DEMO_LOGINS)}
        secrets: dict[str, str] = {}
        from ledger.logins import totp_required

        directory = svc.logins.directory()
        admin = staff["admin"]
        for staff_id in staff.values():
            if totp_required(directory.actor(staff_id, svc.today).roles):
                uri = svc.logins.enrol_totp(staff_id, by=admin)
                secrets[staff_id] = parse_qs(urlsplit(uri).query)["secret"][0]
        svc.sync()
        ((run,),) = svc.db.query(
            "SELECT run_id FROM runs WHERE period = '2026-12' ORDER BY run_id DESC LIMIT 1"
        )
        ((finding, case),) = svc.db.query(
            "SELECT finding_id, case_id FROM findings WHERE period = '2026-12' "
            "AND case_id IS NOT NULL ORDER BY severity, finding_id LIMIT 1"
        )
    finally:
        svc.close()
    return settings, staff, secrets, {"run": run, "finding": finding, "case": case}


def _driver(chromium: str, chromedriver: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={WIDTH},900",
        "--lang=zh-CN",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


def _log_in(driver: Any, url: str, staff_id: str, secret: str | None) -> None:
    import pyotp
    from selenium.webdriver.common.by import By

    from aidledger.demo import DEMO_PASSWORD

    driver.get(f"{url}/login")
    driver.find_element(By.ID, "staff_id").send_keys(staff_id)
    driver.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
    if secret is not None:
        driver.find_element(By.ID, "totp").send_keys(pyotp.TOTP(secret).at(datetime.now(UTC)))
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "header .who")
            or d.find_elements(By.CSS_SELECTOR, ".error")
        )
    )
    if not driver.find_elements(By.CSS_SELECTOR, "header .who"):
        raise SystemExit(f"could not log in as {staff_id}: {driver.page_source[:500]}")


def _shoot(driver: Any, path: Path) -> None:
    """The page as tall as it is (at most `MAX_HEIGHT`), as a PNG."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(WIDTH, min(max(height, 600), MAX_HEIGHT))
    path.write_bytes(driver.get_screenshot_as_png())


if __name__ == "__main__":
    raise SystemExit(main())
