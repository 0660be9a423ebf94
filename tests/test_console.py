"""The console and the JSON API, in-process (SQLite and PostgreSQL): logins, lockouts, TOTP,
temporary passwords, sessions and CSRF, the actor of an act, the runs, the pages' headers; a
burst of logins; and `aidledger login` against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from aidledger.settings import Settings
from aidledger.web import in_process_app
from aidledger.wiring import init_store
from ledger.period import Period
from ledger.sessions import attempts
from tests.builders import (
    ADMIN,
    APPROVER,
    AUDITOR,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER_2,
    SUPERVISOR,
    TOTP_STAFF,
    Site,
    TestClient,
    csrf_of,
    load,
    make_site,
    password_of,
    set_cookie,
)
from tests.conftest import FIXTURES

# -- logging in ------------------------------------------------------------------------------


def test_a_login_answers_a_token_and_sets_a_strict_httponly_session_cookie(site: Site) -> None:
    client = site.client()
    answer = site.login(client, FINANCE)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"token", "expires_at", "must_change_password"}
    assert body["must_change_password"] is False
    cookie = set_cookie(answer, "aidledger_session")
    assert cookie.startswith(f"aidledger_session={body['token']};")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert "secure" not in flags, "plain HTTP, no proxy said otherwise"
    bearer = site.client()
    runs = bearer.get("/api/v1/runs", headers={"Authorization": f"Bearer {body['token']}"})
    assert runs.status_code == 200 and runs.json() == []


def test_the_session_cookie_is_secure_over_tls_or_behind_a_trusted_proxy(
    site: Site, settings: Settings
) -> None:
    over_tls = site.login(site.client("https://testserver"), FINANCE)
    assert "secure" in set_cookie(over_tls, "aidledger_session").lower()
    untrusted = site.client().post(
        "/api/v1/login",
        json={"staff_id": FINANCE, "password": password_of(FINANCE)},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert untrusted.status_code == 200
    assert "secure" not in set_cookie(untrusted, "aidledger_session").lower()
    trusting, svc = make_site(settings, trust_forwarded_proto=True)
    svc.close()
    try:
        trusted = trusting.client().post(
            "/api/v1/login",
            json={"staff_id": FINANCE, "password": password_of(FINANCE)},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert "secure" in set_cookie(trusted, "aidledger_session").lower()
    finally:
        trusting.pool.close()


def test_a_wrong_password_is_401_and_the_fifth_failure_locks_even_the_right_password_out(
    site: Site,
) -> None:
    client = site.client()
    for _ in range(4):
        wrong = site.login(client, FINANCE, password="not-the-password-1")
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "wrong staff id or password"
    fifth = site.login(client, FINANCE, password="not-the-password-1")
    assert fifth.status_code == 423 and "locked" in fifth.json()["error"]
    right = site.login(client, FINANCE)
    assert right.status_code == 423, "locked: the right password waits too"
    assert site.login(client, AUDITOR).status_code == 200, "others are not locked"


def test_a_locked_account_opens_again_after_fifteen_minutes(site: Site) -> None:
    client = site.client()
    for _ in range(5):
        site.login(client, FINANCE, password="not-the-password-1")
    site.clock.advance(minutes=14, seconds=59)
    assert site.login(client, FINANCE).status_code == 423
    site.clock.advance(seconds=1)
    assert site.login(client, FINANCE).status_code == 200
    # The count starts again: four failures do not lock.
    for _ in range(4):
        assert site.login(client, FINANCE, password="not-the-password-1").status_code == 401
    assert site.login(client, FINANCE).status_code == 200


@pytest.mark.parametrize("staff_id", TOTP_STAFF)
def test_totp_is_required_for_finance_approver_supervisor_and_admin(
    site: Site, staff_id: str
) -> None:
    client = site.client()
    missing = client.post(
        "/api/v1/login", json={"staff_id": staff_id, "password": password_of(staff_id)}
    )
    assert missing.status_code == 401 and "TOTP" in missing.json()["error"]
    wrong = site.login(client, staff_id, totp="000000")
    assert wrong.status_code == 401 and "TOTP" in wrong.json()["error"]
    assert site.login(client, staff_id).status_code == 200
    again = site.login(client, staff_id)  # the same code a second time
    assert again.status_code == 401 and "already used" in again.json()["error"]
    site.clock.advance(seconds=30)
    assert site.login(client, staff_id).status_code == 200


def test_a_role_that_needs_totp_without_one_enrolled_is_refused_not_let_in(site: Site) -> None:
    answer = site.login(site.client(), FINANCE_APPROVER_2)  # S008: no TOTP enrolled
    assert answer.status_code == 403
    assert "none is enrolled" in answer.json()["error"]
    assert "aidledger staff totp S008" in answer.json()["error"]
    assert "aidledger_session" not in answer.headers.get("set-cookie", "")


def test_a_temporary_password_must_be_changed_before_anything_else(site: Site) -> None:
    with site.services() as svc:
        svc.logins.set_password(CASEWORKER, "temporary-pass-1", temporary=True, by=ADMIN)
    client = site.client()
    answer = site.login(client, CASEWORKER, password="temporary-pass-1")
    assert answer.status_code == 200 and answer.json()["must_change_password"] is True
    refused = client.get("/api/v1/runs")
    assert refused.status_code == 403 and "change it first" in refused.json()["error"]
    page = client.get("/")
    assert (page.status_code, page.headers["location"]) == (303, "/password")
    headers = {"X-CSRF-Token": csrf_of(client)}
    wrong = client.post(
        "/api/v1/password",
        json={"old_password": "not-it-at-all", "new_password": "my-own-secret-1"},
        headers=headers,
    )
    assert wrong.status_code == 403
    weak = client.post(
        "/api/v1/password",
        json={"old_password": "temporary-pass-1", "new_password": "short"},
        headers=headers,
    )
    assert weak.status_code == 422 and "at least 10" in weak.json()["error"]
    changed = client.post(
        "/api/v1/password",
        json={"old_password": "temporary-pass-1", "new_password": "my-own-secret-1"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert client.get("/api/v1/runs").status_code == 200, "this session may do all now"
    other = site.client()
    assert site.login(other, CASEWORKER, password="temporary-pass-1").status_code == 401
    again = site.login(other, CASEWORKER, password="my-own-secret-1")
    assert again.json()["must_change_password"] is False


# -- sessions, CSRF and the actor -----------------------------------------------------------


def test_a_request_without_a_valid_login_is_401(site: Site) -> None:
    client = site.client()
    for answer in (
        client.get("/api/v1/runs"),
        client.get("/api/v1/runs/R202612-all-1"),
        client.post("/api/v1/logout"),
        client.post("/api/v1/password", json={"old_password": "a", "new_password": "b"}),
        client.get("/api/v1/runs", headers={"Authorization": "Bearer not-a-token"}),
        client.get("/api/v1/runs", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
    ):
        assert answer.status_code == 401, answer.text
    forged = site.client()
    forged.cookies.set("aidledger_session", "forged")
    assert forged.get("/api/v1/runs").status_code == 401
    assert client.get("/").headers["location"] == "/login"


def test_a_session_ends_at_logout_and_at_its_expiry(site: Site) -> None:
    first = site.logged_in(FINANCE)
    second = site.client()
    token = site.login(second, FINANCE).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert first.post("/api/v1/logout", headers={"X-CSRF-Token": csrf_of(first)}).json() == {
        "logged_out": True
    }
    assert first.get("/api/v1/runs").status_code == 401
    assert second.get("/api/v1/runs", headers=bearer).status_code == 200, "another session"
    site.clock.advance(minutes=site.settings.session_minutes)
    assert second.get("/api/v1/runs", headers=bearer).status_code == 401


def test_a_session_is_its_owners_only(site: Site) -> None:
    """Another user's session token acts as that user, and its CSRF token as no one else's."""
    finance, auditor = site.logged_in(FINANCE), site.logged_in(AUDITOR)
    page = finance.get("/")
    assert "S003" in page.text and "郑海燕" in page.text and "S004" not in page.text
    crossed = auditor.post("/api/v1/logout", headers={"X-CSRF-Token": csrf_of(finance)})
    assert crossed.status_code == 403
    assert auditor.get("/api/v1/runs").status_code == 200, "the auditor's session goes on"
    assert finance.post("/api/v1/logout", headers={"X-CSRF-Token": csrf_of(finance)}).is_success
    assert auditor.get("/api/v1/runs").status_code == 200, "one's logout ends no other's"


def test_a_post_with_the_session_cookie_needs_its_csrf_token(site: Site) -> None:
    client = site.logged_in(FINANCE)
    body = {"old_password": password_of(FINANCE), "new_password": "finance-new-secret-1"}
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}):
        refused = client.post("/api/v1/password", json=body, headers=headers)
        assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    form = client.post("/logout", data={})  # the console's form without its csrf_token
    assert form.status_code == 403
    assert client.get("/api/v1/runs").status_code == 200, "nothing was done"
    ok = client.post("/api/v1/password", json=body, headers={"X-CSRF-Token": csrf_of(client)})
    assert ok.status_code == 200
    # A bearer token needs none: a browser never sends one by itself.
    token = site.login(site.client(), AUDITOR).json()["token"]
    bare = site.client()
    out = bare.post("/api/v1/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 200


def test_a_body_naming_another_actor_is_refused(site: Site) -> None:
    client = site.logged_in(FINANCE)
    headers = {"X-CSRF-Token": csrf_of(client)}
    body = {"old_password": password_of(FINANCE), "new_password": "finance-new-secret-1"}
    refused = client.post("/api/v1/password", json={**body, "by": AUDITOR}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("S003 may not act as S004")
    own = client.post("/api/v1/password", json={**body, "by": FINANCE}, headers=headers)
    assert own.status_code == 200


def test_bad_input_is_422_and_never_echoes_a_password(site: Site) -> None:
    client = site.client()
    for answer in (
        client.post(
            "/api/v1/login", content=b"staff_id=S003", headers={"Content-Type": "text/plain"}
        ),
        client.post(
            "/api/v1/login", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        client.post("/api/v1/login", json=["S003"]),
        client.post("/api/v1/login", json={"staff_id": "S003"}),
        client.post("/api/v1/login", json={"staff_id": "S003", "password": 12345678901}),
        client.post("/api/v1/login", json={"staff_id": "S003", "password": "x" * 5000}),
    ):
        assert answer.status_code == 422, answer.text
        assert "12345678901" not in answer.text and "xxxx" not in answer.text
    assert site.logged_in(FINANCE).get("/api/v1/runs?period=2026-13").status_code == 422


# -- the runs ----------------------------------------------------------------------------------


def test_the_runs_answer_as_payout_list_and_payout_show(site: Site) -> None:
    with site.services() as svc:
        load(svc, "cases", FIXTURES / "cases.csv")
        run = svc.payouts.prepare(Period.parse("2026-12"), program=None, by=FINANCE)
        listed, shown = svc.payouts.review.list_runs(), svc.payouts.review.show(run.run_id)
    client = site.logged_in(AUDITOR)
    assert client.get("/api/v1/runs").json() == listed != []
    assert client.get("/api/v1/runs?period=2026-12").json() == listed
    assert client.get("/api/v1/runs?period=2026-11").json() == []
    assert client.get(f"/api/v1/runs/{run.run_id}").json() == shown
    missing = client.get("/api/v1/runs/R202612-all-9")
    assert missing.status_code == 404 and "R202612-all-9" in missing.json()["error"]


def test_the_store_away_is_503_and_nothing_is_created(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "aidledger.db"
    app, pool = in_process_app(settings.model_copy(update={"database_url": str(path)}))
    try:
        answer = TestClient(app).post(
            "/api/v1/login", json={"staff_id": FINANCE, "password": password_of(FINANCE)}
        )
        assert answer.status_code == 503
        assert answer.json() == {"error": "the store is unavailable: try again shortly"}
        assert not path.parent.exists(), "only aidledger init creates a store"
    finally:
        pool.close()


def test_the_pool_lends_services_again_until_the_day_or_the_config_changes(site: Site) -> None:
    from datetime import timedelta

    from ledger.programs import shipped_config_path

    with site.pool.borrow() as first:
        pass
    with site.pool.borrow() as again:
        assert again is first, "lent again, not opened anew"
    with site.services() as svc:
        today = svc.today
        svc.configs.apply(shipped_config_path(), effective_from=today, by=ADMIN)
    with site.pool.borrow() as after_config:
        assert after_config is not first, "acts with the config in force now"
    site.settings.today = today + timedelta(days=1)
    with site.pool.borrow() as tomorrow:
        assert tomorrow is not after_config and tomorrow.today == today + timedelta(days=1)


# -- the console's pages ---------------------------------------------------------------------


def test_the_login_page_is_chinese_with_named_fields_a_csrf_token_and_no_script(
    site: Site,
) -> None:
    client = site.client()
    page = client.get("/login")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    assert "登录" in page.text and "<script" not in page.text
    for field in ("staff_id", "password", "totp", "csrf_token"):
        assert f'name="{field}"' in page.text
    token = client.cookies["aidledger_login_csrf"]
    assert f'name="csrf_token" value="{token}"' in page.text
    assert "httponly" in set_cookie(page, "aidledger_login_csrf").lower()


def test_logging_in_and_out_through_the_console(site: Site) -> None:
    client = site.client()
    client.get("/login")
    form = {"staff_id": FINANCE, "password": password_of(FINANCE), "totp": ""}
    refused = client.post("/login", data=form)  # without the form's CSRF token
    assert refused.status_code == 403 and "aidledger_session" not in client.cookies
    form["csrf_token"] = client.cookies["aidledger_login_csrf"]
    wrong = client.post("/login", data={**form, "password": "not-the-password-1"})
    assert wrong.status_code == 401 and "wrong staff id or password" in wrong.text
    done = client.post("/login", data=form)
    assert (done.status_code, done.headers["location"]) == (303, "/")
    home = client.get("/")
    assert home.status_code == 200 and "郑海燕（S003）" in home.text and "财务" in home.text
    for link in ("/runs", "/findings", "/cases", "/recoveries", "/reports", "/notice",
                 "/health"):  # fmt: skip
        assert f'href="{link}"' in home.text
    for link in ("/staff", "/access-log"):  # an admin's, an auditor's
        assert f'href="{link}"' not in home.text
    assert client.get("/findings").status_code == 200
    assert client.get("/login").headers["location"] == "/"
    out = client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert client.get("/").headers["location"] == "/login"


def test_a_temporary_password_leads_the_console_to_the_password_page(site: Site) -> None:
    with site.services() as svc:
        svc.logins.set_password(APPROVER, "temporary-pass-2", temporary=True, by=ADMIN)
    client = site.client()
    client.get("/login")
    token = client.cookies["aidledger_login_csrf"]
    form = {"staff_id": APPROVER, "password": "temporary-pass-2", "csrf_token": token}
    assert client.post("/login", data=form).headers["location"] == "/password"
    assert client.get("/runs").headers["location"] == "/password"
    page = client.get("/password")
    assert "临时密码" in page.text
    change = {
        "old_password": "temporary-pass-2",
        "new_password": "approver-secret-9",
        "new_password_again": "approver-secret-8",
        "csrf_token": csrf_of(client),
    }
    assert client.post("/password", data=change).status_code == 422
    change["new_password_again"] = "approver-secret-9"
    assert client.post("/password", data=change).headers["location"] == "/"
    assert client.get("/").status_code == 200


def test_pages_and_answers_carry_the_security_headers(site: Site) -> None:
    client = site.logged_in(SUPERVISOR)
    for answer in (client.get("/"), client.get("/login"), client.get("/api/v1/runs")):
        policy = answer.headers["content-security-policy"]
        assert "script-src" not in policy and "unsafe-inline" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"


def _server_timing(answer: httpx.Response) -> dict[str, float]:
    import re

    return {
        k: float(v) for k, v in re.findall(r"(\w+);dur=([\d.]+)", answer.headers["server-timing"])
    }


def test_each_answer_times_the_server_and_its_wait_for_a_store_connection(site: Site) -> None:
    import threading

    client = site.logged_in(SUPERVISOR)
    quiet = _server_timing(client.get("/api/v1/runs"))
    assert quiet["pool"] < 50 and quiet["app"] >= quiet["pool"]
    # Every store connection lent to others for 0.3 s: the answer waited that long for one.
    held = [site.pool.borrow() for _ in range(4)]
    for lent in held:
        lent.__enter__()
    give_back = threading.Timer(0.3, lambda: [lent.__exit__(None, None, None) for lent in held])
    give_back.start()
    try:
        waited = client.get("/api/v1/runs")
    finally:
        give_back.join()
    assert waited.status_code == 200
    timing = _server_timing(waited)
    assert timing["pool"] >= 250, timing
    assert timing["app"] >= timing["pool"]


def test_the_pages_escape_what_they_show(site: Site) -> None:
    client = site.client()
    client.get("/login")
    form = {
        "staff_id": "<script>alert(1)</script>",
        "password": "whatever-it-is",
        "csrf_token": client.cookies["aidledger_login_csrf"],
    }
    page = client.post("/login", data=form)
    assert page.status_code == 401
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


# -- a burst ------------------------------------------------------------------------------------


def test_a_burst_of_logins_locks_one_account_while_another_staff_member_is_served(
    site: Site,
) -> None:
    """200 guesses at once against one account: five are judged, the fifth locks it, the rest
    are refused unjudged (423); meanwhile another staff member logs in and reads the runs."""

    async def burst() -> tuple[list[int], list[int]]:
        transport = httpx.ASGITransport(app=site.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            token = (
                await c.post(
                    "/api/v1/login",
                    json={"staff_id": AUDITOR, "password": password_of(AUDITOR)},
                )
            ).json()["token"]
            auditor = {"Authorization": f"Bearer {token}"}

            async def guess(i: int) -> int:
                answer = await c.post(
                    "/api/v1/login", json={"staff_id": FINANCE, "password": f"guess-{i:04d}"}
                )
                return answer.status_code

            async def other(i: int) -> int:
                if i % 2:
                    answer = await c.get("/api/v1/runs", headers=auditor)
                else:
                    answer = await c.post(
                        "/api/v1/login",
                        json={"staff_id": CASEWORKER, "password": password_of(CASEWORKER)},
                    )
                return answer.status_code

            guesses = asyncio.gather(*(guess(i) for i in range(200)))
            others = asyncio.gather(*(other(i) for i in range(20)))
            return await guesses, await others

    guessed, served = asyncio.run(burst())
    assert served == [200] * 20, "the other staff member was served all along"
    assert (guessed.count(401), guessed.count(423)) == (4, 196)
    with site.services() as svc:
        outcomes = [outcome for _, outcome in attempts(svc.db, FINANCE)]
    assert (outcomes.count("bad_password"), outcomes.count("locked")) == (5, 195)
    assert site.login(site.client(), FINANCE).status_code == 423, "the right password too"


# -- `aidledger login` against a real server ---------------------------------------------------


def test_aidledger_login_keeps_a_personal_token_readable_by_its_owner_only(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aidledger.cli import app as cli
    from aidledger.serve import Server

    made, svc = make_site(settings)
    svc.close()
    made.pool.close()
    server = Server(made.settings, port=0).start()
    url = f"http://127.0.0.1:{server.port}"
    token_file = tmp_path / "config" / "aidledger" / "token"
    runner = CliRunner()
    try:
        previous = os.umask(0o022)  # a usual umask: files would be 0644
        try:
            result = runner.invoke(
                cli,
                ["login", "--server", url, "--staff-id", FINANCE, "--password-stdin",
                 "--token-file", str(token_file)],
                input=password_of(FINANCE) + "\n",
                catch_exceptions=False,
            )  # fmt: skip
        finally:
            os.umask(previous)
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        saved = json.loads(token_file.read_text())
        assert (saved["server"], saved["staff_id"]) == (url, FINANCE)
        bearer = {"Authorization": f"Bearer {saved['token']}"}
        assert httpx.get(f"{url}/api/v1/runs", headers=bearer).status_code == 200
        assert password_of(FINANCE) not in token_file.read_text()

        wrong = runner.invoke(
            cli,
            ["login", "--server", url, "--staff-id", FINANCE, "--password-stdin",
             "--token-file", str(tmp_path / "other")],
            input="not-the-password-1\n",
        )  # fmt: skip
        assert wrong.exit_code == 1 and "wrong staff id or password" in wrong.output
        assert not (tmp_path / "other").exists()

        # Interactively, a temporary password is changed on the spot.
        with made.services() as svc:
            svc.logins.set_password(CASEWORKER, "temporary-pass-3", temporary=True, by=ADMIN)
        typed = iter(["temporary-pass-3", "caseworker-own-secret", "caseworker-own-secret"])
        monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
        fresh = runner.invoke(
            cli,
            ["login", "--server", url, "--staff-id", CASEWORKER,
             "--token-file", str(tmp_path / "caseworker")],
            input="\n",  # no TOTP code
            catch_exceptions=False,
        )  # fmt: skip
        assert fresh.exit_code == 0, fresh.output
        assert "temporary" in fresh.output
        caseworker = json.loads((tmp_path / "caseworker").read_text())["token"]
        runs = httpx.get(f"{url}/api/v1/runs", headers={"Authorization": f"Bearer {caseworker}"})
        assert runs.status_code == 200, "the password was changed: the session may do all"

        out = runner.invoke(cli, ["logout", "--token-file", str(token_file)])
        assert out.exit_code == 0, out.output
        assert not token_file.exists()
        assert httpx.get(f"{url}/api/v1/runs", headers=bearer).status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        server.stop()


def test_uvicorn_serves_the_console_and_the_api_beside_metrics(settings: Settings) -> None:
    from aidledger.serve import Server

    init_store(settings).close()
    server = Server(settings, port=0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/login").status_code == 200
        assert httpx.get(f"{base}/api/v1/runs").status_code == 401
        assert "aidledger_store_up" in httpx.get(f"{base}/metrics").text
    finally:
        server.stop()


def test_a_port_in_use_is_refused_at_once(settings: Settings) -> None:
    import socket

    from aidledger.serve import Server

    init_store(settings).close()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            Server(settings, port=port).start()


def test_the_pages_answer_503_while_the_store_is_away(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "aidledger.db"
    app, pool = in_process_app(settings.model_copy(update={"database_url": str(path)}))
    try:
        page = TestClient(app).get("/login")
        assert page.status_code == 503 and "the store is unavailable" in page.text
        assert page.headers["content-type"].startswith("text/html")
    finally:
        pool.close()


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl to make a certificate")
def test_over_https_the_session_cookie_is_secure(settings: Settings, tmp_path: Path) -> None:
    """uvicorn serving TLS itself (AIDLEDGER_TLS_CERTFILE and _KEYFILE)."""
    import subprocess

    from aidledger.serve import Server

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    made, svc = make_site(settings, tls_certfile=str(cert), tls_keyfile=str(key))
    svc.close()
    made.pool.close()
    server = Server(made.settings, port=0).start()
    try:
        answer = httpx.post(
            f"https://127.0.0.1:{server.port}/api/v1/login",
            json={"staff_id": FINANCE, "password": password_of(FINANCE)},
            verify=False,
        )
        assert answer.status_code == 200
        assert "secure" in set_cookie(answer, "aidledger_session").lower()
        assert "strict-transport-security" in answer.headers
    finally:
        server.stop()
